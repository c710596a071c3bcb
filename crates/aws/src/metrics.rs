//! AWS API-call metrics: a decorator over any `EcsApi` that counts calls by operation and
//! outcome, counts throttles, and times each call.

use std::future::Future;
use std::time::Instant;

use async_trait::async_trait;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use spec::document::{RunTaskDocument, ServiceDocument, Tag, TaskDefinitionDocument};

use crate::api::{EcsApi, IamApi, ObservedRole, RunTaskOutput, TaskFilter};
use crate::error::{ErrorKind, Result};

/// Labels of a call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// e.g. DescribeServices.
    pub operation: String,
    /// ok, not_found, throttled, conflict, invalid, access_denied, transport, other.
    pub outcome: String,
}

/// Labels of a timing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// e.g. DescribeServices.
    pub operation: String,
}

/// The metrics of the AWS boundary.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    /// Calls by operation and outcome.
    pub calls: Family<CallLabels, Counter>,
    /// Calls that ended throttled (after the SDK's retries).
    pub throttles: Counter,
    /// Call latency by operation, seconds.
    pub duration: Family<OperationLabels, Histogram>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            calls: Family::default(),
            throttles: Counter::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 12))
            }),
        }
    }
}

impl ApiMetrics {
    /// Registers the metrics under `registry` (prefix `aws_`).
    pub fn register(&self, registry: &mut Registry) {
        let aws = registry.sub_registry_with_prefix("aws");
        aws.register(
            "calls",
            "AWS API calls by operation and outcome",
            self.calls.clone(),
        );
        aws.register(
            "throttles",
            "AWS API calls that ended throttled after the SDK's retries",
            self.throttles.clone(),
        );
        aws.register(
            "call_duration_seconds",
            "AWS API call latency by operation",
            self.duration.clone(),
        );
    }

    fn outcome(kind: Option<ErrorKind>) -> &'static str {
        match kind {
            None => "ok",
            Some(ErrorKind::NotFound) => "not_found",
            Some(ErrorKind::Throttled) => "throttled",
            Some(ErrorKind::Conflict) => "conflict",
            Some(ErrorKind::Invalid) => "invalid",
            Some(ErrorKind::AccessDenied) => "access_denied",
            Some(ErrorKind::Transport) => "transport",
            Some(ErrorKind::Other) => "other",
        }
    }

    async fn observe<T>(
        &self,
        operation: &str,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let result = call.await;
        let kind = result.as_ref().err().map(|e| e.kind);
        self.duration
            .get_or_create(&OperationLabels {
                operation: operation.into(),
            })
            .observe(start.elapsed().as_secs_f64());
        self.calls
            .get_or_create(&CallLabels {
                operation: operation.into(),
                outcome: Self::outcome(kind).into(),
            })
            .inc();
        if kind == Some(ErrorKind::Throttled) {
            self.throttles.inc();
        }
        result
    }
}

/// An `EcsApi` whose calls are measured.
#[derive(Debug)]
pub struct Metered<A> {
    inner: A,
    metrics: ApiMetrics,
}

impl<A> Metered<A> {
    /// Measures `inner` into `metrics`.
    pub fn new(inner: A, metrics: ApiMetrics) -> Self {
        Metered { inner, metrics }
    }

    /// The measured API.
    pub fn inner(&self) -> &A {
        &self.inner
    }
}

#[async_trait]
impl<A: EcsApi> EcsApi for Metered<A> {
    async fn describe_services(
        &self,
        region: &str,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>> {
        let call = self.inner.describe_services(region, cluster, names);
        self.metrics.observe("DescribeServices", call).await
    }

    async fn describe_task_definition(
        &self,
        region: &str,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let call = self.inner.describe_task_definition(region, task_definition);
        self.metrics.observe("DescribeTaskDefinition", call).await
    }

    async fn register_task_definition(
        &self,
        region: &str,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition> {
        let call = self.inner.register_task_definition(region, document, tags);
        self.metrics.observe("RegisterTaskDefinition", call).await
    }

    async fn create_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
    ) -> Result<ObservedService> {
        let call = self
            .inner
            .create_service(region, document, task_definition, tags);
        self.metrics.observe("CreateService", call).await
    }

    async fn update_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> Result<ObservedService> {
        let call =
            self.inner
                .update_service(region, document, task_definition, force_new_deployment);
        self.metrics.observe("UpdateService", call).await
    }

    async fn tag_resource(&self, region: &str, arn: &str, tags: &[Tag]) -> Result<()> {
        let call = self.inner.tag_resource(region, arn, tags);
        self.metrics.observe("TagResource", call).await
    }

    async fn list_tasks(
        &self,
        region: &str,
        cluster: &str,
        filter: &TaskFilter,
    ) -> Result<Vec<String>> {
        let call = self.inner.list_tasks(region, cluster, filter);
        self.metrics.observe("ListTasks", call).await
    }

    async fn describe_tasks(
        &self,
        region: &str,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ObservedTask>> {
        let call = self.inner.describe_tasks(region, cluster, arns);
        self.metrics.observe("DescribeTasks", call).await
    }

    async fn run_task(
        &self,
        region: &str,
        document: &RunTaskDocument,
        task_definition: &str,
        count: i32,
        tags: &[Tag],
    ) -> Result<RunTaskOutput> {
        let call = self
            .inner
            .run_task(region, document, task_definition, count, tags);
        self.metrics.observe("RunTask", call).await
    }

    async fn stop_task(&self, region: &str, cluster: &str, arn: &str, reason: &str) -> Result<()> {
        let call = self.inner.stop_task(region, cluster, arn, reason);
        self.metrics.observe("StopTask", call).await
    }

    async fn list_clusters(&self, region: &str) -> Result<Vec<String>> {
        let call = self.inner.list_clusters(region);
        self.metrics.observe("ListClusters", call).await
    }

    async fn list_services(&self, region: &str, cluster: &str) -> Result<Vec<String>> {
        let call = self.inner.list_services(region, cluster);
        self.metrics.observe("ListServices", call).await
    }

    async fn scale_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        count: i32,
    ) -> Result<()> {
        let call = self.inner.scale_service(region, cluster, service, count);
        self.metrics.observe("UpdateService", call).await
    }

    async fn delete_service(&self, region: &str, cluster: &str, service: &str) -> Result<()> {
        let call = self.inner.delete_service(region, cluster, service);
        self.metrics.observe("DeleteService", call).await
    }

    async fn container_instances(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<Vec<InstanceCapacity>> {
        let call = self.inner.container_instances(region, cluster);
        self.metrics
            .observe("DescribeContainerInstances", call)
            .await
    }
}

#[async_trait]
impl<A: IamApi> IamApi for Metered<A> {
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>> {
        let call = self.inner.get_role(name);
        self.metrics.observe("GetRole", call).await
    }
}
