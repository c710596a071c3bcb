//! The client-side rate limiter: one token bucket per action family, at ECS's documented burst
//! and sustained rates, so a large fleet slows itself down instead of being throttled. ECS
//! throttles per account and region: each target's client gets its own limiter. `scale`
//! multiplies the sustained rates (bursts stay as documented).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Result;
use crate::layer::{Layer, Layered};
use crate::operation::{Operation, RateFamily};

/// A token bucket: `burst` tokens, refilled at `rate` a second; [`TokenBucket::take`] waits
/// for one. Also the Harness check's limiter.
#[derive(Debug)]
pub struct TokenBucket {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: f64, rate: f64) -> Self {
        TokenBucket {
            state: Mutex::new(Bucket {
                tokens: burst,
                burst,
                rate: rate.max(f64::MIN_POSITIVE),
                updated: Instant::now(),
            }),
        }
    }

    /// Waits for a token.
    pub async fn take(&self) {
        loop {
            let wait = {
                let mut bucket = self
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let elapsed = now.duration_since(bucket.updated).as_secs_f64();
                bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.burst);
                bucket.updated = now;
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The limiter layer; `None` scale means off.
#[derive(Debug)]
pub struct RateLimiter {
    scale: Option<f64>,
    buckets: Mutex<HashMap<RateFamily, Arc<TokenBucket>>>,
}

/// An API behind the rate limiter.
pub type RateLimited<A> = Layered<A, RateLimiter>;

impl RateLimiter {
    /// ECS's rates times `scale`; `None` passes every call through.
    pub fn new(scale: Option<f64>) -> Self {
        RateLimiter {
            scale: scale.filter(|s| *s > 0.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `inner` behind a limiter at ECS's rates times `scale`.
    pub fn wrap<A>(inner: A, scale: Option<f64>) -> RateLimited<A> {
        Layered::new(inner, RateLimiter::new(scale))
    }

    /// Waits for a token of `operation`'s family.
    async fn acquire(&self, operation: Operation) {
        let Some(scale) = self.scale else { return };
        let family = operation.family();
        let bucket = {
            let mut buckets = self
                .buckets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (burst, rate) = family.rate();
            Arc::clone(
                buckets
                    .entry(family)
                    .or_insert_with(|| Arc::new(TokenBucket::new(burst, rate * scale))),
            )
        };
        bucket.take().await;
    }
}

impl Layer for RateLimiter {
    async fn around<'a, T: Send + 'a>(
        &'a self,
        operation: Operation,
        call: impl std::future::Future<Output = Result<T>> + Send + 'a,
    ) -> Result<T> {
        self.acquire(operation).await;
        call.await
    }
}

/// Whether an endpoint is on this machine (a test endpoint): the limiter is then off unless a
/// scale is given.
pub fn is_local_endpoint(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host == "localhost" || host.starts_with("127.") || url.contains("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AwsApi as _;
    use crate::call::{DescribeTaskDefinition, RegisterTaskDefinition};
    use crate::fake::FakeAws;
    use spec::document::TaskDefinitionDocument;

    #[tokio::test(start_paused = true)]
    async fn a_family_gets_its_burst_then_its_sustained_rate() {
        let fake = FakeAws::new();
        let limited = RateLimiter::wrap(fake, Some(1.0));
        let start = tokio::time::Instant::now();
        for _ in 0..22 {
            let describe = DescribeTaskDefinition {
                task_definition: "f".into(),
            };
            limited.send(describe).await.unwrap();
            limited.send(register()).await.unwrap();
        }
        // 20 registrations of burst, then 1 per second: the 22nd waits 2 s.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn off_means_no_waiting() {
        let limited = RateLimiter::wrap(FakeAws::new(), None);
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            limited.send(register()).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn local_endpoints() {
        assert!(is_local_endpoint("http://127.0.0.1:5000"));
        assert!(is_local_endpoint("http://localhost:5000/"));
        assert!(!is_local_endpoint("https://ecs.us-east-1.amazonaws.com"));
    }

    fn register() -> RegisterTaskDefinition {
        let document = TaskDefinitionDocument {
            family: "f".into(),
            container_definitions: Vec::new(),
            requires_compatibilities: Vec::new(),
            network_mode: None,
            cpu: None,
            memory: None,
            task_role_arn: None,
            execution_role_arn: None,
            volumes: Vec::new(),
            placement_constraints: Vec::new(),
            runtime_platform: None,
            ephemeral_storage: None,
            pid_mode: None,
        };
        RegisterTaskDefinition {
            document,
            tags: Vec::new(),
        }
    }
}
