//! The AWS operations the controller calls, as one closed set: their API names (metrics labels,
//! error messages, the IAM actions in `deploy/`), and the rate family ECS throttles each one in.
//!
//! A new call is added here once; the limiter, the metrics and the policy test read it from here,
//! so a misspelled name is a compile error instead of a default rate.

use std::fmt;

/// The rate family of an operation: ECS keeps one token bucket per family, account and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateFamily {
    /// DescribeServices, ListServices.
    DescribeServices,
    /// CreateService, UpdateService, DeleteService.
    MutateServices,
    /// RegisterTaskDefinition.
    RegisterTaskDefinition,
    /// ListTasks, DescribeTasks.
    DescribeTasks,
    /// RunTask.
    RunTask,
    /// Everything else.
    Other,
    /// IAM (global per account).
    Iam,
}

impl RateFamily {
    /// (burst, sustained per second), as ECS documents them for its request throttling.
    pub fn rate(self) -> (f64, f64) {
        match self {
            RateFamily::DescribeServices | RateFamily::DescribeTasks => (100.0, 20.0),
            RateFamily::MutateServices => (50.0, 5.0),
            RateFamily::RegisterTaskDefinition => (20.0, 1.0),
            RateFamily::RunTask => (100.0, 40.0),
            RateFamily::Other | RateFamily::Iam => (50.0, 20.0),
        }
    }
}

/// Defines [`Operation`] with its service and API name in one table.
macro_rules! operations {
    ($($variant:ident => $service:literal, $family:ident;)*) => {
        /// An AWS API operation the controller calls.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Operation {
            $(
                #[doc = concat!("`", $service, ":", stringify!($variant), "`.")]
                $variant,
            )*
            /// A check made by this program itself, not an AWS call (an unexpected answer).
            Internal,
        }

        impl Operation {
            /// Every AWS operation the controller calls.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),*];

            /// The API name, e.g. `DescribeServices`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$variant => stringify!($variant),)*
                    Operation::Internal => "Internal",
                }
            }

            /// The IAM service prefix, e.g. `ecs`.
            pub fn service(self) -> &'static str {
                match self {
                    $(Operation::$variant => $service,)*
                    Operation::Internal => "",
                }
            }

            /// The rate family ECS throttles it in.
            pub fn family(self) -> RateFamily {
                match self {
                    $(Operation::$variant => RateFamily::$family,)*
                    Operation::Internal => RateFamily::Other,
                }
            }
        }
    };
}

operations! {
    DescribeServices => "ecs", DescribeServices;
    ListServices => "ecs", DescribeServices;
    CreateService => "ecs", MutateServices;
    UpdateService => "ecs", MutateServices;
    DeleteService => "ecs", MutateServices;
    DescribeTaskDefinition => "ecs", Other;
    RegisterTaskDefinition => "ecs", RegisterTaskDefinition;
    TagResource => "ecs", Other;
    UntagResource => "ecs", Other;
    ListTasks => "ecs", DescribeTasks;
    DescribeTasks => "ecs", DescribeTasks;
    RunTask => "ecs", RunTask;
    StopTask => "ecs", Other;
    ListClusters => "ecs", Other;
    ListContainerInstances => "ecs", Other;
    DescribeContainerInstances => "ecs", Other;
    ListServiceDeployments => "ecs", Other;
    DescribeServiceDeployments => "ecs", Other;
    DescribeServiceRevisions => "ecs", Other;
    GetRole => "iam", Iam;
    ListRolePolicies => "iam", Iam;
    GetRolePolicy => "iam", Iam;
    ListAttachedRolePolicies => "iam", Iam;
    GetPolicy => "iam", Iam;
    GetPolicyVersion => "iam", Iam;
    DescribeScalableTargets => "application-autoscaling", Other;
    DescribeScalingPolicies => "application-autoscaling", Other;
    RegisterScalableTarget => "application-autoscaling", Other;
    PutScalingPolicy => "application-autoscaling", Other;
    DeregisterScalableTarget => "application-autoscaling", Other;
    DescribeSecret => "secretsmanager", Iam;
    GetSecretValue => "secretsmanager", Iam;
    GetParameter => "ssm", Iam;
    AssumeRole => "sts", Iam;
    GetItem => "dynamodb", Other;
    PutItem => "dynamodb", Other;
    UpdateItem => "dynamodb", Other;
    Scan => "dynamodb", Other;
    ReceiveMessage => "sqs", Other;
    // doctor's look at the events queue (read only).
    GetQueueAttributes => "sqs", Other;
    // The IAM action of DeleteMessageBatch, which the events queue's consumer calls.
    DeleteMessage => "sqs", Other;
}

impl Operation {
    /// Whether it changes something (every other operation only reads): what a "write" is in
    /// the logs, in dry runs, in the fake's and the tests' records.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Operation::CreateService
                | Operation::UpdateService
                | Operation::DeleteService
                | Operation::RegisterTaskDefinition
                | Operation::TagResource
                | Operation::UntagResource
                | Operation::RunTask
                | Operation::StopTask
                | Operation::RegisterScalableTarget
                | Operation::PutScalingPolicy
                | Operation::DeregisterScalableTarget
                | Operation::PutItem
                | Operation::UpdateItem
                | Operation::DeleteMessage
        )
    }

    /// The operation of an API name (`DescribeServices`).
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|o| o.name() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_families_and_rates() {
        assert_eq!(Operation::DescribeServices.name(), "DescribeServices");
        assert_eq!(Operation::GetRole.service(), "iam");
        assert_eq!(
            Operation::ListServices.family(),
            Operation::DescribeServices.family()
        );
        assert_eq!(
            Operation::RegisterTaskDefinition.family().rate(),
            (20.0, 1.0)
        );
        assert!(!Operation::ALL.contains(&Operation::Internal));
        assert!(Operation::StopTask.is_write());
        assert!(!Operation::GetRole.is_write());
        assert_eq!(Operation::from_name("RunTask"), Some(Operation::RunTask));
    }
}
