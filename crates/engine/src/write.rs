//! What a pass did, one typed event per write. `Display` gives the sentence that `reconcile
//! --once` prints and the loop logs; callers that need facts read the fields.

use std::fmt;

use plan::FieldChange;
use spec::arn::{last_segment, task_definition_short};
use spec::render::STOP_REASON_PREFIX;

/// One write the controller made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// RegisterTaskDefinition (or a registration shared with an identical group).
    Registered {
        /// The revision's ARN.
        task_definition: String,
    },
    /// CreateService.
    CreatedService {
        /// Service name.
        service: String,
        /// Its desired count.
        count: i32,
        /// The revision it runs.
        task_definition: String,
    },
    /// UpdateService and/or TagResource.
    UpdatedService {
        /// Service name.
        service: String,
        /// The fields changed; empty when only the tags were brought up to date.
        fields: Vec<String>,
        /// Tag keys removed (UntagResource).
        untagged: Vec<String>,
    },
    /// ECS's circuit breaker rolled a deployment back: recorded in the service's tags, so the
    /// failed revision is not deployed again (and a hand edit was put back, if any).
    RecordedRollback {
        /// Service name.
        service: String,
        /// The revision whose deployment failed.
        failed: String,
        /// The revision ECS rolled back to.
        running: String,
    },
    /// RunTask (tasks mode), possibly fewer than asked.
    StartedTasks {
        /// Tasks started.
        started: usize,
        /// Tasks asked for.
        wanted: i32,
        /// The revision they run.
        task_definition: String,
        /// Why the rest did not start (placement failures), if any.
        shortfall: Option<String>,
    },
    /// StopTask.
    StoppedTask {
        /// Task ARN.
        task: String,
        /// The reason recorded on the task.
        reason: String,
    },
    /// DeleteService, wait for the name, CreateService (`--allow-replace`).
    ReplacedService {
        /// Service name.
        service: String,
        /// The immutable fields that forced it.
        changes: Vec<FieldChange>,
        /// Its desired count.
        count: i32,
        /// The revision it runs.
        task_definition: String,
    },
    /// Prune: the service was scaled to 0 and deleted.
    DeletedService {
        /// Service name.
        service: String,
    },
    /// RegisterScalableTarget and/or PutScalingPolicy.
    PutScaling {
        /// `service/CLUSTER/SERVICE`.
        resource_id: String,
        /// What changed.
        changes: Vec<FieldChange>,
    },
    /// DeregisterScalableTarget.
    RemovedScaling {
        /// `service/CLUSTER/SERVICE`.
        resource_id: String,
    },
}

/// `a: x -> y, b: ...`.
pub fn describe_changes(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Write {
    /// The reason of the event it makes in a group's history, e.g. `UpdatedService`.
    pub fn reason(&self) -> &'static str {
        match self {
            Write::Registered { .. } => "RegisteredTaskDefinition",
            Write::CreatedService { .. } => "CreatedService",
            Write::UpdatedService { .. } => "UpdatedService",
            Write::RecordedRollback { .. } => "RecordedRollback",
            Write::StartedTasks { .. } => "StartedTasks",
            Write::StoppedTask { .. } => "StoppedTask",
            Write::ReplacedService { .. } => "ReplacedService",
            Write::DeletedService { .. } => "DeletedService",
            Write::PutScaling { .. } => "PutScaling",
            Write::RemovedScaling { .. } => "RemovedScaling",
        }
    }
}

impl fmt::Display for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Write::Registered { task_definition } => {
                write!(f, "registered {}", task_definition_short(task_definition))
            }
            Write::CreatedService {
                service,
                count,
                task_definition,
            } => write!(
                f,
                "created service {service} ({count} x {})",
                task_definition_short(task_definition)
            ),
            Write::UpdatedService {
                service,
                fields,
                untagged,
            } => {
                if fields.is_empty() {
                    write!(f, "updated service {service} tags")?;
                } else {
                    write!(f, "updated service {service} ({})", fields.join(", "))?;
                }
                if untagged.is_empty() {
                    Ok(())
                } else {
                    write!(f, "; removed tags {}", untagged.join(", "))
                }
            }
            Write::RecordedRollback {
                service,
                failed,
                running,
            } => write!(
                f,
                "ECS rolled service {service} back from {} to {}; recorded, {} is not deployed again until the spec changes",
                task_definition_short(failed),
                task_definition_short(running),
                task_definition_short(failed)
            ),
            Write::StartedTasks {
                started,
                wanted,
                task_definition,
                shortfall,
            } => {
                write!(
                    f,
                    "started {started} of {wanted} task{} ({})",
                    if *wanted == 1 { "" } else { "s" },
                    task_definition_short(task_definition)
                )?;
                match shortfall {
                    Some(why) => write!(f, "; the rest: {why}"),
                    None => Ok(()),
                }
            }
            Write::StoppedTask { task, reason } => write!(
                f,
                "stopped task {} ({})",
                last_segment(task),
                reason.trim_start_matches(STOP_REASON_PREFIX).trim()
            ),
            Write::ReplacedService {
                service,
                changes,
                count,
                task_definition,
            } => write!(
                f,
                "replaced service {service} ({}; {count} x {})",
                describe_changes(changes),
                task_definition_short(task_definition)
            ),
            Write::DeletedService { service } => write!(f, "deleted service {service}"),
            Write::PutScaling {
                resource_id,
                changes,
            } => write!(
                f,
                "autoscaling of {resource_id} set ({})",
                describe_changes(changes)
            ),
            Write::RemovedScaling { resource_id } => write!(
                f,
                "deregistered the scalable target of {resource_id}"
            ),
        }
    }
}
