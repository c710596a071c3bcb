use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use engine::WriteGate as _;

mod model;

/// The lease items in memory, with a switch that makes every call fail (a lost connection).
#[derive(Default)]
struct Memory {
    records: Mutex<std::collections::BTreeMap<String, Record>>,
    down: AtomicBool,
}

impl Memory {
    fn check(&self) -> Result<(), LeaseError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LeaseError {
                action: "dynamodb:UpdateItem",
                table: "t".into(),
                message: "connection refused".into(),
                kind: LeaseErrorKind::Passing,
            });
        }
        Ok(())
    }

    fn holder(&self) -> Option<String> {
        self.holder_of("l")
    }

    fn holder_of(&self, name: &str) -> Option<String> {
        self.records
            .lock()
            .unwrap()
            .get(name)
            .map(|r| r.holder.clone())
    }
}

#[async_trait::async_trait]
impl LeaseStore for Memory {
    async fn read(&self, name: &str) -> Result<Option<Record>, LeaseError> {
        self.check()?;
        Ok(self.records.lock().unwrap().get(name).cloned())
    }

    async fn create(&self, name: &str, holder: &str) -> Result<bool, LeaseError> {
        self.check()?;
        let mut records = self.records.lock().unwrap();
        if records.contains_key(name) {
            return Ok(false);
        }
        records.insert(
            name.into(),
            Record {
                holder: holder.into(),
                version: 1,
            },
        );
        Ok(true)
    }

    async fn advance(&self, name: &str, holder: &str, version: u64) -> Result<bool, LeaseError> {
        self.check()?;
        let mut records = self.records.lock().unwrap();
        match records.get_mut(name) {
            Some(r) if r.version == version => {
                r.holder = holder.into();
                r.version += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Record)>, LeaseError> {
        self.check()?;
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k == prefix || k.starts_with(&format!("{prefix}/")))
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect())
    }
}

fn timing() -> Timing {
    Timing {
        duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry: Duration::from_secs(2),
        write_timeout: Duration::from_secs(4),
    }
}

fn pair() -> (Arc<Memory>, Elector, Elector) {
    let store = Arc::new(Memory::default());
    let a = Elector::new(store.clone(), "l", "a", timing());
    let b = Elector::new(store.clone(), "l", "b", timing());
    (store, a, b)
}

#[tokio::test(start_paused = true)]
async fn one_holder_the_other_waits() {
    let (store, a, b) = pair();
    a.round().await.unwrap();
    b.round().await.unwrap();
    assert!(a.is_leader());
    assert!(!b.is_leader());
    for _ in 0..20 {
        tokio::time::advance(Duration::from_secs(2)).await;
        a.round().await.unwrap();
        b.round().await.unwrap();
        assert!(a.is_leader() && !b.is_leader());
    }
    assert_eq!(store.holder().as_deref(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn a_paused_holder_stops_writing_before_another_may_take_over() {
    let (store, a, b) = pair();
    a.round().await.unwrap();
    b.round().await.unwrap();
    // a is paused: no renew. Its gate closes at the renew deadline...
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(!a.is_leader(), "closed at the renew deadline");
    // ...while b, which saw the lease unchanged only since its first look, still waits.
    b.round().await.unwrap();
    assert!(!b.is_leader());
    tokio::time::advance(Duration::from_secs(5)).await;
    b.round().await.unwrap();
    assert!(
        b.is_leader(),
        "taken after a whole lease duration unchanged"
    );
    assert_eq!(store.holder().as_deref(), Some("b"));
    // a resumes: its renew fails on the version, it knows it lost, its gate stays closed.
    a.round().await.unwrap();
    assert!(!a.is_leader());
    assert_eq!(a.transitions(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_holder_that_cannot_reach_the_table_closes_its_gate_at_the_deadline() {
    let (store, a, _b) = pair();
    a.round().await.unwrap();
    store.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        tokio::time::advance(Duration::from_secs(2)).await;
        a.round().await.unwrap();
    }
    assert!(a.is_leader(), "8 s after the last renew");
    tokio::time::advance(Duration::from_secs(2)).await;
    a.round().await.unwrap();
    assert!(!a.is_leader(), "10 s: the renew deadline");
}

#[tokio::test(start_paused = true)]
async fn release_hands_over_within_one_retry() {
    let (store, a, b) = pair();
    a.round().await.unwrap();
    b.round().await.unwrap();
    a.release(a.release_grace()).await;
    assert_eq!(store.holder().as_deref(), Some(""));
    assert!(!a.is_leader());
    tokio::time::advance(Duration::from_secs(2)).await;
    b.round().await.unwrap();
    assert!(b.is_leader());
}

fn sharded(store: &Arc<Memory>, holder: &str) -> Elector {
    Elector::sharded(store.clone(), "l", holder, timing(), 8)
}

/// One round of each replica, then time moves by a retry period.
async fn rounds(replicas: &[&Elector], n: usize) {
    for _ in 0..n {
        for r in replicas {
            r.round().await.unwrap();
        }
        no_shard_open_twice(replicas);
        tokio::time::advance(Duration::from_secs(2)).await;
    }
}

fn no_shard_open_twice(replicas: &[&Elector]) {
    let mut seen = std::collections::HashMap::new();
    for r in replicas {
        for shard in r.held() {
            if let Some(other) = seen.insert(shard, r.holder().to_owned()) {
                panic!("shard {shard} open at {other} and {}", r.holder());
            }
        }
    }
}

fn sizes(replicas: &[&Elector]) -> Vec<usize> {
    let mut sizes: Vec<usize> = replicas.iter().map(|r| r.held().len()).collect();
    sizes.sort_unstable();
    sizes
}

#[tokio::test(start_paused = true)]
async fn eight_shards_spread_over_three_replicas_and_move_when_one_dies() {
    let store = Arc::new(Memory::default());
    let (a, b, c) = (
        sharded(&store, "a"),
        sharded(&store, "b"),
        sharded(&store, "c"),
    );
    rounds(&[&a, &b, &c], 5).await;
    assert_eq!(
        sizes(&[&a, &b, &c]),
        [2, 3, 3],
        "a fair share each, all 8 held"
    );
    assert_eq!(a.leadership().unwrap().replicas, Some(3));
    // c dies (no more rounds, no release): its shards expire and move; nothing overlaps.
    rounds(&[&a, &b], 12).await;
    assert_eq!(sizes(&[&a, &b]), [4, 4]);
    assert!(c.held().is_empty(), "c's gate closed at its renew deadline");
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_joins_gets_its_share_handed_back_never_stolen() {
    let store = Arc::new(Memory::default());
    let (a, b) = (sharded(&store, "a"), sharded(&store, "b"));
    rounds(&[&a, &b], 3).await;
    assert_eq!(sizes(&[&a, &b]), [4, 4]);
    let c = sharded(&store, "c");
    // Every round checks that no shard is open at two replicas.
    rounds(&[&a, &b, &c], 4).await;
    assert_eq!(sizes(&[&a, &b, &c]), [2, 3, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_lease_is_handed_back_only_after_its_writes_in_flight() {
    let store = Arc::new(Memory::default());
    let a = sharded(&store, "a");
    rounds(&[&a], 1).await;
    assert_eq!(a.held().len(), 8);
    // A write in flight on the last shard (the one handed back first).
    let target = plan::Target::region("us-east-1");
    let names: Vec<String> = (0..).map(|i| format!("g{i}")).take(200).collect();
    let id = names
        .iter()
        .map(|name| engine::GroupId {
            target: &target,
            cluster: "c1",
            name,
        })
        .find(|id| id.shard(8) == 7)
        .unwrap();
    let permit = a.enter(&id).expect("open");
    let b = sharded(&store, "b");
    rounds(&[&a, &b], 3).await;
    assert_eq!(a.held().len(), 4, "closed to new writes at once");
    assert!(a.enter(&id).is_none());
    assert_eq!(
        store.holder_of("l/shard/7-of-8").as_deref(),
        Some("a"),
        "not released while a write is in flight"
    );
    drop(permit);
    rounds(&[&a, &b], 2).await;
    assert_eq!(
        store.holder_of("l/shard/7-of-8").as_deref(),
        Some("a"),
        "not released within a write timeout of the write's end: a request it sent may still land"
    );
    rounds(&[&a, &b], 2).await;
    assert_eq!(sizes(&[&a, &b]), [4, 4]);
    assert_eq!(store.holder_of("l/shard/7-of-8").as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn replicas_with_another_shard_count_are_never_joined() {
    let store = Arc::new(Memory::default());
    let plain = Elector::new(store.clone(), "l", "p", timing());
    let a = sharded(&store, "a");
    for _ in 0..5 {
        plain.round().await.unwrap();
        a.round().await.unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
    }
    assert!(plain.is_leader());
    assert!(
        a.held().is_empty(),
        "takes nothing while the plain lease lives"
    );
    // The plain replica goes away: once its lease has expired, the shards are taken.
    plain.release(plain.release_grace()).await;
    rounds(&[&a], 1).await;
    assert_eq!(a.held().len(), 8);
}

#[test]
fn timing_is_checked() {
    assert!(Timing::default().check().is_ok());
    let bad = Timing {
        renew_deadline: Duration::from_secs(15),
        ..Timing::default()
    };
    assert!(matches!(
        bad.check(),
        Err(TimingError::DeadlineNotShorterThanLease { .. })
    ));
    // 15 s < 10 s + 5 s + 0.75 s: a write could land after a contender took over.
    let slow = Timing {
        write_timeout: Duration::from_secs(5),
        ..Timing::default()
    };
    let err = slow.check().unwrap_err();
    assert!(matches!(err, TimingError::WritesOutliveLease { .. }));
    assert!(err.to_string().contains("750ms"), "{err}");
    // The edge holds: 15 s >= 10 s + 4.25 s + 0.75 s.
    let edge = Timing {
        write_timeout: Duration::from_millis(4250),
        ..Timing::default()
    };
    assert!(edge.check().is_ok());
}

/// Group `g` of cluster `c1` in `target`.
fn group(target: &plan::Target) -> engine::GroupId<'_> {
    engine::GroupId {
        target,
        cluster: "c1",
        name: "g",
    }
}

#[tokio::test(start_paused = true)]
async fn a_permit_ends_its_write_by_the_renew_deadline_less_the_margin() {
    let (_store, a, _b) = pair();
    a.round().await.unwrap();
    let target = plan::Target::region("us-east-1");
    let id = group(&target);
    let permit = a.enter(&id).expect("open");
    let deadline = permit.deadline().expect("a deadline under a lease");
    assert_eq!(
        deadline - tokio::time::Instant::now(),
        Duration::from_millis(9250)
    );
    // A write that would take longer is cut there: nothing of it runs after.
    let cut = permit
        .within(tokio::time::sleep(Duration::from_secs(60)))
        .await;
    assert_eq!(cut, Err(engine::DeadlinePassed));
    assert_eq!(tokio::time::Instant::now(), deadline);
    drop(permit);
    // No permit in the margin before the renew deadline, though the lease is still held.
    tokio::time::advance(Duration::from_millis(500)).await;
    assert!(a.is_leader());
    assert!(a.enter(&id).is_none());
}

#[tokio::test(start_paused = true)]
async fn release_waits_until_no_write_can_land_or_leaves_the_lease_to_expire() {
    let (store, a, _b) = pair();
    a.round().await.unwrap();
    let target = plan::Target::region("us-east-1");
    let id = group(&target);
    // A write just ended: a request it sent may reach AWS for a write timeout more.
    drop(a.enter(&id).expect("open"));
    let asked = tokio::time::Instant::now();
    a.release(a.release_grace()).await;
    assert_eq!(asked.elapsed(), Duration::from_secs(4));
    assert_eq!(store.holder().as_deref(), Some(""));

    // A write that does not end within the grace: the lease is not released.
    let (store, a, _b) = pair();
    a.round().await.unwrap();
    let permit = a.enter(&id).expect("open");
    a.release(Duration::from_secs(2)).await;
    assert_eq!(store.holder().as_deref(), Some("a"), "left to expire");
    assert!(!a.is_leader());
    drop(permit);
}
