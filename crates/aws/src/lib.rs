//! The SDK adapter: the only crate that depends on aws-sdk-*. It implements the client crate's
//! `EcsApi`/`IamApi` over aws-sdk-ecs and aws-sdk-iam, converts documents to SDK requests and
//! responses to observations, and classifies SDK errors by code.

pub mod error;
mod request;
mod response;
pub mod sdk;
pub mod setup;

pub use sdk::{load_config, Connection, SdkEcs, SdkProvider};
