//! One round of the elector: look at every lease and member, renew what is held, take what
//! expired (up to this replica's share), hand back what is over it, lose what could not be
//! renewed in time.

use super::*;

impl Elector {
    /// A store's answer, or `None` after a failure that the next round retries (logged);
    /// a configuration error (no table, no permission) ends the election.
    fn or_retry<T>(
        &self,
        answer: Result<T, LeaseError>,
        doing: &str,
    ) -> Result<Option<T>, LeaseError> {
        match answer {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_configuration() => Err(e),
            Err(e) => {
                warn!(lease = %self.name, error = %e, "{doing} failed; retrying");
                Ok(None)
            }
        }
    }

    /// One round: renew what is held, then (with shards) count the replicas, hand back what
    /// is over the fair share, and take free or expired leases up to it.
    ///
    /// # Errors
    /// A store error of the configuration (missing table, access denied).
    pub async fn round(&self) -> Result<(), LeaseError> {
        let started = Instant::now();
        let held: Vec<(usize, u64)> = self
            .lock()
            .leases
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.held.map(|(v, _)| (i, v)))
            .collect();
        for (i, version) in held {
            self.renew(i, version, started).await?;
        }
        if self.shards == 1 {
            if self.lock().leases[0].held.is_none() {
                let answer = self.store.read(&self.name).await;
                let Some(current) = self.or_retry(answer, "reading the lease")? else {
                    return Ok(());
                };
                if self.try_take(0, current, started).await? {
                    self.acquired.send_modify(|n| *n += 1);
                }
            }
            return Ok(());
        }
        self.heartbeat().await?;
        let answer = self.store.list(&self.name).await;
        let Some(items) = self.or_retry(answer, "listing the leases")? else {
            return Ok(());
        };
        let (share, current) = self.look(items);
        self.hand_back(share).await?;
        let mut took = false;
        for (i, record) in current.into_iter().enumerate() {
            if self.count_held() >= share || self.lock().conflict.is_some() {
                break;
            }
            if self.lock().leases[i].held.is_some() {
                continue;
            }
            took |= self.try_take(i, record, started).await?;
        }
        if took {
            self.acquired.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    pub(crate) fn count_held(&self) -> usize {
        self.lock()
            .leases
            .iter()
            .filter(|l| l.held.is_some() && !l.releasing)
            .count()
    }

    /// This replica's membership item: created once, advanced every round.
    pub(crate) async fn heartbeat(&self) -> Result<(), LeaseError> {
        let item = self.member_item();
        let version = self.lock().member_version;
        let written = match version {
            None => self
                .store
                .create(&item, &self.holder)
                .await
                .map(|ok| ok.then_some(1)),
            Some(v) => self
                .store
                .advance(&item, &self.holder, v)
                .await
                .map(|ok| ok.then_some(v + 1)),
        };
        match written {
            Ok(Some(v)) => self.lock().member_version = Some(v),
            // Changed under us (it never should be): read it again next round.
            Ok(None) => {
                let current = self.store.read(&item).await;
                self.lock().member_version = current.ok().flatten().map(|r| r.version);
            }
            Err(e) if e.is_configuration() => return Err(e),
            Err(e) => warn!(lease = %item, error = %e, "the replica's heartbeat failed; retrying"),
        }
        Ok(())
    }

    /// Reads the listed items: the replicas alive (this one included), the fair share, leases
    /// of another shard count, and each shard's item.
    pub(crate) fn look(&self, items: Vec<(String, Record)>) -> (usize, Vec<Option<Record>>) {
        let mut shards: Vec<Option<Record>> = vec![None; self.shards as usize];
        let members_prefix = format!("{}/replica/", self.name);
        let shard_prefix = format!("{}/shard/", self.name);
        let ours = format!("-of-{}", self.shards);
        let now = Instant::now();
        let duration = self.timing.duration;
        let mut state = self.lock();
        // Each record with the time it was first seen as it is now.
        let since = |seen: &std::collections::HashMap<String, (Record, Instant)>,
                     key: &str,
                     record: &Record| match seen.get(key) {
            Some((old, since)) if old == record => *since,
            _ => now,
        };
        let mut members = std::collections::HashMap::new();
        let mut foreign = std::collections::HashMap::new();
        for (key, record) in items {
            if let Some(member) = key.strip_prefix(&members_prefix) {
                if member != self.holder && !record.holder.is_empty() {
                    let first = since(&state.members, member, &record);
                    members.insert(member.to_owned(), (record, first));
                }
            } else if let Some(index) = key
                .strip_prefix(&shard_prefix)
                .and_then(|rest| rest.strip_suffix(&ours))
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|i| *i < shards.len())
            {
                shards[index] = Some(record);
            } else if (key == self.name || key.starts_with(&shard_prefix))
                && !record.holder.is_empty()
            {
                // A lease of a replica with another --shards (or none).
                let first = since(&state.foreign, &key, &record);
                foreign.insert(key, (record, first));
            }
        }
        let alive = |(_, since): &(Record, Instant)| now.duration_since(*since) < duration;
        let live = 1 + members.values().filter(|m| alive(m)).count();
        let conflict = foreign
            .iter()
            .find(|(_, f)| alive(f))
            .map(|(key, _)| key.clone());
        if conflict.is_some() && conflict != state.conflict {
            error!(lease = %conflict.as_deref().unwrap_or_default(), shards = self.shards, "a lease of another shard count is held: every replica of one --lease-name needs the same --shards; taking nothing until it expires");
        }
        let share = (self.shards as usize).div_ceil(live);
        if live != state.live {
            info!(lease = %self.name, replicas = live, share, "the number of replicas alive changed");
        }
        // Every other replica's lease is watched from the first look, so one whose holder
        // died expires a lease duration after that, not after this replica wants it.
        for (lease, record) in state.leases.iter_mut().zip(&shards) {
            match (record, &lease.seen) {
                (Some(record), Some((seen, _))) if seen == record => {}
                (Some(record), _) if lease.held.is_none() => {
                    lease.seen = Some((record.clone(), now));
                }
                _ => {}
            }
        }
        state.conflict = conflict;
        state.live = live;
        state.members = members;
        state.foreign = foreign;
        (share, shards)
    }

    /// Over the fair share: close the extra leases to new writes, and release each once its
    /// writes in flight are over and a write timeout has passed since the last (this round or
    /// a later one).
    pub(crate) async fn hand_back(&self, share: usize) -> Result<(), LeaseError> {
        let ready: Vec<(usize, u64)> = {
            let mut state = self.lock();
            let mut keep = 0;
            for lease in &mut state.leases {
                if lease.held.is_some() && !lease.releasing {
                    keep += 1;
                    if keep > share {
                        lease.releasing = true;
                    }
                }
            }
            state
                .leases
                .iter()
                .enumerate()
                // Nothing under it in flight, nor able to reach AWS any more.
                .filter(|(_, l)| l.releasing && l.quiet())
                .filter_map(|(i, l)| l.held.map(|(v, _)| (i, v)))
                .collect()
        };
        for (i, version) in ready {
            let item = self.item(i);
            let released = self.store.advance(&item, "", version).await;
            let mut state = self.lock();
            let lease = &mut state.leases[i];
            lease.held = None;
            lease.releasing = false;
            state.transitions += 1;
            match released {
                Ok(_) => {
                    info!(lease = %item, "handed the lease back to share the shards with a replica that joined");
                }
                Err(e) if e.is_configuration() => return Err(e),
                Err(e) => {
                    warn!(lease = %item, error = %e, "handing the lease back failed; it expires instead");
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn renew(
        &self,
        i: usize,
        version: u64,
        started: Instant,
    ) -> Result<(), LeaseError> {
        let item = self.item(i);
        match self.store.advance(&item, &self.holder, version).await {
            Ok(true) => {
                self.lock().leases[i].held = Some((version + 1, started));
                Ok(())
            }
            Ok(false) => {
                self.lose(i, "another replica took the lease");
                Ok(())
            }
            Err(e) if e.is_configuration() => Err(e),
            Err(e) => {
                // Still held until the renew deadline; the gate closes by itself then.
                warn!(lease = %item, error = %e, "renewing the lease failed; retrying");
                let expired = self.lock().leases[i]
                    .held
                    .is_some_and(|(_, renewed)| renewed.elapsed() >= self.timing.renew_deadline);
                if expired {
                    self.lose(i, "the renew deadline passed");
                }
                Ok(())
            }
        }
    }

    /// Takes lease `i` if it is missing, free, or expired; whether it was taken.
    pub(crate) async fn try_take(
        &self,
        i: usize,
        current: Option<Record>,
        started: Instant,
    ) -> Result<bool, LeaseError> {
        let item = self.item(i);
        let taken = match current {
            None => self
                .store
                .create(&item, &self.holder)
                .await
                .map(|won| won.then_some(1)),
            Some(record) => {
                let free = record.holder.is_empty() || record.holder == self.holder;
                if !free && !self.expired(i, &record) {
                    return Ok(false);
                }
                self.store
                    .advance(&item, &self.holder, record.version)
                    .await
                    .map(|won| won.then_some(record.version + 1))
            }
        };
        let taken = match taken {
            Ok(taken) => taken,
            Err(e) if e.is_configuration() => return Err(e),
            Err(e) => {
                warn!(lease = %item, error = %e, "taking the lease failed; retrying");
                return Ok(false);
            }
        };
        let Some(version) = taken else {
            return Ok(false);
        };
        {
            let mut state = self.lock();
            let lease = &mut state.leases[i];
            lease.held = Some((version, started));
            lease.seen = None;
            lease.releasing = false;
            state.transitions += 1;
        }
        info!(lease = %item, holder = %self.holder, version, "acquired the lease: this replica writes");
        Ok(true)
    }

    /// Someone else's lease, seen unchanged for a whole lease duration on this clock.
    pub(crate) fn expired(&self, i: usize, record: &Record) -> bool {
        let mut state = self.lock();
        let lease = &mut state.leases[i];
        match &lease.seen {
            Some((seen, since)) if seen == record => since.elapsed() >= self.timing.duration,
            _ => {
                lease.seen = Some((record.clone(), Instant::now()));
                false
            }
        }
    }

    pub(crate) fn lose(&self, i: usize, why: &str) {
        let mut state = self.lock();
        let lease = &mut state.leases[i];
        lease.releasing = false;
        if lease.held.take().is_some() {
            state.transitions += 1;
            drop(state);
            warn!(lease = %self.item(i), holder = %self.holder, why, "lost the lease: this replica stops writing");
        }
    }
}
