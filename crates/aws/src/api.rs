//! The narrow boundary between the engine and ECS: the calls the engine needs, in domain types.
//! The SDK implementation (`sdk`) is tested end to end; the engine is tested with `fake`.

use async_trait::async_trait;
use plan::{ObservedService, ObservedTaskDefinition};
use spec::document::{ServiceDocument, Tag, TaskDefinitionDocument};

use crate::error::Result;

/// The ECS calls the engine makes. `region` selects the regional endpoint.
#[async_trait]
pub trait EcsApi: Send + Sync {
    /// DescribeServices with tags for at most 10 names; services ECS does not know are omitted.
    async fn describe_services(
        &self,
        region: &str,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>>;

    /// DescribeTaskDefinition with tags, by ARN, `family:revision` or family (its latest ACTIVE
    /// revision); `None` when there is no such task definition.
    async fn describe_task_definition(
        &self,
        region: &str,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>>;

    /// RegisterTaskDefinition.
    async fn register_task_definition(
        &self,
        region: &str,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition>;

    /// CreateService running `task_definition` (a full ARN).
    async fn create_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
    ) -> Result<ObservedService>;

    /// UpdateService with every field the controller owns.
    async fn update_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> Result<ObservedService>;

    /// TagResource (adds or overwrites the given tags).
    async fn tag_resource(&self, region: &str, arn: &str, tags: &[Tag]) -> Result<()>;
}
