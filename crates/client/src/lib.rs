//! The AWS boundary in domain types: the narrow `AwsApi` trait the engine calls, each call declared once (`call`), the
//! typed [`Operation`] set with its rate families, classified [`AwsError`]s, the layers around
//! every call (rate limiter, metrics), and an in-memory fake for tests (feature `fake`).
//!
//! No AWS SDK here: the SDK adapter (crate `aws`) implements these traits.

pub mod api;
pub mod call;
pub mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod layer;
pub mod limiter;
pub mod metrics;
pub mod operation;
pub mod provider;

pub use api::AwsApi;
pub use error::{AwsError, ErrorKind, Result};
pub use operation::{Operation, RateFamily};
pub use provider::{ClientProvider, PerTarget, Target};
