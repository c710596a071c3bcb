//! The clients for a target: the engine asks a [`ClientProvider`] for the API of the account
//! and region a group lives in, instead of passing a region to every call. Each target's API
//! is built once and kept, with its own layers (ECS throttles per account and region, so each
//! target gets its own rate limiter).
//!
//! A target is a region of the controller's own account or of an account reached by assuming
//! a role (`spec.account`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::api::AwsApi;

pub use plan::Target;

/// Hands out the API of a target.
pub trait ClientProvider: Send + Sync {
    /// The API of one target.
    type Api: AwsApi + 'static;

    /// The API of `target`, built on first use and kept. Building never fails: credentials
    /// (an assumed role's included) are fetched when a call needs them, and a failure there is
    /// that call's error.
    fn clients(&self, target: &Target) -> Arc<Self::Api>;
}

/// A provider that builds each target's API with a function, once.
pub struct PerTarget<A, F> {
    build: F,
    built: Mutex<HashMap<Target, Arc<A>>>,
}

impl<A, F: Fn(&Target) -> A> PerTarget<A, F> {
    /// Builds the API of a target with `build` the first time it is asked for.
    pub fn new(build: F) -> Self {
        PerTarget {
            build,
            built: Mutex::new(HashMap::new()),
        }
    }
}

impl<A, F> std::fmt::Debug for PerTarget<A, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerTarget").finish_non_exhaustive()
    }
}

impl<A, F> ClientProvider for PerTarget<A, F>
where
    A: AwsApi + 'static,
    F: Fn(&Target) -> A + Send + Sync,
{
    type Api = A;

    fn clients(&self, target: &Target) -> Arc<A> {
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            built
                .entry(target.clone())
                .or_insert_with(|| Arc::new((self.build)(target))),
        )
    }
}
