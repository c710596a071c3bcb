//! The loop's prune: over the last valid state, one at a time, never in a dry run.

use super::*;

impl<P: ClientProvider + 'static, S: DesiredSource> Controller<P, S> {
    /// A prune over the last valid state, unless one runs already, the files are invalid,
    /// pruning is off, or this is a dry run.
    pub(super) fn start_prune(&self, desired: &Desired, prunes: &mut JoinSet<()>) {
        let Some(max_prune) = self.settings.prune else {
            return;
        };
        if !prunes.is_empty()
            || self.settings.dry_run
            || !crate::status::read(&self.status).config_errors.is_empty()
        {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let scope = Arc::clone(&self.scope);
        let gate = Arc::clone(&self.gate);
        let groups: Vec<Arc<DesiredGroup>> = desired.values().cloned().collect();
        let policy = PruneLimits {
            max_prune,
            selector: false,
        };
        let notifier = self.notifier.clone();
        let revision = crate::status::read(&self.status).git.clone();
        prunes.spawn(async move {
            let report = engine
                .prune(&scope, &groups, policy, Mode::Apply, &*gate)
                .await;
            if let Some(notifier) = &notifier {
                for outcome in report.outcomes.iter().filter(|o| o.error.is_none()) {
                    let done: Vec<String> = outcome.done.iter().map(ToString::to_string).collect();
                    notifier.send(Notice {
                        kind: NoticeKind::Pruned,
                        group: outcome.group.clone(),
                        cluster: outcome.cluster.clone(),
                        account: outcome.target.account_label().to_owned(),
                        region: outcome.target.region.clone(),
                        reason: "Pruned".into(),
                        message: done.join("; "),
                        revision: revision.clone(),
                    });
                }
            }
            match report.problem {
                Some(engine::PruneProblem::Refused(refusal)) => {
                    error!(%refusal, "prune refused");
                }
                Some(engine::PruneProblem::Unlisted(e)) => {
                    warn!(error = %e, "prune skipped: could not list what this controller manages");
                }
                None => {}
            }
        });
    }
}
