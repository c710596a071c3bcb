//! ECS's closed sets (statuses, rollout states, stop codes) as enums. ECS answers are converted
//! here once, where they are read (`aws::response`, the events crate, the fake); everything
//! else matches on variants, never on strings. A value ECS adds later is kept as `Other`, so
//! it is shown as ECS wrote it and never mistaken for a known one.

use std::fmt;

macro_rules! closed_set {
    ($(
        $(#[$doc:meta])*
        $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Hash)]
            pub enum $name {
                $($(#[$vdoc])* $variant,)*
                /// A value this program does not know (or none: the empty string), as ECS wrote it.
                Other(String),
            }

            impl $name {
                /// As ECS spells it.
                pub fn as_str(&self) -> &str {
                    match self {
                        $($name::$variant => $text,)*
                        $name::Other(text) => text,
                    }
                }
            }

            impl From<&str> for $name {
                fn from(text: &str) -> Self {
                    match text {
                        $($text => $name::$variant,)*
                        other => $name::Other(other.to_owned()),
                    }
                }
            }

            impl Default for $name {
                /// Not reported.
                fn default() -> Self {
                    $name::Other(String::new())
                }
            }

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        )*
    };
}

closed_set! {
    /// A service's status (DescribeServices `status`).
    ServiceStatus {
        /// Running its tasks; occupies its name.
        Active = "ACTIVE",
        /// Deleted, its tasks stopping; still occupies its name.
        Draining = "DRAINING",
        /// Deleted.
        Inactive = "INACTIVE",
    }

    /// A deployment's status (`deployments[].status`).
    DeploymentStatus {
        /// The newest deployment.
        Primary = "PRIMARY",
        /// An older deployment still running tasks.
        Active = "ACTIVE",
        /// Finished.
        Inactive = "INACTIVE",
    }

    /// A deployment's rollout state (`deployments[].rolloutState`).
    RolloutState {
        /// Still rolling out.
        InProgress = "IN_PROGRESS",
        /// Reached steady state.
        Completed = "COMPLETED",
        /// The circuit breaker failed it.
        Failed = "FAILED",
    }

    /// A task definition revision's status.
    TaskDefinitionStatus {
        /// Usable.
        Active = "ACTIVE",
        /// Deregistered.
        Inactive = "INACTIVE",
        /// Being deleted.
        DeleteInProgress = "DELETE_IN_PROGRESS",
    }

    /// A task's last or desired status (the task lifecycle of the developer guide).
    TaskStatus {
        /// Resources being provisioned (awsvpc, Fargate).
        Provisioning = "PROVISIONING",
        /// Waiting to start.
        Pending = "PENDING",
        /// Being registered with load balancers.
        Activating = "ACTIVATING",
        /// Running.
        Running = "RUNNING",
        /// Being deregistered.
        Deactivating = "DEACTIVATING",
        /// Stopping.
        Stopping = "STOPPING",
        /// Resources being released.
        Deprovisioning = "DEPROVISIONING",
        /// Stopped.
        Stopped = "STOPPED",
        /// Deleted.
        Deleted = "DELETED",
    }

    /// Why a task stopped (`stopCode`).
    StopCode {
        /// It never started.
        TaskFailedToStart = "TaskFailedToStart",
        /// An essential container exited.
        EssentialContainerExited = "EssentialContainerExited",
        /// Someone (StopTask) stopped it.
        UserInitiated = "UserInitiated",
        /// The service scheduler stopped it (scale-in, replacement, rebalancing).
        ServiceSchedulerInitiated = "ServiceSchedulerInitiated",
        /// A Fargate Spot interruption.
        SpotInterruption = "SpotInterruption",
        /// A Fargate maintenance termination notice.
        TerminationNotice = "TerminationNotice",
        /// ECS replaced it because its infrastructure was unhealthy.
        InfrastructureHealth = "InfrastructureHealth",
    }
}

impl StopCode {
    /// Whether the stop means the delegate failed, as the TaskStopCode values of the API
    /// (Task.stopCode) tell it: it never started (TaskFailedToStart, which is where
    /// ResourceInitializationError and CannotPullContainerError land) or its essential
    /// container exited (EssentialContainerExited). `Some(false)` for the stops of a healthy
    /// task (someone's StopTask, the scheduler's scale-in, rebalancing or replacement, a Spot
    /// interruption, a termination notice, unhealthy infrastructure); `None` for a code this
    /// program does not know, or none.
    pub fn is_failure(&self) -> Option<bool> {
        match self {
            StopCode::TaskFailedToStart | StopCode::EssentialContainerExited => Some(true),
            StopCode::UserInitiated
            | StopCode::ServiceSchedulerInitiated
            | StopCode::SpotInterruption
            | StopCode::TerminationNotice
            | StopCode::InfrastructureHealth => Some(false),
            StopCode::Other(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_convert_both_ways_and_unknown_ones_are_kept() {
        assert_eq!(ServiceStatus::from("DRAINING"), ServiceStatus::Draining);
        assert_eq!(TaskStatus::from("RUNNING").to_string(), "RUNNING");
        let later = RolloutState::from("PAUSED");
        assert_eq!(later, RolloutState::Other("PAUSED".into()));
        assert_eq!(later.as_str(), "PAUSED");
        assert_eq!(StopCode::default().as_str(), "");
    }

    #[test]
    fn only_a_failed_start_or_an_exited_container_is_a_failure() {
        let failures: Vec<_> = [
            "TaskFailedToStart",
            "EssentialContainerExited",
            "UserInitiated",
            "ServiceSchedulerInitiated",
            "SpotInterruption",
            "TerminationNotice",
            "InfrastructureHealth",
        ]
        .into_iter()
        .filter(|code| StopCode::from(*code).is_failure() == Some(true))
        .collect();
        assert_eq!(failures, ["TaskFailedToStart", "EssentialContainerExited"]);
        assert_eq!(StopCode::from("SomethingNew").is_failure(), None);
    }
}
