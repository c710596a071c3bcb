//! What ECS says of a group, before its conditions are spelled out: the summary (Ready,
//! Progressing, Degraded, Stalled, Suspended, Unknown) and the message behind it.

use super::*;

/// What a group's conditions say, before they are spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Summary {
    /// Runs as the files say.
    Ready,
    /// `spec.suspend`: observed only.
    Suspended,
    /// On its way (a rollout, a change just applied).
    Progressing(Reason),
    /// Running, but not as wanted; `progressing` when ECS is still trying.
    Degraded { reason: Reason, progressing: bool },
    /// ECS runs it as the files say, but Harness could not be asked whether it is connected.
    Unknown(Reason),
}

/// The verdict on a group that has no error, and the message that explains it.
pub(super) fn verdict(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    service: Option<&ObservedService>,
    applied: Applied,
    status: &GroupStatus,
) -> (Summary, String) {
    if desired.group.spec.suspend {
        let message = "spec.suspend is true: observed only, nothing is changed";
        return (Summary::Suspended, message.into());
    }
    if let Some(rollback) = service.and_then(|s| crate::classify::rollback_of(desired, s)) {
        let mut reasons: Vec<&str> = observed
            .stopped_tasks
            .iter()
            .filter(|t| t.task_definition == rollback.failed)
            .filter_map(|t| t.stopped_reason.as_deref())
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        let failed = task_definition_short(&rollback.failed);
        let mut message = format!(
            "ECS's deployment circuit breaker rolled {failed} back to {}{}; {failed} is not \
             deployed again until the spec (or spec.service.restartedAt) changes",
            task_definition_short(&rollback.running),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" (its tasks stopped: {})", reasons.join("; "))
            }
        );
        // A managed version: the delegates keep the version they ran; the failed one waits for
        // Harness to name another (or the files to change).
        if let Some(image) = desired.version.as_ref().and_then(|v| v.image.as_deref()) {
            message.push_str(&format!(
                "; version {image} is not deployed again, and the delegates keep the version \
                 of {}",
                task_definition_short(&rollback.running)
            ));
        }
        let degraded = Summary::Degraded {
            reason: Reason::RolledBack,
            progressing: false,
        };
        return (degraded, message);
    }
    if let Some(message) = failed_deployment(service) {
        let degraded = Summary::Degraded {
            reason: Reason::DeploymentFailed,
            progressing: false,
        };
        return (degraded, message);
    }
    if let Some(problem) = &observed.secret_access {
        let degraded = Summary::Degraded {
            reason: Reason::SecretNotReadable,
            progressing: false,
        };
        return (degraded, problem.to_string());
    }
    // Tasks that could not even start because ECS could not fetch the token (or pull the
    // image) with the execution role: that cause, not a generic crash loop.
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html
    let init_failures: Vec<&str> = observed
        .stopped_tasks
        .iter()
        .filter_map(|t| t.stopped_reason.as_deref())
        .filter(|r| r.starts_with("ResourceInitializationError"))
        .collect();
    if let Some(first) = init_failures.first() {
        let message = format!(
            "{} tasks could not start: {first}; check that the execution role may read the \
             delegate token (secretsmanager:GetSecretValue or ssm:GetParameters, and kms:Decrypt \
             for a customer managed key)",
            init_failures.len()
        );
        let degraded = Summary::Degraded {
            reason: Reason::SecretNotReadable,
            progressing: true,
        };
        return (degraded, message);
    }
    if observed.stopped_tasks.len() >= CRASH_LOOP_STOPS {
        let mut reasons: Vec<&str> = observed
            .stopped_tasks
            .iter()
            .filter_map(|t| t.stopped_reason.as_deref())
            .collect();
        reasons.dedup();
        let message = format!(
            "{}{} tasks stopped recently: {}",
            partly_healthy(service).unwrap_or_default(),
            observed.stopped_tasks.len(),
            if reasons.is_empty() {
                "no reason given".to_owned()
            } else {
                reasons.join("; ")
            }
        );
        let degraded = Summary::Degraded {
            reason: Reason::CrashLoop,
            progressing: true,
        };
        return (degraded, message);
    }
    if let Some(message) = capacity_shortfall(desired, observed, status) {
        let degraded = Summary::Degraded {
            reason: Reason::InsufficientCapacity,
            progressing: true,
        };
        return (degraded, message);
    }
    // What ECS's own service events say cannot be placed (a quota, Fargate capacity), while
    // the service is short of tasks.
    let short = service.filter(|s| !s.is_steady());
    if let Some(problem) = short.and_then(|s| s.placement_problem.as_deref()) {
        let degraded = Summary::Degraded {
            reason: problem.reason,
            progressing: true,
        };
        let message = format!("ECS cannot place the delegates: {}", problem.message);
        return (degraded, message);
    }
    let rolling = Summary::Progressing(Reason::DeploymentInProgress);
    if applied == Applied::Changes {
        let message = "changes were applied; waiting for ECS to roll them out";
        return (rolling, message.into());
    }
    if !status.in_sync {
        return (rolling, "the live state differs from the files".into());
    }
    if desired.mode() == Mode::Tasks {
        let message = format!("{} of {} tasks running", status.running, status.desired);
        let done = status.running == status.desired && status.pending == 0;
        return (if done { Summary::Ready } else { rolling }, message);
    }
    let Some(service) = service else {
        return (
            Summary::Progressing(Reason::NotCreated),
            "no service yet".into(),
        );
    };
    if !service.is_steady() {
        let message = format!(
            "{} of {} tasks running, {} pending, {} deployment{}",
            service.running_count,
            service.desired_count,
            service.pending_count,
            service.deployments.len(),
            if service.deployments.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        return (rolling, message);
    }
    let message = format!(
        "{} of {} tasks running {}",
        service.running_count,
        service.desired_count,
        task_definition_short(&service.task_definition)
    );
    (Summary::Ready, message)
}

/// A deployment ECS marked FAILED (the circuit breaker tripped), and whether it rolled back.
/// A rollout some of whose tasks run while others keep failing: ECS's circuit breaker will
/// never fail it. The API reference (Deployment.failedTasks): "Once a service deployment has
/// one or more successfully running tasks, the failed task count resets to zero and stops being
/// evaluated."
fn partly_healthy(service: Option<&ObservedService>) -> Option<String> {
    let primary = service?.deployments.first()?;
    let rolling = primary.rollout_state == Some(RolloutState::InProgress);
    let (running, wanted) = (primary.running_count, primary.desired_count);
    (rolling && running > 0 && running < wanted).then(|| {
        format!(
            "the rollout is partly healthy ({running} of {wanted} running; ECS's circuit breaker \
             stops counting failed tasks once one runs, so it will not fail or roll back this \
             deployment); "
        )
    })
}

pub(super) fn failed_deployment(service: Option<&ObservedService>) -> Option<String> {
    let service = service?;
    let failed = service
        .deployments
        .iter()
        .find(|d| d.rollout_state == Some(RolloutState::Failed))?;
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary);
    let rolled_back = primary
        .filter(|p| p.id != failed.id && p.task_definition != failed.task_definition)
        .map(|p| {
            format!(
                "; rolled back to {}",
                task_definition_short(&p.task_definition)
            )
        })
        // Nothing to go back to (a first deployment, or no rollback configured): the failed
        // deployment stays primary and launches nothing more ("a service deployment will
        // transition to a failed state and stop launching new tasks", DeploymentCircuitBreaker
        // in the API reference).
        .unwrap_or_else(|| {
            "; ECS launches no more tasks for it: change the spec (the image, or \
             spec.service.restartedAt) to deploy again"
                .to_owned()
        });
    Some(format!(
        "the deployment of {} failed: {}{rolled_back}",
        task_definition_short(&failed.task_definition),
        failed
            .rollout_state_reason
            .as_deref()
            .unwrap_or("no reason given"),
    ))
}

/// EC2 groups: can the cluster's free resources place the tasks that are neither running nor
/// placed? Counted per instance (a task fits on one instance or not at all).
pub(super) fn capacity_shortfall(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    status: &GroupStatus,
) -> Option<String> {
    let instances = observed.capacity.as_ref()?;
    let unplaced = status.desired - status.running - status.pending;
    if unplaced <= 0 {
        return None;
    }
    let cpu = i64::from(desired.group.spec.resources.cpu).max(1);
    let memory = i64::from(desired.group.spec.resources.memory).max(1);
    let slots: i64 = instances
        .iter()
        .map(|i| {
            (i.remaining_cpu / cpu)
                .min(i.remaining_memory / memory)
                .max(0)
        })
        .sum();
    if slots >= unplaced {
        return None;
    }
    let free_cpu: i64 = instances.iter().map(|i| i.remaining_cpu).sum();
    let free_memory: i64 = instances.iter().map(|i| i.remaining_memory).sum();
    Some(format!(
        "{unplaced} delegate task{} cannot be placed: each needs {cpu} CPU units and {memory} MiB; \
         the cluster's {} container instance{} have {free_cpu} CPU units and {free_memory} MiB \
         free, room for {slots}",
        if unplaced == 1 { "" } else { "s" },
        instances.len(),
        if instances.len() == 1 { "" } else { "s" },
    ))
}

/// When the group's last deployment began (seconds since the epoch): the primary deployment's
/// `createdAt`; tasks mode: the newest live task's.
pub(super) fn deployed_at(
    observed: &ObservedGroup,
    service: Option<&ObservedService>,
    tasks_mode: bool,
) -> Option<i64> {
    if tasks_mode {
        return observed
            .tasks
            .iter()
            .filter(|t| t.is_live())
            .filter_map(|t| t.created_at)
            .max();
    }
    service?
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary)
        .and_then(|d| d.created_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::ObservedDeployment;

    fn deployment(id: &str, status: &str, rollout: &str, td: &str) -> ObservedDeployment {
        ObservedDeployment {
            id: id.into(),
            status: status.into(),
            rollout_state: Some(rollout.into()),
            rollout_state_reason: Some(
                "ECS deployment circuit breaker: tasks failed to start.".into(),
            ),
            task_definition: td.into(),
            ..ObservedDeployment::default()
        }
    }

    #[test]
    fn a_failed_deployment_with_nothing_to_go_back_to_says_a_spec_change_is_needed() {
        let first = ObservedService {
            deployments: vec![deployment("ecs-svc/1", "PRIMARY", "FAILED", "d1:1")],
            ..ObservedService::default()
        };
        let message = failed_deployment(Some(&first)).unwrap();
        assert!(
            message.starts_with("the deployment of d1:1 failed: ECS deployment circuit breaker")
        );
        assert!(message.contains("change the spec"), "{message}");

        let rolled_back = ObservedService {
            deployments: vec![
                deployment("ecs-svc/2", "PRIMARY", "IN_PROGRESS", "d1:1"),
                deployment("ecs-svc/1", "ACTIVE", "FAILED", "d1:2"),
            ],
            ..ObservedService::default()
        };
        let message = failed_deployment(Some(&rolled_back)).unwrap();
        assert!(message.ends_with("; rolled back to d1:1"), "{message}");
    }
}
