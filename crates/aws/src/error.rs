//! SDK errors into the client crate's classified [`AwsError`]: the one place that reads an
//! `SdkError`, so the engine never matches message strings.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use client::{AwsError, ErrorKind, Operation};

/// Classifies an SDK error of `operation`: transport failures by their kind, everything else
/// by its error code.
pub fn from_sdk<E, R>(operation: Operation, error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transport = matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    );
    let code = error.code().map(str::to_owned);
    let message = error
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| describe(&error));
    if let Some(problem) = credentials_problem(&error) {
        // The target account's role could not be assumed (or no credentials at all): the
        // call never left, and waiting will not help until the trust or the role is fixed.
        return AwsError {
            kind: ErrorKind::AccessDenied,
            operation,
            code: Some(client::error::CREDENTIALS_UNAVAILABLE.into()),
            message: problem,
        };
    }
    let mut classified = AwsError::with_code(operation, code, message);
    if transport {
        classified.kind = ErrorKind::Transport;
    }
    classified
}

/// The credentials provider's failure in an error's source chain, spelled out.
fn credentials_problem<E: std::error::Error + 'static, R: std::fmt::Debug>(
    error: &SdkError<E, R>,
) -> Option<String> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            let mut text = format!("no credentials: {cause}");
            let mut inner = cause.source();
            while let Some(c) = inner {
                text.push_str(": ");
                text.push_str(&c.to_string());
                inner = c.source();
            }
            return Some(text);
        }
        source = cause.source();
    }
    None
}

fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(error: &SdkError<E, R>) -> String {
    // The SDK's Display is terse ("dispatch failure"); the source chain says why.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
