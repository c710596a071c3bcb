//! The client-side rate limiter: one token bucket per region and action family, at ECS's
//! documented burst and sustained rates, so a large fleet slows itself down instead of being
//! throttled. `scale` multiplies the sustained rates (bursts stay as documented).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use spec::document::{RunTaskDocument, ServiceDocument, Tag, TaskDefinitionDocument};

use crate::api::{EcsApi, IamApi, ObservedRole, RunTaskOutput, TaskFilter};
use crate::error::Result;

/// (burst, sustained per second) of an action family.
pub fn family_rate(operation: &str) -> (&'static str, f64, f64) {
    match operation {
        "DescribeServices" | "ListServices" => ("describe-services", 100.0, 20.0),
        "CreateService" | "UpdateService" | "DeleteService" => ("mutate-services", 50.0, 5.0),
        "RegisterTaskDefinition" => ("register-task-definition", 20.0, 1.0),
        "ListTasks" | "DescribeTasks" => ("describe-tasks", 100.0, 20.0),
        "RunTask" => ("run-task", 100.0, 40.0),
        _ => ("other", 50.0, 20.0),
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    updated: Instant,
}

/// The limiter; `None` scale means off.
#[derive(Debug)]
pub struct RateLimited<A> {
    inner: A,
    scale: Option<f64>,
    buckets: Mutex<HashMap<(String, &'static str), Bucket>>,
}

impl<A> RateLimited<A> {
    /// Limits `inner` at ECS's rates times `scale`; `None` passes every call through.
    pub fn new(inner: A, scale: Option<f64>) -> Self {
        RateLimited {
            inner,
            scale: scale.filter(|s| *s > 0.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The limited API.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Waits for a token of `operation`'s family in `region`.
    async fn acquire(&self, region: &str, operation: &str) {
        let Some(scale) = self.scale else { return };
        let (family, burst, rate) = family_rate(operation);
        let rate = rate * scale;
        loop {
            let wait = {
                let mut buckets = self
                    .buckets
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let bucket = buckets
                    .entry((region.to_owned(), family))
                    .or_insert_with(|| Bucket {
                        tokens: burst,
                        burst,
                        rate,
                        updated: Instant::now(),
                    });
                let now = Instant::now();
                let elapsed = now.duration_since(bucket.updated).as_secs_f64();
                bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.burst);
                bucket.updated = now;
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[async_trait]
impl<A: EcsApi> EcsApi for RateLimited<A> {
    async fn describe_services(
        &self,
        region: &str,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>> {
        self.acquire(region, "DescribeServices").await;
        self.inner.describe_services(region, cluster, names).await
    }
    async fn describe_task_definition(
        &self,
        region: &str,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>> {
        self.acquire(region, "DescribeTaskDefinition").await;
        self.inner
            .describe_task_definition(region, task_definition)
            .await
    }
    async fn register_task_definition(
        &self,
        region: &str,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition> {
        self.acquire(region, "RegisterTaskDefinition").await;
        self.inner
            .register_task_definition(region, document, tags)
            .await
    }
    async fn create_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
    ) -> Result<ObservedService> {
        self.acquire(region, "CreateService").await;
        self.inner
            .create_service(region, document, task_definition, tags)
            .await
    }
    async fn update_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> Result<ObservedService> {
        self.acquire(region, "UpdateService").await;
        self.inner
            .update_service(region, document, task_definition, force_new_deployment)
            .await
    }
    async fn tag_resource(&self, region: &str, arn: &str, tags: &[Tag]) -> Result<()> {
        self.acquire(region, "TagResource").await;
        self.inner.tag_resource(region, arn, tags).await
    }
    async fn list_tasks(
        &self,
        region: &str,
        cluster: &str,
        filter: &TaskFilter,
    ) -> Result<Vec<String>> {
        self.acquire(region, "ListTasks").await;
        self.inner.list_tasks(region, cluster, filter).await
    }
    async fn describe_tasks(
        &self,
        region: &str,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ObservedTask>> {
        self.acquire(region, "DescribeTasks").await;
        self.inner.describe_tasks(region, cluster, arns).await
    }
    async fn run_task(
        &self,
        region: &str,
        document: &RunTaskDocument,
        task_definition: &str,
        count: i32,
        tags: &[Tag],
    ) -> Result<RunTaskOutput> {
        self.acquire(region, "RunTask").await;
        self.inner
            .run_task(region, document, task_definition, count, tags)
            .await
    }
    async fn stop_task(&self, region: &str, cluster: &str, arn: &str, reason: &str) -> Result<()> {
        self.acquire(region, "StopTask").await;
        self.inner.stop_task(region, cluster, arn, reason).await
    }
    async fn list_clusters(&self, region: &str) -> Result<Vec<String>> {
        self.acquire(region, "ListClusters").await;
        self.inner.list_clusters(region).await
    }
    async fn list_services(&self, region: &str, cluster: &str) -> Result<Vec<String>> {
        self.acquire(region, "ListServices").await;
        self.inner.list_services(region, cluster).await
    }
    async fn scale_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        count: i32,
    ) -> Result<()> {
        self.acquire(region, "UpdateService").await;
        self.inner
            .scale_service(region, cluster, service, count)
            .await
    }
    async fn delete_service(&self, region: &str, cluster: &str, service: &str) -> Result<()> {
        self.acquire(region, "DeleteService").await;
        self.inner.delete_service(region, cluster, service).await
    }
    async fn container_instances(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<Vec<InstanceCapacity>> {
        self.acquire(region, "DescribeContainerInstances").await;
        self.inner.container_instances(region, cluster).await
    }
}

#[async_trait]
impl<A: IamApi> IamApi for RateLimited<A> {
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>> {
        self.acquire("iam", "GetRole").await;
        self.inner.get_role(name).await
    }
}

/// Whether an endpoint is on this machine (a test endpoint): the limiter is then off unless a
/// scale is given.
pub fn is_local_endpoint(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host == "localhost" || host.starts_with("127.") || url.contains("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeEcs;

    #[tokio::test(start_paused = true)]
    async fn a_family_gets_its_burst_then_its_sustained_rate() {
        let fake = FakeEcs::new();
        fake.add_cluster("r", "c");
        let limited = RateLimited::new(fake, Some(1.0));
        let start = tokio::time::Instant::now();
        for _ in 0..22 {
            limited.describe_task_definition("r", "f").await.unwrap();
            limited
                .register_task_definition("r", &doc(), &[])
                .await
                .unwrap();
        }
        // 20 registrations of burst, then 1 per second: the 22nd waits 2 s.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn off_means_no_waiting() {
        let limited = RateLimited::new(FakeEcs::new(), None);
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            limited
                .register_task_definition("r", &doc(), &[])
                .await
                .unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn local_endpoints() {
        assert!(is_local_endpoint("http://127.0.0.1:5000"));
        assert!(is_local_endpoint("http://localhost:5000/"));
        assert!(!is_local_endpoint("https://ecs.us-east-1.amazonaws.com"));
    }

    fn doc() -> TaskDefinitionDocument {
        TaskDefinitionDocument {
            family: "f".into(),
            container_definitions: Vec::new(),
            requires_compatibilities: Vec::new(),
            network_mode: None,
            cpu: None,
            memory: None,
            task_role_arn: None,
            execution_role_arn: None,
            volumes: Vec::new(),
            placement_constraints: Vec::new(),
            runtime_platform: None,
            ephemeral_storage: None,
            pid_mode: None,
        }
    }
}
