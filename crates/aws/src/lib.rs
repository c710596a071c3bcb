//! The only crate that talks to AWS: the `EcsApi` boundary, its SDK implementation and an
//! in-memory fake, error classification, and the engine that observes, plans and applies.

pub mod api;
mod convert;
pub mod engine;
pub mod error;
pub mod fake;
pub mod limiter;
pub mod metrics;
pub mod sdk;

pub use api::EcsApi;
pub use engine::{statuses, Engine, GroupOutcome};
pub use error::{AwsError, ErrorKind};
pub use sdk::{load_config, Connection, SdkEcs};
