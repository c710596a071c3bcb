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

/// A failed AWS call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
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
        AwsError {
            kind: classify(code.as_deref()),
            operation,
            code,
            message: message.into(),
        }
    }
}

/// Maps an AWS error code to its kind.
pub fn classify(code: Option<&str>) -> ErrorKind {
    match code {
        Some(
            "ServiceNotFoundException"
            | "ClusterNotFoundException"
            | "NoSuchEntity"
            | "ResourceNotFoundException"
            | "TaskSetNotFoundException",
        ) => ErrorKind::NotFound,
        Some(
            "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "ServiceUnavailableException",
        ) => ErrorKind::Throttled,
        Some("ServiceNotActiveException" | "ResourceInUseException" | "ConflictException") => {
            ErrorKind::Conflict
        }
        Some("InvalidParameterException" | "ClientException" | "ValidationError") => {
            ErrorKind::Invalid
        }
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation") => {
            ErrorKind::AccessDenied
        }
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(classify(Some("ThrottlingException")), ErrorKind::Throttled);
        assert_eq!(
            classify(Some("ClusterNotFoundException")),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify(Some("InvalidParameterException")),
            ErrorKind::Invalid
        );
        assert_eq!(classify(Some("Whatever")), ErrorKind::Other);
        assert_eq!(classify(None), ErrorKind::Other);
    }
}
