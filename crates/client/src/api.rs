//! The narrow boundary between the engine and ECS: the calls the engine needs, in domain types.
//! The SDK implementation (`sdk`) is tested end to end; the engine is tested with `fake`.

use async_trait::async_trait;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use spec::document::{RunTaskDocument, ServiceDocument, Tag, TaskDefinitionDocument};

use crate::error::Result;

/// The ECS calls the engine makes, against one target (an account and region): a
/// [`crate::provider::ClientProvider`] hands out one per target.
#[async_trait]
pub trait EcsApi: Send + Sync {
    /// DescribeServices with tags for at most 10 names; services ECS does not know are omitted.
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>>;

    /// DescribeTaskDefinition with tags, by ARN, `family:revision` or family (its latest ACTIVE
    /// revision); `None` when there is no such task definition.
    async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>>;

    /// RegisterTaskDefinition.
    async fn register_task_definition(
        &self,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition>;

    /// CreateService running `task_definition` (a full ARN).
    /// `client_token` makes it idempotent: ECS answers a repeated token with the first call's
    /// result instead of creating again.
    async fn create_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<ObservedService>;

    /// UpdateService with every field the controller owns.
    async fn update_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
    ) -> Result<ObservedService>;

    /// TagResource (adds or overwrites the given tags).
    async fn tag_resource(&self, arn: &str, tags: &[Tag]) -> Result<()>;

    /// UntagResource (removes the given keys).
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()>;

    /// One page of ListTasks (at most 100 ARNs), from `next_token`.
    async fn list_tasks_page(
        &self,
        cluster: &str,
        filter: &TaskFilter,
        next_token: Option<String>,
    ) -> Result<Page>;

    /// ListTasks, every page: one call (one rate-limit token, one metric) per page.
    async fn list_tasks(&self, cluster: &str, filter: &TaskFilter) -> Result<Vec<String>> {
        every_page(|token| self.list_tasks_page(cluster, filter, token)).await
    }

    /// DescribeTasks with tags for at most 100 ARNs.
    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<ObservedTask>>;

    /// RunTask for at most 10 tasks.
    /// `client_token` makes it idempotent: ECS answers a repeated token with the first call's
    /// tasks instead of starting more.
    async fn run_task(
        &self,
        document: &RunTaskDocument,
        task_definition: &str,
        count: i32,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<RunTaskOutput>;

    /// StopTask.
    async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> Result<()>;

    /// One page of ListClusters, from `next_token`.
    async fn list_clusters_page(&self, next_token: Option<String>) -> Result<Page>;

    /// ListClusters, every page: cluster ARNs.
    async fn list_clusters(&self) -> Result<Vec<String>> {
        every_page(|token| self.list_clusters_page(token)).await
    }

    /// One page of ListServices (asking for the largest, 100), from `next_token`.
    async fn list_services_page(&self, cluster: &str, next_token: Option<String>) -> Result<Page>;

    /// ListServices, every page: service ARNs.
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>> {
        every_page(|token| self.list_services_page(cluster, token)).await
    }

    /// UpdateService of the desired count alone (prune scales to 0 before deleting).
    async fn scale_service(&self, cluster: &str, service: &str, count: i32) -> Result<()>;

    /// DeleteService.
    async fn delete_service(&self, cluster: &str, service: &str) -> Result<()>;

    /// One page of ListContainerInstances (ACTIVE ones, at most 100 ARNs), from `next_token`.
    async fn list_container_instances_page(
        &self,
        cluster: &str,
        next_token: Option<String>,
    ) -> Result<Page>;

    /// DescribeContainerInstances of at most 100 ARNs: their free resources.
    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<InstanceCapacity>>;

    /// The ACTIVE container instances of a cluster and their free resources: every page of
    /// ListContainerInstances, then DescribeContainerInstances by 100, one call each.
    async fn container_instances(&self, cluster: &str) -> Result<Vec<InstanceCapacity>> {
        let arns = every_page(|token| self.list_container_instances_page(cluster, token)).await?;
        let mut instances = Vec::new();
        for chunk in arns.chunks(100) {
            instances.extend(self.describe_container_instances(cluster, chunk).await?);
        }
        Ok(instances)
    }
}

/// Which tasks ListTasks returns: only the filter combinations ECS accepts ("When you specify
/// startedBy as the filter, it must be the only filter that you use", ListTasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskFilter {
    /// Tasks started with this `startedBy`, alone; ECS then lists those whose desired status is
    /// RUNNING (its default).
    StartedBy(String),
    /// Tasks of a task definition family with a desired status.
    Family {
        /// The family.
        family: String,
        /// RUNNING or STOPPED.
        desired_status: DesiredStatus,
    },
    /// A service's tasks with a desired status.
    Service {
        /// The service name.
        service_name: String,
        /// RUNNING or STOPPED.
        desired_status: DesiredStatus,
    },
}

/// A task's desired status, as ListTasks filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesiredStatus {
    /// Wanted running (whatever its last status).
    Running,
    /// Stopped (ECS lists recently stopped tasks for about an hour).
    Stopped,
}

impl DesiredStatus {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredStatus::Running => "RUNNING",
            DesiredStatus::Stopped => "STOPPED",
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The ARNs on this page.
    pub items: Vec<String>,
    /// Where the next page starts; `None` on the last one.
    pub next_token: Option<String>,
}

/// Every page of a listing, one call per page: the rate-limit and metrics layers wrap the page
/// calls, so a long listing takes one token per page as ECS counts it.
async fn every_page<F, Fut>(mut page: F) -> Result<Vec<String>>
where
    F: FnMut(Option<String>) -> Fut + Send,
    Fut: std::future::Future<Output = Result<Page>> + Send,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let answer = page(token).await?;
        items.extend(answer.items);
        match answer.next_token {
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
}

/// What RunTask started, and why it started fewer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTaskOutput {
    /// The tasks started.
    pub tasks: Vec<ObservedTask>,
    /// `reason` of each failure (e.g. RESOURCE:MEMORY).
    pub failures: Vec<String>,
}

/// The IAM calls the engine makes: role checks before any write.
#[async_trait]
pub trait IamApi: Send + Sync {
    /// GetRole by name; `None` when the role does not exist.
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>>;

    /// ListRolePolicies: the names of the role's inline policies.
    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>>;

    /// GetRolePolicy: an inline policy's document (JSON, decoded).
    async fn get_role_policy(&self, role: &str, policy: &str) -> Result<String>;

    /// ListAttachedRolePolicies: the ARNs of the managed policies attached to the role.
    async fn list_attached_role_policies(&self, role: &str) -> Result<Vec<String>>;

    /// GetPolicy: a managed policy's default version id.
    async fn policy_default_version(&self, arn: &str) -> Result<String>;

    /// GetPolicyVersion: that version's document (JSON, decoded).
    async fn get_policy_version(&self, arn: &str, version: &str) -> Result<String>;

    /// Secrets Manager DescribeSecret: the KMS key a secret is encrypted with, when it is not
    /// the account's default (`aws/secretsmanager`) key. Part of the role checks: the execution
    /// role then needs kms:Decrypt on it too.
    async fn secret_kms_key(&self, secret_arn: &str) -> Result<Option<String>>;

    /// Every identity policy document of the role, inline and attached: one call each.
    async fn role_policies(&self, role: &str) -> Result<Vec<String>> {
        let mut documents = Vec::new();
        for name in self.list_role_policies(role).await? {
            documents.push(self.get_role_policy(role, &name).await?);
        }
        for arn in self.list_attached_role_policies(role).await? {
            let version = self.policy_default_version(&arn).await?;
            documents.push(self.get_policy_version(&arn, &version).await?);
        }
        Ok(documents)
    }
}

/// A policy document as IAM returns it (URL-encoded), as JSON text.
pub fn decode_policy(document: &str) -> String {
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

/// A role as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRole {
    /// Its ARN.
    pub arn: String,
    /// The services its trust policy lets assume it (`sts:AssumeRole`, Effect Allow).
    pub trusted_services: Vec<String>,
}

/// The service principal ECS tasks assume roles as.
pub const ECS_TASKS_PRINCIPAL: &str = "ecs-tasks.amazonaws.com";

impl ObservedRole {
    /// ECS tasks may assume it.
    pub fn trusts_ecs_tasks(&self) -> bool {
        self.trusted_services
            .iter()
            .any(|s| s == ECS_TASKS_PRINCIPAL)
    }
}

/// The services a trust policy document (JSON, possibly URL-encoded as IAM returns it) lets
/// assume the role.
pub fn trusted_services(document: &str) -> Vec<String> {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(&decoded) else {
        return Vec::new();
    };
    let as_list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(items) => items.clone(),
        single @ serde_json::Value::Object(_) => vec![single.clone()],
        _ => Vec::new(),
    };
    let mut services = Vec::new();
    for statement in statements {
        let allows = statement["Effect"] == "Allow";
        let assumes = as_list(&statement["Action"])
            .iter()
            .any(|a| a == "sts:AssumeRole" || a == "sts:*" || a == "*");
        if allows && assumes {
            services.extend(as_list(&statement["Principal"]["Service"]));
        }
    }
    services.sort();
    services.dedup();
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policies_as_iam_returns_them() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs-tasks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        assert_eq!(trusted_services(encoded), ["ecs-tasks.amazonaws.com"]);
        let several = r#"{"Statement":{"Effect":"Allow","Action":["sts:AssumeRole"],"Principal":{"Service":["ec2.amazonaws.com","lambda.amazonaws.com"]}}}"#;
        assert_eq!(
            trusted_services(several),
            ["ec2.amazonaws.com", "lambda.amazonaws.com"]
        );
        let denied = r#"{"Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Principal":{"Service":"ecs-tasks.amazonaws.com"}}]}"#;
        assert!(trusted_services(denied).is_empty());
    }
}
