//! AWS errors, classified once by their error code so the engine never matches message strings.

use crate::operation::Operation;

/// What kind of failure an AWS call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The cluster, service or task definition does not exist.
    NotFound,
    /// The request was throttled (after the SDK's own retries).
    Throttled,
    /// The request conflicts with the resource's state (e.g. a service that already exists).
    Conflict,
    /// The request was refused as invalid.
    Invalid,
    /// The caller may not do this.
    AccessDenied,
    /// The endpoint could not be reached or did not answer in time.
    Transport,
    /// Anything else (5xx, unknown codes).
    Other,
}

/// A failed AWS call. An access denial also names the statement of deploy/iam-policy.json that
/// grants the action (or says none does), beside AWS's own message with the action and
/// resource it refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}{}", grant_hint(*kind, *operation))]
pub struct AwsError {
    /// The kind, for retry and reporting decisions.
    pub kind: ErrorKind,
    /// The API operation, e.g. `CreateService`.
    pub operation: Operation,
    /// The error code, when the service gave one.
    pub code: Option<String>,
    /// A message for people.
    pub message: String,
}

/// The controller's policy as deploy/ ships it, to name the statement an access denial is about.
const DEPLOYED_POLICY: &str = include_str!("../../../deploy/iam-policy.json");

/// The Sids of the deployed policy's Allow statements that grant `action` (`ecs:CreateService`).
pub fn granting_statements(action: &str) -> Vec<String> {
    plan::iam::granting_statements(DEPLOYED_POLICY, action)
}

/// For an access denial: which statement of deploy/iam-policy.json grants the action.
fn grant_hint(kind: ErrorKind, operation: Operation) -> String {
    if kind != ErrorKind::AccessDenied || operation == Operation::Internal {
        return String::new();
    }
    let action = format!("{}:{}", operation.service(), operation.name());
    match granting_statements(&action).as_slice() {
        [] => format!(" (no statement of deploy/iam-policy.json grants {action})"),
        sids => format!(
            " (deploy/iam-policy.json grants {action} in statement {}: give the controller's role that statement, with its conditions)",
            sids.join(", ")
        ),
    }
}

/// The code of an error whose call got no credentials: the role of the group's account could
/// not be assumed (refused trust, a wrong external id, a missing role).
pub const CREDENTIALS_UNAVAILABLE: &str = "CredentialsUnavailable";

/// `Result` of an AWS call.
pub type Result<T, E = AwsError> = std::result::Result<T, E>;

impl AwsError {
    /// An error raised by this crate itself (a malformed request or response).
    pub fn invalid(operation: Operation, message: impl Into<String>) -> Self {
        AwsError {
            kind: ErrorKind::Invalid,
            operation,
            code: None,
            message: message.into(),
        }
    }

    /// An error of `operation` with a service error code, classified by the code.
    pub fn with_code(
        operation: Operation,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        AwsError {
            kind: classify(operation, code.as_deref(), &message),
            operation,
            code,
            message,
        }
    }
}

/// Maps an AWS error to its kind, by its code (ECS API reference, "Errors" of each action).
///
/// Two ECS answers share the generic `ClientException` code with permanent refusals and are
/// told apart by their documented message, here and nowhere else:
/// - "Too many concurrent attempts to create a new revision of the specified family" is a
///   passing conflict of RegisterTaskDefinition: throttled (retry later);
/// - "Unable to describe task definition" from DescribeTaskDefinition means there is none: not
///   found. Any other ClientException of that call is a real error, so that an answer that is
///   no absence never makes the engine register a duplicate revision.
pub fn classify(operation: Operation, code: Option<&str>, message: &str) -> ErrorKind {
    match code {
        Some("ClientException")
            if message.starts_with("Too many concurrent attempts to create a new revision") =>
        {
            ErrorKind::Throttled
        }
        Some("ClientException")
            if operation == Operation::DescribeTaskDefinition
                && message.starts_with("Unable to describe task definition") =>
        {
            ErrorKind::NotFound
        }
        Some(code) => classify_code(code),
        None => ErrorKind::Other,
    }
}

/// The kind of an error code alone.
fn classify_code(code: &str) -> ErrorKind {
    match code {
        // The resource asked about does not exist.
        "ServiceNotFoundException"
        | "ClusterNotFoundException"
        | "ResourceNotFoundException"
        | "TaskSetNotFoundException"
        | "ServiceDeploymentNotFoundException"
        | "DaemonNotFoundException"
        // Application Auto Scaling: no such scalable target or policy.
        | "ObjectNotFoundException"
        | "NoSuchEntity" => ErrorKind::NotFound,
        // Passing: try again later (the SDK's retries already did, with backoff).
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ServiceUnavailableException"
        | "ServiceUnavailable" => ErrorKind::Throttled,
        // The resource's state forbids it now; a person or ECS must move it on.
        "ServiceNotActiveException"
        | "DaemonNotActiveException"
        | "ResourceInUseException"
        | "ConflictException"
        | "UpdateInProgressException"
        | "ClusterContainsCapacityProviderException"
        | "ClusterContainsContainerInstancesException"
        | "ClusterContainsServicesException"
        | "ClusterContainsTasksException"
        | "DeleteConflict" => ErrorKind::Conflict,
        // The request cannot succeed as it is: retrying it changes nothing.
        "InvalidParameterException"
        | "ClientException"
        | "ValidationError"
        | "PlatformUnknownException"
        | "PlatformTaskDefinitionIncompatibilityException"
        | "UnsupportedFeatureException"
        | "NamespaceNotFoundException"
        | "GatewayNotFoundException"
        | "LimitExceededException"
        | "AttributeLimitExceededException"
        | "MissingVersionException"
        | "NoUpdateAvailableException"
        | "TargetNotConnectedException"
        | "TargetNotFoundException"
        | "MalformedPolicyDocument"
        | "InvalidInput"
        | "LimitExceeded" => ErrorKind::Invalid,
        // The caller may not (or the account is blocked).
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" | "BlockedException" => {
            ErrorKind::AccessDenied
        }
        // ServerException and unknown codes: ECS's own failure, worth another try.
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scalable target already deregistered is Application Auto Scaling's
    /// ObjectNotFoundException: not found, which the deregistration takes as done.
    #[test]
    fn a_missing_scalable_target_is_not_found() {
        assert_eq!(
            classify(
                Operation::DeregisterScalableTarget,
                Some("ObjectNotFoundException"),
                "No scalable target registered for service namespace: ecs"
            ),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn client_exceptions_are_told_apart_by_their_documented_messages() {
        let register = Operation::RegisterTaskDefinition;
        let describe = Operation::DescribeTaskDefinition;
        let busy = "Too many concurrent attempts to create a new revision of the specified family.";
        assert_eq!(
            classify(register, Some("ClientException"), busy),
            ErrorKind::Throttled
        );
        assert_eq!(
            classify(
                describe,
                Some("ClientException"),
                "Unable to describe task definition."
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify(describe, Some("ClientException"), "You are not authorized."),
            ErrorKind::Invalid,
            "another ClientException is no absence"
        );
        assert_eq!(
            classify(
                register,
                Some("ClientException"),
                "Unable to describe task definition."
            ),
            ErrorKind::Invalid
        );
        assert_eq!(
            classify(describe, Some("ThrottlingException"), "Rate exceeded"),
            ErrorKind::Throttled
        );
        assert_eq!(classify(describe, None, "HTML 500"), ErrorKind::Other);
    }

    #[test]
    fn an_access_denial_names_the_statement_that_grants_the_action() {
        let denied = AwsError::with_code(
            Operation::CreateService,
            Some("AccessDeniedException".into()),
            "User: arn:aws:sts::123456789012:assumed-role/edc/s is not authorized to perform: \
             ecs:CreateService on resource: arn:aws:ecs:us-east-1:123456789012:service/c1/g",
        );
        assert_eq!(denied.kind, ErrorKind::AccessDenied);
        let text = denied.to_string();
        assert!(text.starts_with("CreateService: User: "), "{text}");
        assert!(
            text.ends_with("(deploy/iam-policy.json grants ecs:CreateService in statement CreateTaggedServicesInTheDelegateClusters: give the controller's role that statement, with its conditions)"),
            "{text}"
        );
        // Any other error says nothing of the policy.
        let missing = AwsError::with_code(
            Operation::CreateService,
            Some("ClusterNotFoundException".into()),
            "Cluster not found.",
        );
        assert_eq!(missing.to_string(), "CreateService: Cluster not found.");
        // Every action the code calls is granted by some statement.
        for op in Operation::ALL
            .iter()
            .filter(|op| **op != Operation::Internal)
        {
            let action = format!("{}:{}", op.service(), op.name());
            assert!(!granting_statements(&action).is_empty(), "{action}");
        }
    }
}
