//! `AwsApi` over aws-sdk-ecs, aws-sdk-iam and aws-sdk-secretsmanager, for one target (a region of the
//! configured account); [`SdkProvider`] builds one per target from one loaded configuration.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use plan::ObservedService;
use spec::document::TaskDefinitionDocument;

use client::api::AwsApi;
use client::call::{self, Answer, Request};
use client::{AwsError, Operation, Result, Target};

mod ecs_calls;
mod iam_calls;
mod scaling_calls;

use crate::error::{answer, lacking};
use crate::response;

/// Where and how to reach AWS; every field falls back to the standard chain
/// (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ...).
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `--region`.
    pub region: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
}

/// For writes that are not idempotent (RegisterTaskDefinition, CreateService, RunTask): the SDK
/// must not send them again after an answer was lost, or it registers a second revision. The
/// engine retries them itself, after looking whether the first attempt landed.
fn no_retries() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
}

/// The role session name in another account, as its CloudTrail shows it.
pub const DEFAULT_SESSION_NAME: &str = "ecs-delegate-controller";

/// Attempts per idempotent call (reads, UpdateService, TagResource, DeleteService, StopTask):
/// throttles and 5xx are retried by the SDK with backoff.
const MAX_ATTEMPTS: u32 = 5;

/// Loads the shared AWS configuration.
pub async fn load_config(connection: &Connection) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(region) = &connection.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &connection.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &connection.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// The loaded configuration, from which each target's clients are built.
#[derive(Debug, Clone)]
pub struct SdkProvider {
    config: SdkConfig,
    /// Under a lease: every attempt of a target's calls is cut after this.
    attempt_timeout: Option<Duration>,
}

impl SdkProvider {
    /// Targets of the account `config` is for.
    pub fn new(config: SdkConfig) -> Self {
        SdkProvider {
            config,
            attempt_timeout: None,
        }
    }

    /// The same, with every attempt of a target's calls (ECS, IAM, Secrets Manager, Application
    /// Auto Scaling: the clients that write) cut after `timeout`. Under a lease a request is
    /// assumed to reach AWS within the write timeout or never, so no attempt waits longer. The
    /// other services' clients ([`SdkProvider::config`]: the lease table, the events queue's
    /// 20 s long polls, STS) keep the loaded timeouts.
    #[must_use]
    pub fn with_attempt_timeout(self, timeout: Duration) -> Self {
        SdkProvider {
            attempt_timeout: Some(timeout),
            ..self
        }
    }

    /// The loaded configuration (for the clients of other services: the lease table).
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The region of the configuration chain, if any.
    pub fn default_region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    /// The value of a Secrets Manager secret (GetSecretValue, its `SecretString`) or an SSM
    /// parameter (GetParameter with decryption), in the ARN's own region: the Harness API key.
    ///
    /// # Errors
    /// When the ARN is neither, or the call fails. The value is never in an error.
    pub async fn secret_value(&self, arn: &str) -> Result<String> {
        let parsed = spec::arn::Arn::parse(arn).filter(spec::arn::Arn::is_secret);
        let Some(parsed) = parsed else {
            return Err(AwsError::invalid(
                Operation::Internal,
                // Not echoed: a key given by mistake must not reach a log.
                "not a Secrets Manager secret or SSM parameter ARN \
                 (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME or \
                 arn:aws:ssm:REGION:ACCOUNT:parameter/NAME); the value given is not shown",
            ));
        };
        let region = Region::new(parsed.region.to_owned());
        let value = if parsed.service == "ssm" {
            let config = aws_sdk_ssm::config::Builder::from(&self.config)
                .region(region)
                .build();
            let request = aws_sdk_ssm::Client::from_conf(config).get_parameter();
            let request = request.name(arn).with_decryption(true);
            let out = answer(Operation::GetParameter, request.send()).await?;
            out.parameter.and_then(|p| p.value)
        } else {
            let config = aws_sdk_secretsmanager::config::Builder::from(&self.config)
                .region(region)
                .build();
            let request = aws_sdk_secretsmanager::Client::from_conf(config).get_secret_value();
            let request = request.secret_id(arn);
            answer(Operation::GetSecretValue, request.send())
                .await?
                .secret_string
        };
        value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            AwsError::invalid(Operation::Internal, format!("{arn}: has no string value"))
        })
    }

    /// The ECS and IAM clients of `target`. In another account they sign with the credentials
    /// of `spec.account`'s role: STS AssumeRole through aws-config's provider, fetched when the
    /// first call needs them and kept in the configuration's identity cache (shared by the
    /// target's clients) until shortly before they expire: one AssumeRole per target per
    /// credential lifetime, not one per call.
    pub fn clients(&self, target: &Target) -> SdkApi {
        let config = match &target.account {
            None => self.config.clone(),
            Some(account) => {
                let mut role = aws_config::sts::AssumeRoleProvider::builder(&account.role_arn)
                    .session_name(
                        account
                            .session_name
                            .as_deref()
                            .unwrap_or(DEFAULT_SESSION_NAME),
                    )
                    // STS in the target's region (a regional endpoint, as AWS recommends).
                    .region(Region::new(target.region.clone()))
                    .configure(&self.config);
                if let Some(external_id) = &account.external_id {
                    role = role.external_id(external_id);
                }
                // Configured, `build` makes no call and never waits.
                let provider = futures::executor::block_on(role.build());
                self.config
                    .to_builder()
                    .credentials_provider(
                        aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                    )
                    .build()
            }
        };
        let config = match self.attempt_timeout {
            None => config,
            Some(timeout) => {
                let mut timeouts = config
                    .timeout_config()
                    .map(aws_config::timeout::TimeoutConfig::to_builder)
                    .unwrap_or_default();
                timeouts.set_operation_attempt_timeout(Some(timeout));
                config.to_builder().timeout_config(timeouts.build()).build()
            }
        };
        let ecs = aws_sdk_ecs::config::Builder::from(&config)
            .region(Region::new(target.region.clone()))
            .build();
        let scaling = aws_sdk_applicationautoscaling::config::Builder::from(&config)
            .region(Region::new(target.region.clone()))
            .build();
        SdkApi {
            ecs: aws_sdk_ecs::Client::from_conf(ecs),
            iam: aws_sdk_iam::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            scaling: aws_sdk_applicationautoscaling::Client::from_conf(scaling),
        }
    }
}

/// The ECS and IAM APIs of one target through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkApi {
    ecs: aws_sdk_ecs::Client,
    iam: aws_sdk_iam::Client,
    secrets: aws_sdk_secretsmanager::Client,
    scaling: aws_sdk_applicationautoscaling::Client,
}

impl SdkApi {
    /// A live service and the task definition it runs (as a request document), for
    /// `import --cluster C --service S`.
    ///
    /// # Errors
    /// When either is missing, or the task definition uses what a DelegateGroup cannot express.
    pub async fn live_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<(ObservedService, TaskDefinitionDocument)> {
        let services = self
            .send(call::DescribeServices {
                cluster: cluster.to_owned(),
                names: vec![service.to_owned()],
            })
            .await?
            .complete()?;
        let live = services
            .into_iter()
            .find(|s| s.is_active())
            .ok_or_else(|| {
                AwsError::invalid(
                    Operation::DescribeServices,
                    format!("no ACTIVE service {service} in cluster {cluster}"),
                )
            })?;
        let request = self.ecs.describe_task_definition();
        let request = request.task_definition(&live.task_definition);
        let out = answer(Operation::DescribeTaskDefinition, request.send()).await?;
        let td = out
            .task_definition()
            .ok_or_else(|| lacking(Operation::DescribeTaskDefinition, "task definition"))?;
        let (document, unsupported) = response::task_definition_document(td);
        if !unsupported.is_empty() {
            return Err(AwsError::invalid(
                Operation::Internal,
                format!(
                    "{} uses {}, which a DelegateGroup cannot express; it cannot be adopted as it is",
                    live.task_definition,
                    unsupported.join(", ")
                ),
            ));
        }
        Ok((live, document))
    }
}

#[async_trait]
impl AwsApi for SdkApi {
    async fn call(&self, request: Request) -> Result<Answer> {
        Ok(match request {
            Request::DescribeServices(c) => {
                Answer::DescribeServices(self.describe_services(c).await?)
            }
            Request::DescribeTaskDefinition(c) => {
                Answer::DescribeTaskDefinition(self.describe_task_definition(c).await?)
            }
            Request::RegisterTaskDefinition(c) => {
                Answer::RegisterTaskDefinition(self.register_task_definition(c).await?)
            }
            Request::CreateService(c) => Answer::CreateService(self.create_service(c).await?),
            Request::UpdateService(c) => Answer::UpdateService(self.update_service(c).await?),
            Request::TagResource(c) => Answer::TagResource(self.tag_resource(c).await?),
            Request::UntagResource(c) => Answer::UntagResource(self.untag_resource(c).await?),
            Request::ListTasks(c) => Answer::ListTasks(self.list_tasks_page(c).await?),
            Request::DescribeTasks(c) => Answer::DescribeTasks(self.describe_tasks(c).await?),
            Request::RunTask(c) => Answer::RunTask(self.run_task(c).await?),
            Request::StopTask(c) => Answer::StopTask(self.stop_task(c).await?),
            Request::ListClusters(c) => Answer::ListClusters(self.list_clusters_page(c).await?),
            Request::ListServices(c) => Answer::ListServices(self.list_services_page(c).await?),
            Request::ScaleService(c) => Answer::ScaleService(self.scale_service(c).await?),
            Request::DeleteService(c) => Answer::DeleteService(self.delete_service(c).await?),
            Request::ListContainerInstances(c) => {
                Answer::ListContainerInstances(self.list_container_instances_page(c).await?)
            }
            Request::DescribeContainerInstances(c) => {
                Answer::DescribeContainerInstances(self.describe_container_instances(c).await?)
            }
            Request::ListServiceDeployments(c) => {
                Answer::ListServiceDeployments(self.list_service_deployments(c).await?)
            }
            Request::DescribeServiceDeployments(c) => {
                Answer::DescribeServiceDeployments(self.describe_service_deployments(c).await?)
            }
            Request::DescribeServiceRevisions(c) => {
                Answer::DescribeServiceRevisions(self.describe_service_revisions(c).await?)
            }
            Request::GetRole(c) => Answer::GetRole(self.get_role(c).await?),
            Request::ListRolePolicies(c) => {
                Answer::ListRolePolicies(self.list_role_policies(c).await?)
            }
            Request::GetRolePolicy(c) => Answer::GetRolePolicy(self.get_role_policy(c).await?),
            Request::ListAttachedRolePolicies(c) => {
                Answer::ListAttachedRolePolicies(self.list_attached_role_policies(c).await?)
            }
            Request::PolicyDefaultVersion(c) => {
                Answer::PolicyDefaultVersion(self.policy_default_version(c).await?)
            }
            Request::GetPolicyVersion(c) => {
                Answer::GetPolicyVersion(self.get_policy_version(c).await?)
            }
            Request::SecretKmsKey(c) => Answer::SecretKmsKey(self.secret_kms_key(c).await?),
            Request::DescribeScalableTargets(c) => {
                Answer::DescribeScalableTargets(self.describe_scalable_targets(c).await?)
            }
            Request::DescribeScalingPolicies(c) => {
                Answer::DescribeScalingPolicies(self.describe_scaling_policies(c).await?)
            }
            Request::RegisterScalableTarget(c) => {
                Answer::RegisterScalableTarget(self.register_scalable_target(c).await?)
            }
            Request::PutScalingPolicy(c) => {
                Answer::PutScalingPolicy(self.put_scaling_policy(c).await?)
            }
            Request::DeregisterScalableTarget(c) => {
                Answer::DeregisterScalableTarget(self.deregister_scalable_target(c).await?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::timeout::TimeoutConfig;

    fn attempt(timeouts: Option<&TimeoutConfig>) -> Option<Duration> {
        timeouts.and_then(TimeoutConfig::operation_attempt_timeout)
    }

    #[test]
    fn under_a_lease_only_the_targets_clients_cut_their_attempts() {
        let loaded = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .build(),
            )
            .build();
        let provider = SdkProvider::new(loaded).with_attempt_timeout(Duration::from_secs(4));
        let api = provider.clients(&Target::region("us-east-1"));
        let four = Some(Duration::from_secs(4));
        assert_eq!(attempt(api.ecs.config().timeout_config()), four);
        assert_eq!(attempt(api.iam.config().timeout_config()), four);
        assert_eq!(attempt(api.scaling.config().timeout_config()), four);
        // The lease table's, STS's and the events queue's clients (20 s long polls) keep the
        // loaded timeouts.
        assert_eq!(
            attempt(provider.config().timeout_config()),
            Some(Duration::from_secs(20))
        );
    }
}
