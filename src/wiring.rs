//! What every AWS-reading command shares: the SDK behind the client-side rate limiter, the
//! engine, the desired groups from the files (problems printed), and the scope.

use std::path::PathBuf;
use std::sync::Arc;

use aws::{Connection, SdkEcs};
use client::limiter::{is_local_endpoint, RateLimited, RateLimiter};
use controller::{FileSource, SourceError};
use engine::{Engine, Scope};
use plan::{DesiredGroup, PlanOptions};

use crate::cli::GlobalArgs;

/// The engine of a command run.
pub type CliEngine = Engine<RateLimited<SdkEcs>>;

/// `s` when `n` is not 1.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The AWS APIs through the SDK, with the configuration chain and the global flags.
pub async fn sdk(global: &GlobalArgs) -> SdkEcs {
    let connection = Connection {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    };
    SdkEcs::new(aws::load_config(&connection).await)
}

/// The SDK behind the client-side rate limiter: ECS's rates (times `--api-rate-scale`), off
/// against a loopback endpoint unless a scale is given.
pub async fn limited_sdk(global: &GlobalArgs) -> RateLimited<SdkEcs> {
    let endpoint = global
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_ECS").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    let local = endpoint.as_deref().is_some_and(is_local_endpoint);
    let scale = global.api_rate_scale.or((!local).then_some(1.0));
    RateLimiter::wrap(sdk(global).await, scale)
}

/// The scope of a command: the `--selector` it was given.
pub fn scope(source: &FileSource) -> Scope {
    Scope {
        selector: source.selectors.clone(),
        shard: None,
    }
}

/// The files' selected groups, rendered, and an engine over the SDK; `None` (every problem
/// printed) when the files are invalid.
///
/// # Errors
/// A bad `--selector` or a group without a region.
pub async fn prepare(
    global: &GlobalArgs,
    paths: &[PathBuf],
    concurrency: usize,
    allow_replace: bool,
) -> anyhow::Result<Option<(Vec<Arc<DesiredGroup>>, Scope, CliEngine)>> {
    let api = limited_sdk(global).await;
    let source = FileSource::new(
        paths.to_vec(),
        &global.selector,
        api.inner().default_region(),
    )?;
    let desired = match source.load_now() {
        Ok(desired) => desired,
        Err(SourceError::Invalid(lines)) => {
            for line in &lines {
                eprintln!("{line}");
            }
            eprintln!(
                "{} error{}; nothing was applied",
                lines.len(),
                plural(lines.len())
            );
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let options = PlanOptions {
        controller_id: global.controller_id.clone(),
        allow_replace,
    };
    Ok(Some((
        desired.into_iter().map(Arc::new).collect(),
        scope(&source),
        Engine::new(api, options, concurrency),
    )))
}
