//! Loading the files: a load started off the loop, and what a finished one changes (groups
//! due now, removed groups forgotten, the last good state kept on an invalid load).

use super::*;

impl<P: ClientProvider + 'static, S: DesiredSource> Controller<P, S> {
    pub(super) fn start_load(&self, loads: &mut JoinSet<Loaded>, all: bool) {
        let source = Arc::clone(&self.source);
        loads.spawn(async move {
            Loaded {
                result: source.load().await,
                all,
            }
        });
    }

    /// A load finished. Valid: groups that changed (all of them at a resync) are due now and
    /// removed groups are forgotten. Invalid: the last good state is kept, the problems are
    /// reported, and at a resync the last good groups are still reconciled. Whether the groups
    /// changed.
    pub(super) fn reloaded(
        &self,
        loaded: Loaded,
        desired: &mut Desired,
        queue: &mut WorkQueue,
    ) -> bool {
        let now = Instant::now();
        let all = loaded.all;
        match loaded.result {
            Ok(Load::Unchanged) => {
                ControllerMetrics::result(&self.metrics.config_loads, true);
                if all {
                    for name in desired.keys() {
                        queue.add(name, now);
                    }
                }
                false
            }
            Ok(Load::Changed(snapshot)) => {
                // A group that did not change keeps its Arc: passes in flight and the new
                // state share it instead of holding two copies.
                let new: Desired = snapshot
                    .groups
                    .into_iter()
                    .map(|(name, group)| match desired.get(&name) {
                        Some(old) if **old == group => (name, Arc::clone(old)),
                        _ => (name, Arc::new(group)),
                    })
                    .collect();
                ControllerMetrics::result(&self.metrics.config_loads, true);
                self.metrics.config_errors.set(0);
                let mut status = write(&self.status);
                if !status.config_errors.is_empty() {
                    info!("the files are valid again");
                }
                status.config_errors.clear();
                status.git = snapshot.git.clone();
                for name in desired.keys().filter(|n| !new.contains_key(*n)) {
                    info!(group = %name, "group removed from the files; no longer reconciled");
                    queue.remove(name);
                    self.engine.forget(name);
                    status.forget(name);
                    let labels = GroupLabels {
                        group: name.clone(),
                    };
                    self.metrics.desired_tasks.remove(&labels);
                    self.metrics.running_tasks.remove(&labels);
                }
                for (name, group) in &new {
                    if all || !desired.get(name).is_some_and(|d| Arc::ptr_eq(d, group)) {
                        queue.add(name, now);
                    }
                    if !status.config_loaded || !desired.contains_key(name) {
                        status.awaiting_first_pass.insert(name.clone());
                    }
                    status
                        .labels
                        .insert(name.clone(), group.group.metadata.labels.clone());
                    if let Some(count) = group.group.spec.fixed_count() {
                        self.metrics
                            .desired_tasks
                            .get_or_create(&GroupLabels {
                                group: name.clone(),
                            })
                            .set(count);
                    }
                }
                status.config_loaded = true;
                if desired.is_empty() || !all {
                    info!(revision = %snapshot.revision, groups = new.len(), "loaded the desired state");
                }
                *desired = new;
                true
            }
            Err(e) => {
                ControllerMetrics::result(&self.metrics.config_loads, false);
                let lines = match &e {
                    SourceError::Invalid(lines) => lines.clone(),
                    other => vec![other.to_string()],
                };
                self.metrics.config_errors.set(gauge(lines.len()));
                let mut status = write(&self.status);
                // One log line per problem when the problems change, not at every resync.
                if status.config_errors != lines {
                    for line in &lines {
                        error!(problem = %line, "invalid DelegateGroup files; keeping the last valid state");
                    }
                    status.config_errors = lines;
                }
                drop(status);
                if all {
                    for name in desired.keys() {
                        queue.add(name, now);
                    }
                }
                false
            }
        }
    }
}
