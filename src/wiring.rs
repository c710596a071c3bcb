//! What every AWS-reading command shares: each target's SDK clients behind the client-side
//! rate limiter, the engine, the desired groups from the files (problems printed), and the
//! scope.

use std::path::PathBuf;
use std::sync::Arc;

use aws::{Connection, SdkApi, SdkProvider};
use client::layer::Layered;
use client::limiter::{is_local_endpoint, RateLimited, RateLimiter};
use client::metrics::ApiMetrics;
use client::{ClientProvider, PerTarget, Target};
use controller::{FileSource, SourceError};
use engine::{Engine, Scope};
use plan::{DesiredGroup, PlanOptions};

use crate::cli::GlobalArgs;

/// `s` when `n` is not 1.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The SDK's configuration, from the configuration chain and the global flags, with its
/// credentials loaded once before anything else: a failure is one line naming what was tried
/// and what to run, instead of every group failing with the SDK's message.
///
/// # Errors
/// No credentials, an unknown profile, an expired SSO session, a failing credential_process.
pub async fn sdk(global: &GlobalArgs) -> anyhow::Result<SdkProvider> {
    let connection = Connection {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    };
    let config = aws::load_config(&connection).await;
    aws::setup::check_credentials(&config, global.profile.as_deref()).await?;
    Ok(SdkProvider::new(config))
}

/// The AWS of a command: the SDK, and the scale of ECS's rates for the client-side limiter
/// (`--api-rate-scale`; off against a loopback endpoint unless given).
pub struct Aws {
    /// Each target's SDK clients.
    pub sdk: SdkProvider,
    scale: Option<f64>,
}

impl Aws {
    /// From the global flags and the environment.
    ///
    /// # Errors
    /// As [`sdk`].
    pub async fn new(global: &GlobalArgs) -> anyhow::Result<Aws> {
        let endpoint = global
            .endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_ECS").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        let local = endpoint.as_deref().is_some_and(is_local_endpoint);
        Ok(Aws {
            sdk: sdk(global).await?,
            scale: global.api_rate_scale.or((!local).then_some(1.0)),
        })
    }

    /// Each target's clients behind its own rate limiter.
    pub fn limited(&self) -> impl ClientProvider<Api = RateLimited<SdkApi>> + 'static {
        let (sdk, scale) = (self.sdk.clone(), self.scale);
        PerTarget::new(move |target: &Target| RateLimiter::wrap(sdk.clients(target), scale))
    }

    /// Each target's clients behind its own rate limiter, measured into `metrics`.
    pub fn metered(
        &self,
        metrics: &ApiMetrics,
    ) -> impl ClientProvider<Api = Layered<RateLimited<SdkApi>, ApiMetrics>> + 'static {
        let (sdk, scale, metrics) = (self.sdk.clone(), self.scale, metrics.clone());
        PerTarget::new(move |target: &Target| {
            Layered::new(
                RateLimiter::wrap(sdk.clients(target), scale),
                metrics.for_target(target),
            )
        })
    }
}

/// With `--harness-api-key-secret`: the Harness check, its API key read once from the secret.
///
/// # Errors
/// When the key cannot be read (the message names the ARN and the call, never the value).
pub async fn harness(
    global: &GlobalArgs,
    sdk: &SdkProvider,
) -> anyhow::Result<Option<Arc<harness::HarnessCheck>>> {
    let Some(arn) = &global.harness_api_key_secret else {
        return Ok(None);
    };
    let origins = harness_origins(global)?;
    let key = sdk.secret_value(arn).await.map_err(|e| {
        anyhow::anyhow!("reading the Harness API key (--harness-api-key-secret): {e}")
    })?;
    tracing::info!(secret = %arn, origins = ?origins.as_slice(), grace = %humantime::format_duration(global.harness_grace), "Harness check on: Ready requires the delegates connected");
    let api =
        harness::HttpHarness::new(harness::ApiKey::new(&key), global.harness_timeout, origins)
            .map_err(|e| anyhow::anyhow!("the Harness HTTP client: {e}"))?;
    Ok(Some(Arc::new(
        harness::HarnessCheck::new(Arc::new(api), global.harness_grace)
            .with_expiry_warning(global.harness_expiry_warning),
    )))
}

/// The rollout wave settings of `--wave-bake` and `--wave-failure`.
pub fn waves(global: &GlobalArgs) -> engine::waves::WaveSettings {
    engine::waves::WaveSettings {
        bake: global.wave_bake,
        on_failure: if global.wave_failure == "continue" {
            engine::waves::OnFailure::Continue
        } else {
            engine::waves::OnFailure::Halt
        },
    }
}

/// The change windows of `--window` and the policy file; `None` without any.
///
/// # Errors
/// A window that does not parse, naming where it came from.
pub fn windows(
    global: &GlobalArgs,
    policy: &spec::Policy,
) -> anyhow::Result<Option<Arc<engine::windows::Windows>>> {
    let mut windows = Vec::new();
    for text in &global.windows {
        windows.push(
            engine::windows::Window::parse(text).map_err(|e| anyhow::anyhow!("--window {e}"))?,
        );
    }
    for (i, text) in policy.windows.iter().flatten().enumerate() {
        windows.push(
            engine::windows::Window::parse(text)
                .map_err(|e| anyhow::anyhow!("the policy's windows[{i}]: {e}"))?,
        );
    }
    if windows.is_empty() {
        return Ok(None);
    }
    let drift = global.drift_outside_windows || policy.drift_outside_windows == Some(true);
    let list: Vec<String> = windows.iter().map(ToString::to_string).collect();
    tracing::info!(windows = %list.join("; "), drift_outside_windows = drift, "change windows: writes only while they allow");
    Ok(Some(Arc::new(engine::windows::Windows::new(
        windows, drift,
    ))))
}

/// Where the Harness API key may go: `--harness-origin` (EDC_HARNESS_ORIGINS), Harness SaaS
/// when none is given.
///
/// # Errors
/// An origin that is not https (or http to loopback), or not an origin.
pub fn harness_origins(global: &GlobalArgs) -> anyhow::Result<harness::AllowedOrigins> {
    let given: Vec<&str> = global
        .harness_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    let origins = if given.is_empty() {
        vec![harness::AllowedOrigins::SAAS]
    } else {
        given
    };
    harness::AllowedOrigins::parse(&origins).map_err(|e| anyhow::anyhow!("--harness-origin {e}"))
}

/// The environment variable holding the policy document itself, as ECS injects a secret.
const POLICY_DOCUMENT: &str = "EDC_POLICY_DOCUMENT";

/// The operator's policy (`--policy`, EDC_POLICY; else the document in EDC_POLICY_DOCUMENT), or
/// the default (the baseline, no adoption).
/// A policy inside the watched paths would be the files' authors' to change: refused.
///
/// # Errors
/// A policy inside a PATH, or one that cannot be read.
pub fn policy(global: &GlobalArgs, paths: &[PathBuf]) -> anyhow::Result<Arc<spec::Policy>> {
    let mut policy = Arc::unwrap_or_clone(policy_file(global, paths)?);
    policy.harness_check = global.harness_api_key_secret.is_some();
    Ok(Arc::new(policy))
}

/// The operator's policy as written (`--policy`, or deploy/'s variable).
fn policy_file(global: &GlobalArgs, paths: &[PathBuf]) -> anyhow::Result<Arc<spec::Policy>> {
    let Some(file) = &global.policy else {
        // deploy/ injects the policy from its own SSM parameter or secret as this variable.
        return match std::env::var(POLICY_DOCUMENT) {
            Ok(text) if !text.trim().is_empty() => {
                if text.len() as u64 > spec::files::MAX_FILE_BYTES {
                    anyhow::bail!("{POLICY_DOCUMENT}: larger than 1 MiB");
                }
                let policy = spec::Policy::parse(&text).map_err(|(at, message)| {
                    let at = at.map(|p| format!(":{p}")).unwrap_or_default();
                    anyhow::anyhow!("{POLICY_DOCUMENT}{at}: error: {message}")
                })?;
                Ok(Arc::new(policy))
            }
            _ => Ok(Arc::new(spec::Policy::default())),
        };
    };
    let canonical = file
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("--policy {}: {e}", file.display()))?;
    for path in paths {
        let Ok(watched) = path.canonicalize() else {
            continue;
        };
        if canonical.starts_with(&watched) {
            anyhow::bail!(
                "--policy {} is inside {}, which the files' authors write; keep the policy outside the watched paths",
                file.display(),
                path.display()
            );
        }
    }
    Ok(Arc::new(spec::Policy::read(file)?))
}

/// The scope of a command: the `--selector` it was given.
pub fn scope(source: &FileSource) -> Scope {
    Scope {
        selector: source.selectors.clone(),
    }
}

/// The files' selected groups, rendered, and an engine over the SDK (with the Harness check
/// when `with_harness` and the flag ask for it); `None` (every problem
/// printed) when the files are invalid.
///
/// # Errors
/// A bad `--selector` or a group without a region.
/// What a command does when the paths hold no group: a pipeline pointed at the wrong path should
/// notice (kubectl: "no objects passed to apply").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEmpty {
    /// A warning naming the paths; the command goes on.
    Warn,
    /// An error naming the paths (`--fail-on-empty`); exit 1.
    Fail,
}

pub async fn prepare(
    global: &GlobalArgs,
    paths: &[PathBuf],
    concurrency: usize,
    allow_replace: bool,
    with_harness: bool,
    on_empty: OnEmpty,
) -> anyhow::Result<
    Option<(
        Vec<Arc<DesiredGroup>>,
        Scope,
        Engine<impl ClientProvider + 'static>,
    )>,
> {
    let aws = Aws::new(global).await?;
    let policy = policy(global, paths)?;
    let windows = windows(global, &policy)?;
    let source = FileSource::new(paths.to_vec(), &global.selector, aws.sdk.default_region())?
        .with_retries(policy);
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
    if desired.is_empty() {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let what = if global.selector.is_empty() {
            String::new()
        } else {
            format!(" matching --selector {}", global.selector.join(","))
        };
        match on_empty {
            OnEmpty::Warn => eprintln!(
                "warning: no DelegateGroup{what} in {}; nothing to do (--fail-on-empty makes this an error)",
                named.join(" ")
            ),
            OnEmpty::Fail => {
                eprintln!("error: no DelegateGroup{what} in {}", named.join(" "));
                return Ok(None);
            }
        }
    }
    let options = PlanOptions {
        controller_id: global.controller_id.clone(),
        allow_replace,
    };
    let check = if with_harness {
        harness(global, &aws.sdk).await?
    } else {
        None
    };
    Ok(Some((
        desired.into_iter().map(Arc::new).collect(),
        scope(&source),
        Engine::new(aws.limited(), options, concurrency)
            .with_harness(check)
            .with_windows(windows)
            .with_waves(waves(global)),
    )))
}
