//! `EcsApi` over aws-sdk-ecs and `IamApi` over aws-sdk-iam, for one target (a region of the
//! configured account); [`SdkProvider`] builds one per target from one loaded configuration.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::types as ecs;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use spec::document::{RunTaskDocument, ServiceDocument, Tag, TaskDefinitionDocument};

use client::api::{
    decode_policy, trusted_services, EcsApi, IamApi, ObservedRole, Page, RunTaskOutput, TaskFilter,
};
use client::{AwsError, ErrorKind, Operation, Result, Target};

use crate::error::from_sdk;
use crate::{request, response};

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
}

impl SdkProvider {
    /// Targets of the account `config` is for.
    pub fn new(config: SdkConfig) -> Self {
        SdkProvider { config }
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
            aws_sdk_ssm::Client::from_conf(config)
                .get_parameter()
                .name(arn)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| from_sdk(Operation::GetParameter, e))?
                .parameter
                .and_then(|p| p.value)
        } else {
            let config = aws_sdk_secretsmanager::config::Builder::from(&self.config)
                .region(region)
                .build();
            aws_sdk_secretsmanager::Client::from_conf(config)
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| from_sdk(Operation::GetSecretValue, e))?
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
    pub fn clients(&self, target: &Target) -> SdkEcs {
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
        let ecs = aws_sdk_ecs::config::Builder::from(&config)
            .region(Region::new(target.region.clone()))
            .build();
        SdkEcs {
            ecs: aws_sdk_ecs::Client::from_conf(ecs),
            iam: aws_sdk_iam::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
        }
    }
}

/// The ECS and IAM APIs of one target through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkEcs {
    ecs: aws_sdk_ecs::Client,
    iam: aws_sdk_iam::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

impl SdkEcs {
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
            .describe_services(cluster, &[service.to_owned()])
            .await?;
        let live = services
            .into_iter()
            .find(|s| s.is_active())
            .ok_or_else(|| {
                AwsError::invalid(
                    Operation::DescribeServices,
                    format!("no ACTIVE service {service} in cluster {cluster}"),
                )
            })?;
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(&live.task_definition)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeTaskDefinition, e))?;
        let td = out.task_definition().ok_or_else(|| {
            AwsError::invalid(
                Operation::DescribeTaskDefinition,
                "the response has no task definition",
            )
        })?;
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

// Deliberately the trait's signatures again: an implementation must state them. The layers
// (limiter, metrics) do not: they share one call path (client::layer::Layered).
#[async_trait]
impl EcsApi for SdkEcs {
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.to_vec()))
            .include(ecs::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeServices, e))?;
        Ok(out
            .services()
            .iter()
            .map(response::observed_service)
            .collect())
    }

    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let result = self
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .include(ecs::TaskDefinitionField::Tags)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .task_definition()
                .map(|td| response::observed_task_definition(td, out.tags.as_deref()))),
            Err(e) => {
                let error = from_sdk(Operation::DescribeTaskDefinition, e);
                // "Unable to describe task definition" (no such family or revision) is
                // classified NotFound; any other error is one (client::error::classify).
                if error.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    async fn register_task_definition(
        &self,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition> {
        let out = request::register_request(&self.ecs, document, tags)?
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| from_sdk(Operation::RegisterTaskDefinition, e))?;
        let td = out.task_definition().ok_or_else(|| {
            AwsError::invalid(
                Operation::RegisterTaskDefinition,
                "the response has no task definition",
            )
        })?;
        Ok(response::observed_task_definition(td, out.tags.as_deref()))
    }

    async fn create_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<ObservedService> {
        let fields = request::service_fields(document)?;
        let out = self
            .ecs
            .create_service()
            .client_token(client_token)
            .cluster(&document.cluster)
            .service_name(&document.service_name)
            .task_definition(task_definition)
            .desired_count(document.desired_count)
            .launch_type(ecs::LaunchType::from(document.launch_type.as_str()))
            .scheduling_strategy(ecs::SchedulingStrategy::from(
                document.scheduling_strategy.as_str(),
            ))
            .set_placement_strategy(Some(fields.placement).filter(|p| !p.is_empty()))
            .set_network_configuration(fields.network)
            .deployment_configuration(fields.deployment)
            .enable_execute_command(document.enable_execute_command)
            .propagate_tags(ecs::PropagateTags::from(document.propagate_tags.as_str()))
            .set_tags(Some(request::tags(tags)))
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| from_sdk(Operation::CreateService, e))?;
        out.service()
            .map(response::observed_service)
            .ok_or_else(|| {
                AwsError::invalid(Operation::CreateService, "the response has no service")
            })
    }

    async fn update_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
    ) -> Result<ObservedService> {
        let fields = request::service_fields(document)?;
        let out = self
            .ecs
            .update_service()
            .cluster(&document.cluster)
            .service(&document.service_name)
            .task_definition(task_definition)
            .desired_count(document.desired_count)
            .set_placement_strategy(Some(fields.placement).filter(|p| !p.is_empty()))
            .set_network_configuration(fields.network)
            .deployment_configuration(fields.deployment)
            .enable_execute_command(document.enable_execute_command)
            .propagate_tags(ecs::PropagateTags::from(document.propagate_tags.as_str()))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::UpdateService, e))?;
        out.service()
            .map(response::observed_service)
            .ok_or_else(|| {
                AwsError::invalid(Operation::UpdateService, "the response has no service")
            })
    }

    async fn tag_resource(&self, arn: &str, tags: &[Tag]) -> Result<()> {
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(request::tags(tags)))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::TagResource, e))?;
        Ok(())
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.ecs
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::UntagResource, e))?;
        Ok(())
    }

    async fn list_tasks_page(
        &self,
        cluster: &str,
        filter: &TaskFilter,
        next_token: Option<String>,
    ) -> Result<Page> {
        let request = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .max_results(100)
            .set_next_token(next_token);
        let request = match filter {
            TaskFilter::StartedBy(started_by) => request.started_by(started_by),
            TaskFilter::Family {
                family,
                desired_status,
            } => request
                .family(family)
                .desired_status(ecs::DesiredStatus::from(desired_status.as_str())),
            TaskFilter::Service {
                service_name,
                desired_status,
            } => request
                .service_name(service_name)
                .desired_status(ecs::DesiredStatus::from(desired_status.as_str())),
        };
        let page = request
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListTasks, e))?;
        Ok(Page {
            items: page.task_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<ObservedTask>> {
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns.to_vec()))
            .include(ecs::TaskField::Tags)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeTasks, e))?;
        Ok(out.tasks().iter().map(response::observed_task).collect())
    }

    async fn run_task(
        &self,
        document: &RunTaskDocument,
        task_definition: &str,
        count: i32,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<RunTaskOutput> {
        let network = document
            .network_configuration
            .as_ref()
            .map(request::network)
            .transpose()?;
        let placement = request::placement(&document.placement_strategy);
        let out = self
            .ecs
            .run_task()
            .client_token(client_token)
            .cluster(&document.cluster)
            .task_definition(task_definition)
            .count(count)
            .launch_type(ecs::LaunchType::from(document.launch_type.as_str()))
            .started_by(&document.started_by)
            .set_placement_strategy(Some(placement).filter(|p| !p.is_empty()))
            .set_network_configuration(network)
            .enable_execute_command(document.enable_execute_command)
            .set_tags(Some(request::tags(tags)))
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| from_sdk(Operation::RunTask, e))?;
        Ok(RunTaskOutput {
            tasks: out.tasks().iter().map(response::observed_task).collect(),
            failures: out
                .failures()
                .iter()
                .map(|f| f.reason().unwrap_or("unknown").to_owned())
                .collect(),
        })
    }

    async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> Result<()> {
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(arn)
            .reason(reason)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::StopTask, e))?;
        Ok(())
    }

    async fn list_clusters_page(&self, next_token: Option<String>) -> Result<Page> {
        let page = self
            .ecs
            .list_clusters()
            .max_results(100)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListClusters, e))?;
        Ok(Page {
            items: page.cluster_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    async fn list_services_page(&self, cluster: &str, next_token: Option<String>) -> Result<Page> {
        let page = self
            .ecs
            .list_services()
            .cluster(cluster)
            // The most ListServices returns per page (its default is 10).
            .max_results(100)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListServices, e))?;
        Ok(Page {
            items: page.service_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    async fn scale_service(&self, cluster: &str, service: &str, count: i32) -> Result<()> {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(count)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::UpdateService, e))?;
        Ok(())
    }

    async fn delete_service(&self, cluster: &str, service: &str) -> Result<()> {
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(service)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DeleteService, e))?;
        Ok(())
    }

    async fn list_container_instances_page(
        &self,
        cluster: &str,
        next_token: Option<String>,
    ) -> Result<Page> {
        let page = self
            .ecs
            .list_container_instances()
            .cluster(cluster)
            .status(ecs::ContainerInstanceStatus::Active)
            .max_results(100)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListContainerInstances, e))?;
        Ok(Page {
            items: page.container_instance_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<InstanceCapacity>> {
        let out = self
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeContainerInstances, e))?;
        Ok(out
            .container_instances()
            .iter()
            .map(response::instance_capacity)
            .collect())
    }
}

#[async_trait]
impl IamApi for SdkEcs {
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>> {
        match self.iam.get_role().role_name(name).send().await {
            Ok(out) => Ok(out.role().map(|role| ObservedRole {
                arn: role.arn().to_owned(),
                trusted_services: role
                    .assume_role_policy_document()
                    .map(trusted_services)
                    .unwrap_or_default(),
            })),
            Err(e) => {
                let error = from_sdk(Operation::GetRole, e);
                if error.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>> {
        let mut pages = self
            .iam
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Operation::ListRolePolicies, e))?;
            names.extend(page.policy_names().iter().cloned());
        }
        Ok(names)
    }

    async fn get_role_policy(&self, role: &str, policy: &str) -> Result<String> {
        let out = self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::GetRolePolicy, e))?;
        Ok(decode_policy(out.policy_document()))
    }

    async fn list_attached_role_policies(&self, role: &str) -> Result<Vec<String>> {
        let mut pages = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Operation::ListAttachedRolePolicies, e))?;
            arns.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned)),
            );
        }
        Ok(arns)
    }

    async fn policy_default_version(&self, arn: &str) -> Result<String> {
        let out = self
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::GetPolicy, e))?;
        Ok(out
            .policy()
            .and_then(|p| p.default_version_id())
            .unwrap_or("v1")
            .to_owned())
    }

    async fn get_policy_version(&self, arn: &str, version: &str) -> Result<String> {
        let out = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::GetPolicyVersion, e))?;
        Ok(out
            .policy_version()
            .and_then(|v| v.document())
            .map(decode_policy)
            .unwrap_or_default())
    }

    async fn secret_kms_key(&self, secret_arn: &str) -> Result<Option<String>> {
        let out = self
            .secrets
            .describe_secret()
            .secret_id(secret_arn)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeSecret, e))?;
        Ok(out
            .kms_key_id()
            .filter(|k| !k.ends_with("alias/aws/secretsmanager"))
            .map(str::to_owned))
    }
}
