//! SDK errors into the client crate's classified [`AwsError`]: the one place that reads an
//! `SdkError`, so the engine never matches message strings.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use client::{AwsError, ErrorKind, Operation};

/// Awaits one SDK call: its answer, or its error classified as `operation`'s.
pub(crate) async fn answer<T, E, R>(
    operation: Operation,
    call: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
) -> client::Result<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    call.await.map_err(|e| from_sdk(operation, e))
}

/// Every page of a paginated SDK call, or the first page's error classified as `operation`'s.
pub(crate) fn every_page<P, E, R>(
    operation: Operation,
    pages: Vec<Result<P, SdkError<E, R>>>,
) -> client::Result<Vec<P>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let pages = pages.into_iter().collect::<Result<Vec<P>, _>>();
    pages.map_err(|e| from_sdk(operation, e))
}

/// An answer, with "no such thing" ([`ErrorKind::NotFound`]) as `None`.
pub(crate) fn found<T>(answer: client::Result<T>) -> client::Result<Option<T>> {
    match answer {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The error for an answer without the part it must carry.
pub(crate) fn lacking(operation: Operation, part: &str) -> AwsError {
    AwsError::invalid(operation, format!("the response has no {part}"))
}

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
