//! The narrow boundary between the engine and AWS: the calls the engine needs, in domain types.
//! The SDK implementation (`sdk`) is tested end to end; the engine is tested with `fake`.

use async_trait::async_trait;
use plan::{InstanceCapacity, ObservedService, ObservedTask};

use crate::call::{self, Answer, Call, Request};
use crate::error::{AwsError, Result};

/// The AWS calls the engine makes, against one target (an account and region): a
/// [`crate::provider::ClientProvider`] hands out one per target. One required method, the
/// generic call path; every typed call ([`crate::call`]) and the listings over pages are
/// provided on top of it, so an implementation (the SDK adapter, a layer, the fake) states each
/// call once, as an arm of its `call`.
#[async_trait]
pub trait AwsApi: Send + Sync {
    /// Makes one call.
    async fn call(&self, request: Request) -> Result<Answer>;

    /// Makes one typed call.
    async fn send<C: Call>(&self, call: C) -> Result<C::Output> {
        let answer = self.call(call.into_request()).await?;
        C::from_answer(answer)
            .ok_or_else(|| AwsError::invalid(C::OPERATION, "the answer of another call came back"))
    }

    /// ListTasks, every page: one call (one rate-limit token, one metric) per page.
    async fn list_tasks(&self, cluster: &str, filter: &TaskFilter) -> Result<Vec<String>> {
        every_page(|next_token| {
            self.send(call::ListTasks {
                cluster: cluster.to_owned(),
                filter: filter.clone(),
                next_token,
            })
        })
        .await
    }

    /// ListClusters, every page: cluster ARNs.
    async fn list_clusters(&self) -> Result<Vec<String>> {
        every_page(|next_token| self.send(call::ListClusters { next_token })).await
    }

    /// ListServices, every page: service ARNs.
    async fn list_services(&self, cluster: &str) -> Result<Vec<String>> {
        every_page(|next_token| {
            self.send(call::ListServices {
                cluster: cluster.to_owned(),
                next_token,
            })
        })
        .await
    }

    /// The ACTIVE container instances of a cluster and their free resources: every page of
    /// ListContainerInstances, then DescribeContainerInstances by 100, one call each.
    async fn container_instances(&self, cluster: &str) -> Result<Vec<InstanceCapacity>> {
        let arns = every_page(|next_token| {
            self.send(call::ListContainerInstances {
                cluster: cluster.to_owned(),
                next_token,
            })
        })
        .await?;
        let mut instances = Vec::new();
        for chunk in arns.chunks(100) {
            let describe = call::DescribeContainerInstances {
                cluster: cluster.to_owned(),
                arns: chunk.to_vec(),
            };
            instances.extend(self.send(describe).await?);
        }
        Ok(instances)
    }

    /// Every identity policy document of the role, inline and attached: one call each.
    async fn role_policies(&self, role: &str) -> Result<Vec<String>> {
        let role = role.to_owned();
        let mut documents = Vec::new();
        let inline = self
            .send(call::ListRolePolicies { role: role.clone() })
            .await?;
        for policy in inline {
            let role = role.clone();
            documents.push(self.send(call::GetRolePolicy { role, policy }).await?);
        }
        let attached = self.send(call::ListAttachedRolePolicies { role }).await?;
        for arn in attached {
            let version = self
                .send(call::PolicyDefaultVersion { arn: arn.clone() })
                .await?;
            documents.push(self.send(call::GetPolicyVersion { arn, version }).await?);
        }
        Ok(documents)
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
    /// The task status it selects.
    pub fn task_status(self) -> plan::TaskStatus {
        match self {
            DesiredStatus::Running => plan::TaskStatus::Running,
            DesiredStatus::Stopped => plan::TaskStatus::Stopped,
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

impl Page {
    /// A page of an SDK answer: its ARNs and its next token.
    pub fn new(items: &[String], next_token: Option<&str>) -> Self {
        Page {
            items: items.to_vec(),
            next_token: next_token.map(str::to_owned),
        }
    }
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

/// A service deployment as ListServiceDeployments lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDeploymentBrief {
    /// Its ARN.
    pub arn: String,
    /// PENDING, SUCCESSFUL, STOPPED, ..., ROLLBACK_SUCCESSFUL (ServiceDeploymentStatus).
    pub status: String,
    /// When it was created (seconds since the epoch).
    pub created_at: Option<i64>,
}

/// A service deployment as DescribeServiceDeployments describes it: the revision it deployed
/// and, when ECS rolled it back, the revision it went back to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDeploymentDetail {
    /// Its ARN.
    pub arn: String,
    /// `targetServiceRevision.arn`: the revision this deployment deployed.
    pub target_revision: Option<String>,
    /// `rollback.serviceRevisionArn`: "the service revision deployed as part of the rollback".
    pub rollback_revision: Option<String>,
}

/// A service revision: which task definition it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRevision {
    /// Its ARN.
    pub arn: String,
    /// The task definition ARN.
    pub task_definition: String,
}

/// DescribeServices' answer: the services, and the ones it could not describe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DescribedServices {
    /// The services ECS described (ACTIVE, DRAINING or INACTIVE).
    pub services: Vec<ObservedService>,
    /// `failures` other than `MISSING`, the one reason the API failure reasons page gives for
    /// DescribeServices ("The specified service wasn't found"): a service ECS could not say
    /// anything about, which is not a service that is absent.
    pub failures: Vec<DescribeFailure>,
}

/// One entry of a Describe call's `failures` (the model's `Failure`: arn, reason, detail).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeFailure {
    /// The resource's name: the last part of the failure's `arn`.
    pub name: String,
    /// `reason`, e.g. `MISSING`.
    pub reason: String,
    /// `detail`, when ECS gave one.
    pub detail: Option<String>,
}

impl DescribedServices {
    /// The services, or the first failure as the call's error: for a caller that must know
    /// whether a service exists.
    ///
    /// # Errors
    /// When ECS could not describe one of the services.
    pub fn complete(self) -> Result<Vec<ObservedService>> {
        match self.failures.first() {
            Some(failure) => Err(failure.error(crate::Operation::DescribeServices)),
            None => Ok(self.services),
        }
    }
}

impl DescribeFailure {
    /// The failure reason that means "no such resource" (API failure reasons page).
    pub const MISSING: &'static str = "MISSING";

    /// The resource does not exist; any other reason says nothing about whether it does.
    pub fn is_missing(&self) -> bool {
        self.reason == Self::MISSING
    }

    /// The failure as the error of `operation`: a cause the pass may retry, never an absence.
    pub fn error(&self, operation: crate::Operation) -> AwsError {
        AwsError::with_code(
            operation,
            None,
            format!(
                "ECS could not describe {}: {self}; not taken as absent",
                self.name
            ),
        )
    }
}

impl std::fmt::Display for DescribeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)?;
        match &self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use plan::iam::trusted_services;

    #[test]
    fn trust_policies_as_iam_returns_them() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs-tasks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        assert_eq!(
            trusted_services(&decode_policy(encoded)),
            ["ecs-tasks.amazonaws.com"]
        );
        let several = r#"{"Statement":{"Effect":"Allow","Action":["sts:AssumeRole"],"Principal":{"Service":["ec2.amazonaws.com","lambda.amazonaws.com"]}}}"#;
        assert_eq!(
            trusted_services(several),
            ["ec2.amazonaws.com", "lambda.amazonaws.com"]
        );
        let denied = r#"{"Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Principal":{"Service":"ecs-tasks.amazonaws.com"}}]}"#;
        assert!(trusted_services(denied).is_empty());
    }
}
