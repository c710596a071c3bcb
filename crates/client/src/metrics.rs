//! AWS API-call metrics: a layer over the AWS boundary that counts calls by operation and
//! outcome, counts throttles, and times each call.

use std::future::Future;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::{ErrorKind, Result};
use crate::layer::{Layer, Layered};
use crate::operation::Operation;

/// Labels of a call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The account id, `self` for the controller's own.
    pub account: String,
    /// The region.
    pub region: String,
    /// e.g. DescribeServices.
    pub operation: String,
    /// ok, not_found, throttled, conflict, invalid, access_denied, transport, other.
    pub outcome: String,
}

/// Labels of a timing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// e.g. DescribeServices.
    pub operation: String,
}

/// The metrics of the AWS boundary.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    /// Calls by operation and outcome.
    pub calls: Family<CallLabels, Counter>,
    /// Calls that ended throttled (after the SDK's retries).
    pub throttles: Counter,
    /// Call latency by operation, seconds.
    pub duration: Family<OperationLabels, Histogram>,
    /// The target these calls go to (labels of `calls`).
    target: (String, String),
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            calls: Family::default(),
            throttles: Counter::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 12))
            }),
            target: ("self".into(), String::new()),
        }
    }
}

impl ApiMetrics {
    /// The same metrics, for the calls to `target`: its account and region label them.
    #[must_use]
    pub fn for_target(&self, target: &crate::Target) -> Self {
        ApiMetrics {
            target: (target.account_label().into(), target.region.clone()),
            ..self.clone()
        }
    }

    /// Registers the metrics under `registry` (prefix `aws_`).
    pub fn register(&self, registry: &mut Registry) {
        let aws = registry.sub_registry_with_prefix("aws");
        aws.register(
            "calls",
            "AWS API calls by account, region, operation and outcome",
            self.calls.clone(),
        );
        aws.register(
            "throttles",
            "AWS API calls that ended throttled after the SDK's retries",
            self.throttles.clone(),
        );
        aws.register(
            "call_duration_seconds",
            "AWS API call latency by operation",
            self.duration.clone(),
        );
    }

    fn outcome(kind: Option<ErrorKind>) -> &'static str {
        match kind {
            None => "ok",
            Some(ErrorKind::NotFound) => "not_found",
            Some(ErrorKind::Throttled) => "throttled",
            Some(ErrorKind::Conflict) => "conflict",
            Some(ErrorKind::Invalid) => "invalid",
            Some(ErrorKind::AccessDenied) => "access_denied",
            Some(ErrorKind::Transport) => "transport",
            Some(ErrorKind::Other) => "other",
        }
    }

    async fn observe<T>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let result = call.await;
        let kind = result.as_ref().err().map(|e| e.kind);
        self.duration
            .get_or_create(&OperationLabels {
                operation: operation.name().into(),
            })
            .observe(start.elapsed().as_secs_f64());
        self.calls
            .get_or_create(&CallLabels {
                account: self.target.0.clone(),
                region: self.target.1.clone(),
                operation: operation.name().into(),
                outcome: Self::outcome(kind).into(),
            })
            .inc();
        if kind == Some(ErrorKind::Throttled) {
            self.throttles.inc();
        }
        result
    }
}

/// An API whose calls are measured.
pub type Metered<A> = Layered<A, ApiMetrics>;

impl Layer for ApiMetrics {
    async fn around<'a, T: Send + 'a>(
        &'a self,
        operation: Operation,
        call: impl Future<Output = Result<T>> + Send + 'a,
    ) -> Result<T> {
        self.observe(operation, call).await
    }
}
