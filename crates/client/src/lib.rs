//! The AWS boundary in domain types: the narrow `EcsApi`/`IamApi` traits the engine calls, the
//! typed [`Operation`] set with its rate families, classified [`AwsError`]s, the layers around
//! every call (rate limiter, metrics), and an in-memory fake for tests (feature `fake`).
//!
//! No AWS SDK here: the SDK adapter (crate `aws`) implements these traits.

pub mod api;
pub mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod layer;
pub mod limiter;
pub mod metrics;
pub mod operation;
pub mod provider;

pub use api::{EcsApi, IamApi};
pub use error::{AwsError, ErrorKind, Result};
pub use operation::{Operation, RateFamily};
pub use provider::{ClientProvider, PerTarget, Target};
