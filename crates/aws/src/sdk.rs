//! `EcsApi` over aws-sdk-ecs: one client per region, built from one loaded configuration.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::types as ecs;
use plan::{ObservedService, ObservedTaskDefinition};
use spec::document::{ServiceDocument, Tag, TaskDefinitionDocument};

use crate::api::EcsApi;
use crate::convert;
use crate::error::{AwsError, ErrorKind, Result};

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

/// Loads the shared AWS configuration.
pub async fn load_config(connection: &Connection) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
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

/// The ECS API through the AWS SDK.
#[derive(Debug)]
pub struct SdkEcs {
    config: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_ecs::Client>>,
}

impl SdkEcs {
    /// A client factory over a loaded configuration.
    pub fn new(config: SdkConfig) -> Self {
        SdkEcs {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The region of the configuration chain, if any.
    pub fn default_region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    fn client(&self, region: &str) -> aws_sdk_ecs::Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_ecs::config::Builder::from(&self.config)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_ecs::Client::from_conf(config)
            })
            .clone()
    }
}

#[async_trait]
impl EcsApi for SdkEcs {
    async fn describe_services(
        &self,
        region: &str,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>> {
        let out = self
            .client(region)
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.to_vec()))
            .include(ecs::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeServices", e))?;
        Ok(out
            .services()
            .iter()
            .map(convert::observed_service)
            .collect())
    }

    async fn describe_task_definition(
        &self,
        region: &str,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let result = self
            .client(region)
            .describe_task_definition()
            .task_definition(task_definition)
            .include(ecs::TaskDefinitionField::Tags)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .task_definition()
                .map(|td| convert::observed_task_definition(td, out.tags.as_deref()))),
            Err(e) => {
                let error = AwsError::from_sdk("DescribeTaskDefinition", e);
                // ECS answers a missing task definition with ClientException "Unable to describe
                // task definition"; treat it (and NotFound) as absence.
                if error.kind == ErrorKind::NotFound
                    || (error.code.as_deref() == Some("ClientException")
                        && error
                            .message
                            .to_ascii_lowercase()
                            .contains("describe task definition"))
                {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    async fn register_task_definition(
        &self,
        region: &str,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition> {
        let out = convert::register_request(&self.client(region), document, tags)?
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("RegisterTaskDefinition", e))?;
        let td = out.task_definition().ok_or_else(|| {
            AwsError::invalid(
                "RegisterTaskDefinition",
                "the response has no task definition",
            )
        })?;
        Ok(convert::observed_task_definition(td, out.tags.as_deref()))
    }

    async fn create_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
    ) -> Result<ObservedService> {
        let fields = convert::service_fields(document)?;
        let out = self
            .client(region)
            .create_service()
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
            .set_tags(Some(convert::tags(tags)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateService", e))?;
        out.service()
            .map(convert::observed_service)
            .ok_or_else(|| AwsError::invalid("CreateService", "the response has no service"))
    }

    async fn update_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> Result<ObservedService> {
        let fields = convert::service_fields(document)?;
        let out = self
            .client(region)
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
            .force_new_deployment(force_new_deployment)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateService", e))?;
        out.service()
            .map(convert::observed_service)
            .ok_or_else(|| AwsError::invalid("UpdateService", "the response has no service"))
    }

    async fn tag_resource(&self, region: &str, arn: &str, tags: &[Tag]) -> Result<()> {
        self.client(region)
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(convert::tags(tags)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("TagResource", e))?;
        Ok(())
    }
}
