//! Writes that are not idempotent (RegisterTaskDefinition, CreateService) made exactly once:
//! after a failure whose answer may have been lost, look whether it landed before trying again.
//! Also the replacement of a service (delete, wait for the name, create).

use client::call;
use client::{AwsApi, AwsError, ErrorKind, Operation};
use client::{ClientProvider, Target};
use plan::{DesiredGroup, GroupError, ObservedService, ObservedTaskDefinition};
use tracing::warn;

use crate::Engine;

/// An AWS failure as a group's error; throttles, transport failures and 5xx are retryable.
pub fn group_error(error: AwsError) -> GroupError {
    let reason = if error.code.as_deref() == Some(client::error::CREDENTIALS_UNAVAILABLE) {
        plan::Reason::AssumeRoleFailed
    } else {
        plan::Reason::ReconcileError
    };
    GroupError::new(reason, error.to_string())
        .retryable(retryable(&error))
        .caused_by(error)
}

/// Attempts of a write that is not idempotent, each after looking whether the last one landed.
pub(crate) const WRITE_ATTEMPTS: u32 = 5;

/// Whether a failed write may be tried again (after re-observing).
pub(crate) fn retryable(error: &AwsError) -> bool {
    matches!(
        error.kind,
        ErrorKind::Throttled | ErrorKind::Transport | ErrorKind::Other
    )
}

/// A new idempotency token for one write and all its retries (ECS takes up to 64 ASCII
/// characters; 32 hex digits of randomness).
pub(crate) fn client_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(crate) async fn write_backoff(attempt: u32) {
    let base = std::time::Duration::from_millis(200 * 2u64.pow(attempt.min(5)));
    let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
    tokio::time::sleep(base + jitter).await;
}

impl<P: ClientProvider> Engine<P> {
    /// RegisterTaskDefinition exactly once: after a failure whose answer may have been lost,
    /// the family's latest revision is checked for the hash before trying again.
    pub(crate) async fn register_once(
        &self,
        target: &Target,
        document: &spec::document::TaskDefinitionDocument,
        spec_hash: &str,
        tags: &[spec::document::Tag],
    ) -> Result<ObservedTaskDefinition, AwsError> {
        let mut attempt = 0;
        loop {
            let register = call::RegisterTaskDefinition {
                document: document.clone(),
                tags: tags.to_vec(),
            };
            match self.client(target).send(register).await {
                Ok(r) => return Ok(r),
                Err(e) if retryable(&e) && attempt + 1 < WRITE_ATTEMPTS => {
                    warn!(error = %e, "RegisterTaskDefinition failed; checking whether it landed");
                    write_backoff(attempt).await;
                    attempt += 1;
                    let latest = self.describe_task_definition(target, &document.family);
                    if let Ok(Some(latest)) = latest.await {
                        if latest.spec_hash.as_deref() == Some(spec_hash) {
                            return Ok(latest);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// CreateService exactly once: after a failure whose answer may have been lost, the service
    /// is looked up before trying again ("already exists" is then success, not an error).
    /// CreateService's answer, when it was the one that created it.
    pub(crate) async fn create_once(
        &self,
        target: &Target,
        document: &spec::document::ServiceDocument,
        task_definition: &str,
        tags: &[spec::document::Tag],
    ) -> Result<Option<ObservedService>, AwsError> {
        let mut attempt = 0;
        // One token for every attempt: ECS answers a repeat with the service it created.
        let token = client_token();
        loop {
            let create = call::CreateService {
                document: document.clone(),
                task_definition: task_definition.to_owned(),
                tags: tags.to_vec(),
                client_token: token.clone(),
            };
            let failed = match self.client(target).send(create).await {
                Ok(created) => return Ok(Some(created)),
                Err(e) => e,
            };
            let ours =
                |s: &ObservedService| s.is_active() && s.is_ours(&self.options.controller_id);
            // Retried with the same name, ECS answers that creation was not idempotent: the
            // first attempt landed.
            let maybe_landed = retryable(&failed) || failed.kind == ErrorKind::Invalid;
            if maybe_landed && attempt + 1 < WRITE_ATTEMPTS {
                warn!(error = %failed, "CreateService failed; checking whether it landed");
                write_backoff(attempt).await;
                attempt += 1;
                let found = self
                    .describe_service(target, &document.cluster, &document.service_name)
                    .await?;
                if found.iter().any(ours) {
                    return Ok(None);
                }
                if !retryable(&failed) {
                    return Err(failed);
                }
            } else {
                return Err(failed);
            }
        }
    }

    /// DescribeServices of one name (a list: ECS may still list an INACTIVE one).
    pub(crate) async fn describe_service(
        &self,
        target: &Target,
        cluster: &str,
        name: &str,
    ) -> Result<Vec<ObservedService>, AwsError> {
        let describe = call::DescribeServices {
            cluster: cluster.to_owned(),
            names: vec![name.to_owned()],
        };
        self.client(target).send(describe).await?.complete()
    }

    /// Creates the group's service with its ownership tags, exactly once.
    pub(crate) async fn create_group_service(
        &self,
        d: &DesiredGroup,
        document: &spec::document::ServiceDocument,
        task_definition: &str,
    ) -> Result<(), AwsError> {
        let tags = d.service_tags(&self.options.controller_id, task_definition);
        let created = self
            .create_once(
                &d.target,
                document,
                task_definition,
                &plan::desired::to_tag_list(&tags),
            )
            .await?;
        if let Some(mut created) = created {
            // Until DescribeServices shows it, the next pass sees this answer, with the tags
            // the service was created with (CreateService need not echo them).
            if created.tags.is_empty() {
                created.tags = tags;
            }
            self.unlisted().created(crate::group_key(d), created);
        }
        Ok(())
    }

    /// Deletes the service `previous` (scaled to 0 first) and creates the group's service in
    /// its place. Under the same name it first waits until the name is free (DRAINING blocks
    /// it on ECS). Under a new name (a rename) nothing blocks it; the old one still goes first,
    /// so a failure between the two steps is repaired by the next pass (the old one is
    /// DRAINING, the new one is simply created), where created first, a failed deletion would
    /// leave both fleets running.
    pub(crate) async fn replace_service(
        &self,
        d: &DesiredGroup,
        previous: &str,
        document: &spec::document::ServiceDocument,
        task_definition: &str,
    ) -> Result<(), AwsError> {
        let name = &document.service_name;
        if previous != name {
            self.delete_service(&d.target, &document.cluster, previous)
                .await?;
            return self
                .create_group_service(d, document, task_definition)
                .await;
        }
        let current = self
            .describe_service(&d.target, &document.cluster, name)
            .await?;
        if current.iter().any(|s| s.is_active()) {
            self.delete_service(&d.target, &document.cluster, name)
                .await?;
        }
        let deadline = tokio::time::Instant::now() + REPLACE_WAIT;
        loop {
            let services = self
                .describe_service(&d.target, &document.cluster, name)
                .await?;
            if services
                .iter()
                .all(|s| s.status == plan::ServiceStatus::Inactive)
            {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(AwsError::invalid(
                    Operation::CreateService,
                    format!("service {name} still blocks its name after deletion; try again later"),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        self.create_group_service(d, document, task_definition)
            .await
    }
}

/// How long a replacement waits for a deleted service to free its name.
const REPLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(600);
