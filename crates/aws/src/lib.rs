//! The SDK adapter: the only crate that depends on aws-sdk-*. It implements the client crate's
//! `AwsApi` over aws-sdk-ecs, aws-sdk-iam and aws-sdk-secretsmanager, converts documents to SDK
//! requests and responses to observations, and classifies SDK errors by code.

pub mod error;
mod request;
mod response;
pub mod sdk;
pub mod setup;

pub use sdk::{load_config, Connection, SdkApi, SdkProvider};
