//! The engine: observe ECS (batched), apply plans, and run the one reconcile pass with its error
//! policy that both `reconcile --once` and the loop call. Generic over the client crate's
//! traits, so it is tested with the in-memory fake.

pub mod engine;

pub use engine::{statuses, Engine, GroupOutcome};
