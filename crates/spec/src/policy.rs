//! The operator's guardrail policy: what a group may be, whoever wrote its file.
//!
//! The files come from people who can commit, not from the people who hold the controller's role;
//! the policy comes from the operator (`--policy FILE`, kept outside the watched directories).
//! It has two parts:
//! - a **baseline**, on unless the policy says `baseline: false`, in the spirit of Kubernetes'
//!   Pod Security "baseline" profile: no host volumes, no host network or PID mode, no
//!   privileged containers, no root user, no added Linux capabilities, and no container added,
//!   removed or given another image through `taskDefinitionOverrides`;
//! - **allow-lists**, each unrestricted when absent: image repositories (and digests only),
//!   execution and task roles, clusters, target account roles, subnets and security groups,
//!   secret ARN prefixes, launch types, manager URL origins, the count per group and in total, cpu and memory
//!   ceilings, the task definition family prefix, and adoption (off unless it names clusters).
//!
//! Rules are checked on the rendered task definition (after overrides), so an override cannot
//! reach what a spec field may not; each refusal names its field and its rule, and is a
//! validation error like any other: nothing is written.

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::arn::cluster_name;
use crate::document::TaskDefinitionDocument;
use crate::location::FieldPath;
use crate::types::{DelegateGroup, LaunchType};

mod baseline;
use baseline::*;

/// The policy's `kind`.
pub const POLICY_KIND: &str = "GuardrailPolicy";

/// The operator's policy. An absent list allows everything; adoption is off unless allowed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// `ecs-delegate-controller.io/v1alpha1`.
    pub api_version: String,
    /// `GuardrailPolicy`.
    pub kind: String,
    /// The built-in baseline (no host volumes, network or PID mode, privileged containers,
    /// root user, added capabilities, or containers added or replaced through overrides).
    #[serde(default = "yes")]
    pub baseline: bool,
    /// Container images.
    #[serde(default)]
    pub images: Option<ImageRules>,
    /// IAM roles a group may name.
    #[serde(default)]
    pub roles: Option<RoleRules>,
    /// ECS clusters (names or ARNs; `prefix*` for a prefix).
    #[serde(default)]
    pub clusters: Option<Vec<String>>,
    /// Roles of other accounts a group may assume (`spec.account.roleArn`; `prefix*`).
    #[serde(default)]
    pub accounts: Option<Vec<String>>,
    /// Subnets of awsvpc groups.
    #[serde(default)]
    pub subnets: Option<Vec<String>>,
    /// Security groups of awsvpc groups.
    #[serde(default)]
    pub security_groups: Option<Vec<String>>,
    /// Prefixes of the secret and parameter ARNs a group may inject (the token and any other
    /// `secrets[].valueFrom`).
    #[serde(default)]
    pub secret_prefixes: Option<Vec<String>>,
    /// Launch types.
    #[serde(default)]
    pub launch_types: Option<Vec<LaunchType>>,
    /// Origins (`https://host[:port]`) a group's `delegate.managerUrl` may name: the delegates
    /// send their token there, so a file pointing them elsewhere could take it.
    #[serde(default)]
    pub manager_origins: Option<Vec<String>>,
    /// Delegate counts.
    #[serde(default)]
    pub count: Option<CountRules>,
    /// Task size ceilings.
    #[serde(default)]
    pub resources: Option<ResourceRules>,
    /// Task definition families must start with this.
    #[serde(default)]
    pub family_prefix: Option<String>,
    /// Adopting services not created by this controller (`spec.service.adopt`); off unless
    /// given, and then only in these clusters.
    #[serde(default)]
    pub adoption: Option<AdoptionRules>,
    /// Change windows, each as `--window` takes it: `allow|deny MIN HOUR DAY-OF-MONTH MONTH
    /// DAY-OF-WEEK DURATION [TIME_ZONE]` (checked when the controller starts).
    #[serde(default)]
    pub windows: Option<Vec<String>>,
    /// Put drift back even while a window holds changes.
    #[serde(default)]
    pub drift_outside_windows: Option<bool>,
    /// Whether the Harness check runs (`--harness-api-key-secret`): set by the command line,
    /// never read from the file. `spec.delegate.version: auto` needs it.
    #[serde(skip)]
    #[schemars(skip)]
    pub harness_check: bool,
}

fn yes() -> bool {
    true
}

/// Image rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRules {
    /// Repositories (`harness/delegate`, `123456789012.dkr.ecr.us-east-1.amazonaws.com/delegate`;
    /// `prefix*` for a prefix), matched against the image without its tag or digest.
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
    /// Images must be pinned by digest (`@sha256:...`).
    #[serde(default)]
    pub digests_only: bool,
}

/// Role rules (exact ARNs, or `prefix*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleRules {
    /// Execution roles.
    #[serde(default)]
    pub execution: Option<Vec<String>>,
    /// Task roles.
    #[serde(default)]
    pub task: Option<Vec<String>>,
}

/// Count ceilings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CountRules {
    /// The most delegates one group may ask for.
    #[serde(default)]
    pub per_group: Option<i64>,
    /// The most delegates all groups together may ask for.
    #[serde(default)]
    pub total: Option<i64>,
}

/// Task size ceilings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRules {
    /// The most CPU units a task may have.
    #[serde(default)]
    pub max_cpu: Option<u32>,
    /// The most MiB a task may have.
    #[serde(default)]
    pub max_memory: Option<u32>,
}

/// Where adoption is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdoptionRules {
    /// Clusters (names or ARNs) in which unmanaged services may be adopted.
    pub clusters: Vec<String>,
}

impl Default for Policy {
    /// No policy file: the baseline, and no adoption.
    fn default() -> Self {
        Policy {
            api_version: crate::types::API_VERSION.into(),
            kind: POLICY_KIND.into(),
            baseline: true,
            images: None,
            roles: None,
            clusters: None,
            accounts: None,
            subnets: None,
            security_groups: None,
            secret_prefixes: None,
            launch_types: None,
            manager_origins: None,
            count: None,
            resources: None,
            family_prefix: None,
            adoption: None,
            windows: None,
            drift_outside_windows: None,
            harness_check: false,
        }
    }
}

/// Why a policy file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: error: {message}")]
pub struct PolicyError {
    /// The file (and position, where known), as `path[:line:col]`.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl Policy {
    /// Reads the policy at `file`, bounded and screened as group files are.
    ///
    /// # Errors
    /// A file that cannot be read, is not YAML, or is not a policy.
    pub fn read(file: &Path) -> Result<Self, PolicyError> {
        let problem = |message: String| PolicyError {
            file: file.display().to_string(),
            message,
        };
        let mut budget = crate::files::MAX_FILE_BYTES;
        let bytes = crate::files::read_bounded(file, &mut budget).map_err(problem)?;
        let text = crate::bytes::screen(&bytes).map_err(|r| PolicyError {
            file: format!("{}:{}", file.display(), r.position),
            message: r.message,
        })?;
        Self::parse(text).map_err(|(position, message)| PolicyError {
            file: match position {
                Some(p) => format!("{}:{p}", file.display()),
                None => file.display().to_string(),
            },
            message,
        })
    }

    /// Parses a policy document.
    ///
    /// # Errors
    /// The position (where known) and the problem.
    pub fn parse(text: &str) -> Result<Self, (Option<crate::Position>, String)> {
        crate::bytes::screen(text.as_bytes()).map_err(|r| (Some(r.position), r.message))?;
        let index = crate::location::index_documents(text)
            .map_err(|e| (Some(e.position), format!("invalid YAML: {}", e.message)))?;
        let index = index.into_iter().next().unwrap_or_default();
        if let Some((path, at, _)) = index.duplicates.first() {
            return Err((Some(*at), format!("{path}: duplicate key")));
        }
        let document = serde_yaml::Deserializer::from_str(text);
        let policy: Policy = serde_path_to_error::deserialize(document).map_err(|e| {
            let path = FieldPath::new(&e.path().to_string());
            let message = e.inner().to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            (Some(index.locate(&path)), format!("{path}: {message}"))
        })?;
        if policy.api_version != crate::types::API_VERSION || policy.kind != POLICY_KIND {
            return Err((
                Some(index.start()),
                format!(
                    "expected apiVersion {:?} and kind {POLICY_KIND:?}",
                    crate::types::API_VERSION
                ),
            ));
        }
        Ok(policy)
    }

    /// The JSON Schema of the policy file.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Policy)).unwrap_or_default()
    }
}

/// Whether `value` matches one of `allowed` (exact, or a `prefix*`).
fn allowed_by(allowed: &[String], value: &str) -> bool {
    allowed.iter().any(|a| match a.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => a == value,
    })
}

/// A cluster as written matches by name or by ARN.
fn cluster_allowed(allowed: &[String], cluster: &str) -> bool {
    allowed_by(allowed, cluster) || allowed_by(allowed, cluster_name(cluster))
}

/// The repository of an image reference: without `@digest` and without a `:tag` after the
/// last `/` (a registry's `:port` stays).
pub fn image_repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rfind('/').map_or(0, |i| i + 1);
    match image[last..].find(':') {
        Some(colon) => &image[..last + colon],
        None => image,
    }
}

/// How a check reports: the field at fault and the message (its rule named at the end).
type Report<'a> = dyn FnMut(FieldPath, String) + 'a;

fn refuse(report: &mut Report<'_>, path: &str, rule: &str, message: String) {
    report(
        FieldPath::new(path),
        format!("{message} (policy rule {rule})"),
    );
}

/// Checks one group against `policy`; `rendered` is its task definition after overrides
/// (`None` when it does not render; validation reports that).
pub fn check_group(
    policy: &Policy,
    group: &DelegateGroup,
    rendered: Option<&TaskDefinitionDocument>,
    base: Option<&TaskDefinitionDocument>,
    report: &mut Report<'_>,
) {
    let spec = &group.spec;
    if policy.baseline {
        if let (Some(doc), Some(base)) = (rendered, base) {
            check_baseline(group, doc, base, report);
        }
        check_unrendered_overrides(group, report);
    }
    if let Some(images) = &policy.images {
        for (i, image) in images_of(group, rendered) {
            let path = image_path(i);
            if let Some(repos) = &images.repositories {
                if !allowed_by(repos, image_repository(image)) {
                    refuse(
                        report,
                        &path,
                        "images.repositories",
                        format!("repository {:?} is not allowed", image_repository(image)),
                    );
                }
            }
            if images.digests_only && !image.contains("@sha256:") {
                refuse(
                    report,
                    &path,
                    "images.digestsOnly",
                    "the image must be pinned by digest (@sha256:...)".into(),
                );
            }
        }
    }
    if let Some(roles) = &policy.roles {
        if let Some(allowed) = &roles.execution {
            let execution = rendered
                .and_then(|d| d.execution_role_arn.as_deref())
                .unwrap_or(&spec.roles.execution);
            if !allowed_by(allowed, execution) {
                refuse(
                    report,
                    "spec.roles.execution",
                    "roles.execution",
                    format!("{execution:?} is not allowed"),
                );
            }
        }
        if let Some(allowed) = &roles.task {
            let task = rendered
                .and_then(|d| d.task_role_arn.as_deref())
                .or(spec.roles.task.as_deref());
            if let Some(task) = task.filter(|t| !allowed_by(allowed, t)) {
                refuse(
                    report,
                    "spec.roles.task",
                    "roles.task",
                    format!("{task:?} is not allowed"),
                );
            }
        }
    }
    if let Some(clusters) = &policy.clusters {
        if !cluster_allowed(clusters, &spec.cluster) {
            refuse(
                report,
                "spec.cluster",
                "clusters",
                format!("cluster {:?} is not allowed", spec.cluster),
            );
        }
    }
    if let (Some(accounts), Some(account)) = (&policy.accounts, &spec.account) {
        if !allowed_by(accounts, &account.role_arn) {
            refuse(
                report,
                "spec.account.roleArn",
                "accounts",
                format!("the role {:?} is not allowed", account.role_arn),
            );
        }
    }
    if let Some(network) = &spec.network {
        let lists = [
            ("subnets", &policy.subnets, &network.subnets),
            (
                "securityGroups",
                &policy.security_groups,
                &network.security_groups,
            ),
        ];
        for (rule, allowed, values) in lists {
            let Some(allowed) = allowed else { continue };
            for (i, value) in values.iter().enumerate() {
                if !allowed_by(allowed, value) {
                    refuse(
                        report,
                        &format!("spec.network.{rule}[{i}]"),
                        rule,
                        format!("{value:?} is not allowed"),
                    );
                }
            }
        }
    }
    if let Some(prefixes) = &policy.secret_prefixes {
        for (path, arn) in secrets_of(group, rendered) {
            if !prefixes
                .iter()
                .any(|p| arn.starts_with(p.trim_end_matches('*')))
            {
                refuse(
                    report,
                    &path,
                    "secretPrefixes",
                    format!("{arn:?} is not under an allowed prefix"),
                );
            }
        }
    }
    if let Some(types) = &policy.launch_types {
        if !types.contains(&spec.compatibility()) {
            // Capacity providers run the tasks as FARGATE or EC2 ones: the same rule, said
            // where the file chose them.
            let (field, through) = if spec.capacity_provider_strategy.is_empty() {
                ("spec.launchType", "")
            } else {
                (
                    "spec.capacityProviderStrategy",
                    " (through its capacity providers)",
                )
            };
            refuse(
                report,
                field,
                "launchTypes",
                format!("{}{through} is not allowed", spec.compatibility().as_str()),
            );
        }
    }
    if let Some(origins) = &policy.manager_origins {
        let origin = spec.delegate.manager_origin();
        let allowed = origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
        if !allowed {
            refuse(
                report,
                "spec.delegate.managerUrl",
                "managerOrigins",
                format!("origin {origin:?} is not allowed (the delegates send their token there)"),
            );
        }
        // FirstGen: the start script downloads the watcher (and with it the delegate) from
        // these and runs it: a code path around the image rules, held to the same origins.
        for (field, url) in spec.delegate.download_urls() {
            let origin = crate::types::origin_of(url);
            if !origins
                .iter()
                .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
            {
                refuse(
                    report,
                    &format!("spec.delegate.firstgen.{field}"),
                    "managerOrigins",
                    format!(
                        "origin {origin:?} is not allowed (the delegate downloads and runs the \
                         watcher from there)"
                    ),
                );
            }
        }
    }
    if let Some(max) = policy.count.as_ref().and_then(|c| c.per_group) {
        match spec.max_count() {
            Some(count) if count > max => refuse(
                report,
                "spec.count",
                "count.perGroup",
                format!("{count} is over the ceiling of {max}"),
            ),
            None => refuse(
                report,
                "spec.count",
                "count.perGroup",
                format!(
                    "a group without a count (owned by someone else) could grow past the \
                     ceiling of {max}: set a count"
                ),
            ),
            _ => {}
        }
    }
    if let Some(resources) = &policy.resources {
        if let Some(max) = resources.max_cpu.filter(|max| spec.resources.cpu > *max) {
            refuse(
                report,
                "spec.resources.cpu",
                "resources.maxCpu",
                format!("{} is over the ceiling of {max}", spec.resources.cpu),
            );
        }
        if let Some(max) = resources
            .max_memory
            .filter(|max| spec.resources.memory > *max)
        {
            refuse(
                report,
                "spec.resources.memory",
                "resources.maxMemory",
                format!("{} is over the ceiling of {max}", spec.resources.memory),
            );
        }
    }
    if let (Some(prefix), Some(doc)) = (&policy.family_prefix, rendered) {
        if !doc.family.starts_with(prefix.as_str()) {
            let path = if has_override(group, &["family"]) {
                "spec.taskDefinitionOverrides.family"
            } else {
                "metadata.name"
            };
            refuse(
                report,
                path,
                "familyPrefix",
                format!("family {:?} does not start with {prefix:?}", doc.family),
            );
        }
    }
    if spec.service.as_ref().is_some_and(|s| s.adopt) {
        match &policy.adoption {
            None => refuse(
                report,
                "spec.service.adopt",
                "adoption",
                "adopting a service this controller did not create is off; the operator allows it per cluster".into(),
            ),
            Some(rules) if !cluster_allowed(&rules.clusters, &spec.cluster) => refuse(
                report,
                "spec.service.adopt",
                "adoption",
                format!("adoption is not allowed in cluster {:?}", spec.cluster),
            ),
            Some(_) => {}
        }
    }
}
