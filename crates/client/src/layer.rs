//! Decorators of the AWS boundary (rate limiting, metrics) as one generic call path.
//!
//! A [`Layer`] sees every call as its typed [`Operation`] and the call's future; [`Layered`]
//! implements [`AwsApi::call`] once for every layer: no decorator knows the calls one by one.

use std::future::Future;

use async_trait::async_trait;

use crate::api::AwsApi;
use crate::call::{Answer, Request};
use crate::error::Result;
use crate::operation::Operation;

/// Something done around every AWS call.
pub trait Layer: Send + Sync {
    /// Runs `call` (an `operation`), doing the layer's work before and after it.
    fn around<'a, T: Send + 'a>(
        &'a self,
        operation: Operation,
        call: impl Future<Output = Result<T>> + Send + 'a,
    ) -> impl Future<Output = Result<T>> + Send + 'a;
}

/// An API with a layer around each of its calls.
#[derive(Debug)]
pub struct Layered<A, L> {
    inner: A,
    layer: L,
}

impl<A, L> Layered<A, L> {
    /// `inner` with `layer` around every call.
    pub fn new(inner: A, layer: L) -> Self {
        Layered { inner, layer }
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }
}

#[async_trait]
impl<A: AwsApi, L: Layer> AwsApi for Layered<A, L> {
    async fn call(&self, request: Request) -> Result<Answer> {
        let operation = request.operation();
        self.layer.around(operation, self.inner.call(request)).await
    }
}
