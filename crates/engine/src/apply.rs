//! Apply: carry out each group's planned actions in order, groups in parallel (bounded),
//! failures isolated per group; identical task definition documents share one registration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use client::call;
use client::{AwsApi, AwsError};
use client::{ClientProvider, Target};
use plan::{Action, DesiredGroup, GroupError, TaskDefinitionRef};
use spec::render::TAG_ROLLED_BACK;
use tokio::sync::OnceCell;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::scope::{GroupId, WriteGate};
use crate::write::{describe_changes, Write};
use crate::writes::{client_token, retryable, write_backoff, WRITE_ATTEMPTS};
use crate::{bounded, group_error, Engine, GroupReport};

type SharedRegistration = Arc<OnceCell<Result<String, AwsError>>>;

impl<P: ClientProvider> Engine<P> {
    /// Carries out `plan`; groups in parallel (bounded), failures isolated per group. Groups with
    /// identical task definition documents share one registration.
    pub(crate) async fn apply(&self, records: &mut [GroupReport], gate: &dyn WriteGate) {
        let registrations: Mutex<HashMap<(Target, String), SharedRegistration>> =
            Mutex::new(HashMap::new());
        let registrations = &registrations;
        let () = bounded(
            records
                .iter_mut()
                // A group that failed an earlier stage writes nothing.
                .filter(|record| record.error.is_none()),
            |record| {
                let group_plan = &record.plan;
                let span = info_span!("reconcile", group = %group_plan.group, cluster = %group_plan.cluster, account = %group_plan.target.account_label(), region = %group_plan.target.region);
                self.apply_group(record, registrations, gate)
                    .instrument(span)
            },
            self.concurrency,
        )
        .await;
    }

    /// Carries out a group's plan while the gate lets it: its writes into `done`, a failed
    /// write into `error` (the apply stage's), and no further write after it.
    async fn apply_group(
        &self,
        record: &mut GroupReport,
        registrations: &Mutex<HashMap<(Target, String), SharedRegistration>>,
        gate: &dyn WriteGate,
    ) {
        let (d, group_plan) = (&*record.desired, &record.plan);
        let mut registered: Option<String> = None;
        let id = GroupId::of(d);
        for action in &group_plan.actions {
            // Held while the write is in flight: a lease is not handed over under it.
            let Some(permit) = gate.enter(&id) else {
                // Not an error: the next pass (of whoever may write then) plans it again.
                debug!(
                    action = action.kind(),
                    "writes are off (the write gate closed); not applied"
                );
                break;
            };
            // Every attempt and retry of it over by the lease's deadline (none with one replica).
            let result = permit
                .within(self.apply_action(d, action, &mut registered, registrations))
                .await
                .unwrap_or_else(|cut| {
                    Err(GroupError::new(
                        plan::Reason::ReconcileError,
                        cut.to_string(),
                    ))
                });
            drop(permit);
            // On the record at the default level: who, where, what changed from what.
            let target = &group_plan.target;
            match result {
                Ok(done) => {
                    match revision_of(&done, action, registered.as_deref()) {
                        Some(revision) => {
                            info!(group = %group_plan.group, cluster = %group_plan.cluster, account = %target.account_label(), region = %target.region, action = action.kind(), changes = %action.changes_for_log(), %revision, done = %done, "applied");
                        }
                        None => {
                            info!(group = %group_plan.group, cluster = %group_plan.cluster, account = %target.account_label(), region = %target.region, action = action.kind(), changes = %action.changes_for_log(), done = %done, "applied");
                        }
                    }
                    record.done.push(done);
                }
                Err(e) => {
                    warn!(group = %group_plan.group, cluster = %group_plan.cluster, account = %target.account_label(), region = %target.region, action = action.kind(), reason = %e.reason, error = %e, "write failed");
                    record.error = Some(e);
                    break;
                }
            }
        }
    }

    /// One write of a group's plan; its failure is the group's error.
    async fn write<C: client::call::Call>(
        &self,
        target: &Target,
        call: C,
    ) -> Result<C::Output, GroupError> {
        self.client(target).send(call).await.map_err(group_error)
    }

    async fn apply_action(
        &self,
        d: &DesiredGroup,
        action: &Action,
        registered: &mut Option<String>,
        registrations: &Mutex<HashMap<(Target, String), SharedRegistration>>,
    ) -> Result<Write, GroupError> {
        let id = &self.options.controller_id;
        let resolve = |r: &TaskDefinitionRef, registered: &Option<String>| match r {
            TaskDefinitionRef::Existing(arn) => Ok(arn.clone()),
            TaskDefinitionRef::ToRegister { .. } => registered.clone().ok_or_else(|| {
                GroupError::new(
                    plan::Reason::ReconcileError,
                    "internal: task definition was not registered",
                )
            }),
        };
        match action {
            Action::PutScaling {
                document,
                register,
                policy,
                changes,
            } => {
                let api = self.client(&d.target);
                if *register {
                    api.send(client::call::RegisterScalableTarget {
                        resource_id: document.resource_id.clone(),
                        min: document.min,
                        max: document.max,
                    })
                    .await
                    .map_err(group_error)?;
                }
                if *policy {
                    api.send(client::call::PutScalingPolicy {
                        resource_id: document.resource_id.clone(),
                        policy_name: document.policy_name.clone(),
                        metric: document.metric.clone(),
                        target: document.target,
                    })
                    .await
                    .map_err(group_error)?;
                }
                Ok(Write::PutScaling {
                    resource_id: document.resource_id.clone(),
                    changes: changes.clone(),
                })
            }
            Action::RemoveScaling { resource_id } => {
                self.client(&d.target)
                    .send(client::call::DeregisterScalableTarget {
                        resource_id: resource_id.clone(),
                    })
                    .await
                    .map_err(group_error)?;
                Ok(Write::RemovedScaling {
                    resource_id: resource_id.clone(),
                })
            }
            Action::RegisterTaskDefinition {
                document,
                spec_hash,
                ..
            } => {
                let cell = {
                    let mut map = registrations
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    map.entry((d.target.clone(), spec_hash.clone()))
                        .or_default()
                        .clone()
                };
                let tags = plan::desired::to_tag_list(&d.ownership_tags(id));
                let arn = cell
                    .get_or_init(|| async {
                        let r = self
                            .register_once(&d.target, document, spec_hash, &tags)
                            .await?;
                        self.remember(&(d.target.clone(), r.arn.clone()), &r);
                        Ok(r.arn)
                    })
                    .await
                    .clone()
                    .map_err(group_error)?;
                *registered = Some(arn.clone());
                Ok(Write::Registered {
                    task_definition: arn,
                })
            }
            Action::CreateService {
                document,
                task_definition,
            } => {
                let arn = resolve(task_definition, registered)?;
                self.create_group_service(d, document, &arn)
                    .await
                    .map_err(group_error)?;
                Ok(Write::CreatedService {
                    service: document.service_name.clone(),
                    count: document.desired_count,
                    task_definition: arn,
                })
            }
            Action::UpdateService {
                service_arn,
                document,
                task_definition,
                changes,
                members,
                kept,
                retag,
                untag,
                rollback,
                adopt,
            } => {
                let arn = resolve(task_definition, registered)?;
                let changes_what_runs = !changes.is_empty();
                if *adopt && changes_what_runs {
                    // Claim it first: the IAM policy in deploy/ lets this controller update only
                    // services that carry its managed-by tag, and tag an untagged one only
                    // through the separately granted adoption statement.
                    let claim = call::TagResource {
                        arn: service_arn.clone(),
                        tags: plan::desired::to_tag_list(&d.claim_tags(id)),
                    };
                    self.write(&d.target, claim).await?;
                }
                if changes_what_runs {
                    let update = call::UpdateService {
                        document: document.clone(),
                        task_definition: arn.clone(),
                        members: members.clone(),
                        kept: kept.clone(),
                    };
                    self.write(&d.target, update).await?;
                }
                // Tags last: a crash before this leaves stale tags, which the next pass sees
                // and completes, never a service whose tags claim more than it runs.
                if *retag {
                    let tags = match rollback {
                        // The tags keep naming the spec and revision that failed, and record
                        // the revision ECS went back to.
                        Some(r) => {
                            let mut tags = d.service_tags(id, &r.failed);
                            tags.insert(TAG_ROLLED_BACK.into(), r.running.clone());
                            tags
                        }
                        None => d.service_tags(id, &arn),
                    };
                    let tag = call::TagResource {
                        arn: service_arn.clone(),
                        tags: plan::desired::to_tag_list(&tags),
                    };
                    self.write(&d.target, tag).await?;
                }
                if !untag.is_empty() {
                    let untag = call::UntagResource {
                        arn: service_arn.clone(),
                        keys: untag.clone(),
                    };
                    self.write(&d.target, untag).await?;
                }
                if let Some(r) = rollback.as_ref().filter(|_| *retag) {
                    return Ok(Write::RecordedRollback {
                        service: document.service_name.clone(),
                        failed: r.failed.clone(),
                        running: r.running.clone(),
                    });
                }
                Ok(Write::UpdatedService {
                    service: document.service_name.clone(),
                    fields: changes.iter().map(|c| c.field.clone()).collect(),
                    untagged: untag.clone(),
                })
            }
            Action::RunTask {
                document,
                task_definition,
                count,
            } => {
                let arn = resolve(task_definition, registered)?;
                let tags = plan::desired::to_tag_list(&d.ownership_tags(id));
                let mut started = 0;
                let mut failures: Vec<String> = Vec::new();
                // RunTask starts at most 10 tasks per call.
                let mut left = *count;
                while left > 0 {
                    let batch = left.min(10);
                    let out = self
                        .run_task_once(&d.target, document, &arn, batch, &tags)
                        .await
                        .map_err(group_error)?;
                    started += out.tasks.len();
                    // Until ListTasks shows them, the next pass counts them from this answer.
                    self.unlisted().started(crate::group_key(d), &out.tasks);
                    failures.extend(out.failures);
                    left -= batch;
                }
                // Fewer started is not an error: capacity is reported as a condition, and the
                // next pass tries again.
                let shortfall = (usize::try_from(*count).unwrap_or(0) > started).then(|| {
                    failures.sort();
                    failures.dedup();
                    if failures.is_empty() {
                        "not placed".to_owned()
                    } else {
                        failures.join(", ")
                    }
                });
                Ok(Write::StartedTasks {
                    started,
                    wanted: *count,
                    task_definition: arn,
                    shortfall,
                })
            }
            Action::StopTask {
                cluster,
                task_arn,
                reason,
            } => {
                self.stop_task(&d.target, cluster, task_arn, reason)
                    .await
                    .map_err(group_error)?;
                Ok(Write::StoppedTask {
                    task: task_arn.clone(),
                    reason: reason.clone(),
                })
            }
            Action::ReplaceService {
                service_arn,
                changes,
                document,
                task_definition,
                replacement,
            } => {
                if *replacement == plan::Replacement::Refused {
                    let why = describe_changes(changes);
                    return Err(GroupError::new(
                        plan::Reason::ReplaceRequired,
                        format!(
                            "the service must be replaced ({why}): UpdateService cannot change \
                             that; run with --allow-replace to delete and create it"
                        ),
                    ));
                }
                let arn = resolve(task_definition, registered)?;
                let previous = spec::arn::last_segment(service_arn);
                self.replace_service(d, previous, document, &arn)
                    .await
                    .map_err(group_error)?;
                Ok(Write::ReplacedService {
                    service: document.service_name.clone(),
                    changes: changes.clone(),
                    count: document.desired_count,
                    task_definition: arn,
                })
            }
        }
    }

    /// RunTask exactly once: a passing failure (a throttle, a lost answer) is retried with the
    /// same client token, which ECS answers with the first attempt's tasks if it landed.
    async fn run_task_once(
        &self,
        target: &Target,
        document: &spec::document::RunTaskDocument,
        task_definition: &str,
        count: i32,
        tags: &[spec::document::Tag],
    ) -> Result<client::api::RunTaskOutput, AwsError> {
        let token = client_token();
        let mut attempt = 0;
        loop {
            let run = call::RunTask {
                document: document.clone(),
                task_definition: task_definition.to_owned(),
                count,
                tags: tags.to_vec(),
                client_token: token.clone(),
            };
            match self.client(target).send(run).await {
                Err(e) if retryable(&e) && attempt + 1 < WRITE_ATTEMPTS => {
                    warn!(error = %e, "RunTask failed; trying again with the same client token");
                    write_backoff(attempt).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

/// The task definition revision a write leaves the group on (`family:revision`), if it has one.
fn revision_of(done: &Write, action: &Action, registered: Option<&str>) -> Option<String> {
    let from_event = match done {
        Write::Registered { task_definition }
        | Write::CreatedService {
            task_definition, ..
        }
        | Write::ReplacedService {
            task_definition, ..
        }
        | Write::StartedTasks {
            task_definition, ..
        } => Some(task_definition.as_str()),
        _ => None,
    };
    let planned = match action {
        Action::CreateService {
            task_definition, ..
        }
        | Action::UpdateService {
            task_definition, ..
        }
        | Action::ReplaceService {
            task_definition, ..
        }
        | Action::RunTask {
            task_definition, ..
        } => match task_definition {
            TaskDefinitionRef::Existing(arn) => Some(arn.as_str()),
            TaskDefinitionRef::ToRegister { .. } => registered,
        },
        _ => None,
    };
    from_event
        .or(planned)
        .map(|a| spec::arn::task_definition_short(a).to_owned())
}
