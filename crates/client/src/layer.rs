//! Decorators of the AWS boundary (rate limiting, metrics) as one generic call path.
//!
//! A [`Layer`] sees every call as its typed [`Operation`] and the call's future; [`Layered`]
//! implements the client traits once for every layer. Adding an API call means adding it to the
//! traits, the SDK adapter, the fake and here; no decorator repeats the signatures.

use std::future::Future;

use async_trait::async_trait;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use spec::document::{RunTaskDocument, ServiceDocument, Tag, TaskDefinitionDocument};

use crate::api::{EcsApi, IamApi, ObservedRole, Page, RunTaskOutput, TaskFilter};
use crate::error::Result;
use crate::operation::Operation;

/// Something done around every AWS call.
pub trait Layer: Send + Sync {
    /// Runs `call` (an `operation`), doing the layer's work before and after it.
    fn around<'a, T: Send + 'a>(
        &'a self,
        operation: Operation,
        call: impl Future<Output = Result<T>> + Send + 'a,
    ) -> impl Future<Output = Result<T>> + Send + 'a;
}

/// An API with a layer around each of its calls.
#[derive(Debug)]
pub struct Layered<A, L> {
    inner: A,
    layer: L,
}

impl<A, L> Layered<A, L> {
    /// `inner` with `layer` around every call.
    pub fn new(inner: A, layer: L) -> Self {
        Layered { inner, layer }
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }
}

// Deliberately the trait's signatures again, once for every layer: the one generic call path.
#[async_trait]
impl<A: EcsApi, L: Layer> EcsApi for Layered<A, L> {
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>> {
        let call = self.inner.describe_services(cluster, names);
        self.layer.around(Operation::DescribeServices, call).await
    }

    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let call = self.inner.describe_task_definition(task_definition);
        self.layer
            .around(Operation::DescribeTaskDefinition, call)
            .await
    }

    async fn register_task_definition(
        &self,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition> {
        let call = self.inner.register_task_definition(document, tags);
        self.layer
            .around(Operation::RegisterTaskDefinition, call)
            .await
    }

    async fn create_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<ObservedService> {
        let call = self
            .inner
            .create_service(document, task_definition, tags, client_token);
        self.layer.around(Operation::CreateService, call).await
    }

    async fn update_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
    ) -> Result<ObservedService> {
        let call = self.inner.update_service(document, task_definition);
        self.layer.around(Operation::UpdateService, call).await
    }

    async fn tag_resource(&self, arn: &str, tags: &[Tag]) -> Result<()> {
        let call = self.inner.tag_resource(arn, tags);
        self.layer.around(Operation::TagResource, call).await
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        let call = self.inner.untag_resource(arn, keys);
        self.layer.around(Operation::UntagResource, call).await
    }

    async fn list_tasks_page(
        &self,
        cluster: &str,
        filter: &TaskFilter,
        next_token: Option<String>,
    ) -> Result<Page> {
        let call = self.inner.list_tasks_page(cluster, filter, next_token);
        self.layer.around(Operation::ListTasks, call).await
    }

    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<ObservedTask>> {
        let call = self.inner.describe_tasks(cluster, arns);
        self.layer.around(Operation::DescribeTasks, call).await
    }

    async fn run_task(
        &self,
        document: &RunTaskDocument,
        task_definition: &str,
        count: i32,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<RunTaskOutput> {
        let call = self
            .inner
            .run_task(document, task_definition, count, tags, client_token);
        self.layer.around(Operation::RunTask, call).await
    }

    async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> Result<()> {
        let call = self.inner.stop_task(cluster, arn, reason);
        self.layer.around(Operation::StopTask, call).await
    }

    async fn list_clusters_page(&self, next_token: Option<String>) -> Result<Page> {
        let call = self.inner.list_clusters_page(next_token);
        self.layer.around(Operation::ListClusters, call).await
    }

    async fn list_services_page(&self, cluster: &str, next_token: Option<String>) -> Result<Page> {
        let call = self.inner.list_services_page(cluster, next_token);
        self.layer.around(Operation::ListServices, call).await
    }

    async fn scale_service(&self, cluster: &str, service: &str, count: i32) -> Result<()> {
        let call = self.inner.scale_service(cluster, service, count);
        self.layer.around(Operation::UpdateService, call).await
    }

    async fn delete_service(&self, cluster: &str, service: &str) -> Result<()> {
        let call = self.inner.delete_service(cluster, service);
        self.layer.around(Operation::DeleteService, call).await
    }

    async fn list_container_instances_page(
        &self,
        cluster: &str,
        next_token: Option<String>,
    ) -> Result<Page> {
        let call = self
            .inner
            .list_container_instances_page(cluster, next_token);
        self.layer
            .around(Operation::ListContainerInstances, call)
            .await
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<InstanceCapacity>> {
        let call = self.inner.describe_container_instances(cluster, arns);
        self.layer
            .around(Operation::DescribeContainerInstances, call)
            .await
    }
}

#[async_trait]
impl<A: IamApi, L: Layer> IamApi for Layered<A, L> {
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>> {
        let call = self.inner.get_role(name);
        self.layer.around(Operation::GetRole, call).await
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>> {
        let call = self.inner.list_role_policies(role);
        self.layer.around(Operation::ListRolePolicies, call).await
    }

    async fn get_role_policy(&self, role: &str, policy: &str) -> Result<String> {
        let call = self.inner.get_role_policy(role, policy);
        self.layer.around(Operation::GetRolePolicy, call).await
    }

    async fn list_attached_role_policies(&self, role: &str) -> Result<Vec<String>> {
        let call = self.inner.list_attached_role_policies(role);
        self.layer
            .around(Operation::ListAttachedRolePolicies, call)
            .await
    }

    async fn policy_default_version(&self, arn: &str) -> Result<String> {
        let call = self.inner.policy_default_version(arn);
        self.layer.around(Operation::GetPolicy, call).await
    }

    async fn get_policy_version(&self, arn: &str, version: &str) -> Result<String> {
        let call = self.inner.get_policy_version(arn, version);
        self.layer.around(Operation::GetPolicyVersion, call).await
    }

    async fn secret_kms_key(&self, secret_arn: &str) -> Result<Option<String>> {
        let call = self.inner.secret_kms_key(secret_arn);
        self.layer.around(Operation::DescribeSecret, call).await
    }
}
