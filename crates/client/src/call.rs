//! Every AWS call the engine makes, declared once: a typed request, its answer type and its
//! [`Operation`]. The table below generates the request structs, the [`Request`] and [`Answer`]
//! enums that carry them through the one generic call path ([`crate::AwsApi::call`]), and the
//! conversions between the two, so the layers (limiter, metrics) and the fake's bookkeeping
//! (call log, injected throttles, lost answers) are written once, not once per method.
//!
//! Adding a call: one line here, one arm in the SDK adapter (`aws::sdk`) and one in the fake.

use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use spec::document::{RunTaskDocument, ServiceDocument, Tag, TaskDefinitionDocument};

use crate::api::{
    DescribedServices, ObservedRole, Page, RunTaskOutput, ServiceDeploymentBrief,
    ServiceDeploymentDetail, ServiceRevision, TaskFilter,
};
use crate::operation::Operation;

/// One typed call: what it sends, what it answers, which operation it is.
pub trait Call: Send + 'static {
    /// The answer, in domain types.
    type Output: Send;
    /// The AWS operation (metrics label, rate family, error messages).
    const OPERATION: Operation;
    /// The request, for the generic call path.
    fn into_request(self) -> Request;
    /// The typed answer out of the generic one; `None` when it is another call's answer.
    fn from_answer(answer: Answer) -> Option<Self::Output>;
}

macro_rules! calls {
    ($(
        $(#[$doc:meta])*
        $name:ident as $operation:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? } -> $out:ty;
    )*) => {
        $(
            $(#[$doc])*
            // The fields are the call's parameters, as its doc line names them.
            #[allow(missing_docs)]
            #[derive(Debug, Clone, PartialEq, Eq)]
            pub struct $name { $($(#[$fdoc])* pub $field: $ty),* }

            impl Call for $name {
                type Output = $out;
                const OPERATION: Operation = Operation::$operation;
                fn into_request(self) -> Request {
                    Request::$name(self)
                }
                fn from_answer(answer: Answer) -> Option<$out> {
                    match answer {
                        Answer::$name(out) => Some(out),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }
        )*

        /// Any call, as the generic call path carries it.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Request {
            $(
                #[doc = concat!("[`", stringify!($name), "`].")]
                $name($name),
            )*
        }

        /// Any call's answer.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Answer {
            $(
                #[doc = concat!("Of [`", stringify!($name), "`].")]
                $name($out),
            )*
        }

        impl Request {
            /// The AWS operation this request is.
            pub fn operation(&self) -> Operation {
                match self {
                    $(Request::$name(_) => Operation::$operation,)*
                }
            }
        }
    };
}

calls! {
    /// DescribeServices with tags for at most 10 names; services ECS does not know are omitted,
    /// services it could not describe for another reason are failures.
    DescribeServices as DescribeServices { cluster: String, names: Vec<String> }
        -> DescribedServices;
    /// DescribeTaskDefinition with tags, by ARN, `family:revision` or family (its latest ACTIVE
    /// revision); `None` when there is no such task definition.
    DescribeTaskDefinition as DescribeTaskDefinition { task_definition: String }
        -> Option<ObservedTaskDefinition>;
    /// RegisterTaskDefinition. Not idempotent: never retried by the SDK.
    RegisterTaskDefinition as RegisterTaskDefinition { document: TaskDefinitionDocument, tags: Vec<Tag> }
        -> ObservedTaskDefinition;
    /// CreateService running `task_definition` (a full ARN). ECS answers a repeated
    /// `client_token` with the first call's result instead of creating again.
    CreateService as CreateService {
        document: ServiceDocument,
        task_definition: String,
        tags: Vec<Tag>,
        client_token: String,
    } -> ObservedService;
    /// UpdateService with the `members` of `document` that change; a changed deployment
    /// configuration is sent with the `kept` members the group does not manage.
    UpdateService as UpdateService {
        document: ServiceDocument,
        task_definition: String,
        members: plan::ServiceMembers,
        kept: plan::DeploymentKept,
    } -> ObservedService;
    /// UpdateService of the desired count alone (prune scales to 0 before deleting).
    ScaleService as UpdateService { cluster: String, service: String, count: i32 } -> ();
    /// DeleteService.
    DeleteService as DeleteService { cluster: String, service: String } -> ();
    /// TagResource (adds or overwrites the given tags).
    TagResource as TagResource { arn: String, tags: Vec<Tag> } -> ();
    /// UntagResource (removes the given keys).
    UntagResource as UntagResource { arn: String, keys: Vec<String> } -> ();
    /// One page of ListTasks (at most 100 ARNs), from `next_token`.
    ListTasks as ListTasks { cluster: String, filter: TaskFilter, next_token: Option<String> }
        -> Page;
    /// DescribeTasks with tags for at most 100 ARNs.
    DescribeTasks as DescribeTasks { cluster: String, arns: Vec<String> } -> Vec<ObservedTask>;
    /// RunTask for at most 10 tasks. ECS answers a repeated `client_token` with the first
    /// call's tasks instead of starting more.
    RunTask as RunTask {
        document: RunTaskDocument,
        task_definition: String,
        count: i32,
        tags: Vec<Tag>,
        client_token: String,
    } -> RunTaskOutput;
    /// StopTask.
    StopTask as StopTask { cluster: String, arn: String, reason: String } -> ();
    /// One page of ListClusters, from `next_token`.
    ListClusters as ListClusters { next_token: Option<String> } -> Page;
    /// One page of ListServices (asking for the largest, 100), from `next_token`.
    ListServices as ListServices { cluster: String, next_token: Option<String> } -> Page;
    /// One page of ListContainerInstances (ACTIVE ones, at most 100 ARNs), from `next_token`.
    ListContainerInstances as ListContainerInstances { cluster: String, next_token: Option<String> }
        -> Page;
    /// DescribeContainerInstances of at most 100 ARNs: their free resources.
    DescribeContainerInstances as DescribeContainerInstances { cluster: String, arns: Vec<String> }
        -> Vec<InstanceCapacity>;
    /// ListServiceDeployments of one service with one of `statuses` (ServiceDeploymentStatus
    /// values), the first page (ECS's default of 20).
    ListServiceDeployments as ListServiceDeployments {
        cluster: String,
        service: String,
        statuses: Vec<String>,
    } -> Vec<ServiceDeploymentBrief>;
    /// DescribeServiceDeployments of at most 20 ARNs.
    DescribeServiceDeployments as DescribeServiceDeployments { arns: Vec<String> }
        -> Vec<ServiceDeploymentDetail>;
    /// DescribeServiceRevisions of at most 20 ARNs.
    DescribeServiceRevisions as DescribeServiceRevisions { arns: Vec<String> }
        -> Vec<ServiceRevision>;
    /// GetRole by name; `None` when the role does not exist.
    GetRole as GetRole { name: String } -> Option<ObservedRole>;
    /// ListRolePolicies: the names of the role's inline policies.
    ListRolePolicies as ListRolePolicies { role: String } -> Vec<String>;
    /// GetRolePolicy: an inline policy's document (JSON, decoded).
    GetRolePolicy as GetRolePolicy { role: String, policy: String } -> String;
    /// ListAttachedRolePolicies: the ARNs of the managed policies attached to the role.
    ListAttachedRolePolicies as ListAttachedRolePolicies { role: String } -> Vec<String>;
    /// GetPolicy: a managed policy's default version id.
    PolicyDefaultVersion as GetPolicy { arn: String } -> String;
    /// GetPolicyVersion: that version's document (JSON, decoded).
    GetPolicyVersion as GetPolicyVersion { arn: String, version: String } -> String;
    /// Application Auto Scaling DescribeScalableTargets of ECS services' desired counts, at most
    /// 50 resource ids (`service/CLUSTER/SERVICE`): the registered ones, with MinCapacity and
    /// MaxCapacity.
    DescribeScalableTargets as DescribeScalableTargets { resource_ids: Vec<String> }
        -> Vec<(String, i32, i32)>;
    /// DescribeScalingPolicies of ECS services' desired counts named `policy_name`, every page:
    /// each one's resource id, predefined metric and target value. One call (per 10 policies)
    /// for every service of a region, since the controller names its policy the same on each.
    DescribeScalingPolicies as DescribeScalingPolicies { policy_name: String }
        -> Vec<(String, String, f64)>;
    /// RegisterScalableTarget (creates or updates MinCapacity/MaxCapacity).
    RegisterScalableTarget as RegisterScalableTarget { resource_id: String, min: i32, max: i32 } -> ();
    /// PutScalingPolicy: target tracking of `metric` (a predefined ECS metric) at `target` %.
    PutScalingPolicy as PutScalingPolicy {
        resource_id: String,
        policy_name: String,
        metric: String,
        target: u8,
    } -> ();
    /// DeregisterScalableTarget (its policies go with it).
    DeregisterScalableTarget as DeregisterScalableTarget { resource_id: String } -> ();
    /// Secrets Manager DescribeSecret: the KMS key a secret is encrypted with, when it is not
    /// the account's default (`aws/secretsmanager`) key.
    SecretKmsKey as DescribeSecret { secret_arn: String } -> Option<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_names_its_operation_and_takes_only_its_answer() {
        let request = ScaleService {
            cluster: "c".into(),
            service: "s".into(),
            count: 0,
        }
        .into_request();
        assert_eq!(request.operation(), Operation::UpdateService);
        assert_eq!(
            ScaleService::from_answer(Answer::ScaleService(())),
            Some(())
        );
        assert_eq!(DeleteService::from_answer(Answer::ScaleService(())), None);
    }
}
