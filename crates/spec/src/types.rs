//! The `DelegateGroup` resource (`ecs-delegate-controller.io/v1alpha1`), as users write it.
//!
//! Unknown fields are not rejected by serde here: the loader collects every one of them (with
//! `serde_ignored`) so that a file with three typos reports three errors at once. The schema still
//! says `additionalProperties: false` for editors.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only apiVersion this controller reads.
pub const API_VERSION: &str = "ecs-delegate-controller.io/v1alpha1";
/// The only kind this controller reads.
pub const KIND: &str = "DelegateGroup";

/// A fleet of Harness Delegates run as one ECS service (or a set of standalone tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, title = "DelegateGroup")]
pub struct DelegateGroup {
    /// Must be `ecs-delegate-controller.io/v1alpha1`.
    #[schemars(extend("const" = "ecs-delegate-controller.io/v1alpha1"))]
    pub api_version: String,
    /// Must be `DelegateGroup`.
    #[schemars(extend("const" = "DelegateGroup"))]
    pub kind: String,
    /// Name and labels.
    pub metadata: Metadata,
    /// What the fleet should look like.
    pub spec: DelegateGroupSpec,
}

/// Identity of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Metadata {
    /// DNS-1123 label of at most 63 characters; the Harness Delegate Group name.
    pub name: String,
    /// Free-form labels, matched by `--selector k=v`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The desired state of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DelegateGroupSpec {
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// AWS region; when absent, the AWS configuration chain decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS account the group lives in, as the IAM role the controller assumes there;
    /// absent: the controller's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    /// Delegate tasks wanted: a number (>= 0), or a range Application Auto Scaling keeps
    /// (`{min: 2, max: 10, cpu: 60}`: a target-tracking policy on the service's average CPU,
    /// or `memory`, utilization in percent). Leave it out when someone else owns the count (a
    /// person, an autoscaling setup of your own): the controller then never writes desiredCount,
    /// and creates the service with 1. `mode: tasks` needs a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Count>,
    /// `service` (an ECS service keeps the count) or `tasks` (the controller keeps standalone tasks).
    #[serde(default)]
    pub mode: Mode,
    /// `EC2` or `FARGATE`. With neither this nor `capacityProviderStrategy`, ECS uses the
    /// cluster's default capacity provider strategy, for tasks built for EC2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    /// Capacity providers instead of a launch type: `FARGATE`, `FARGATE_SPOT`, or the cluster's
    /// Auto Scaling group providers, with their weight and base.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    /// `bridge` (EC2 default), `host` or `awsvpc` (forced by FARGATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// Subnets and security groups; required with awsvpc, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Container hostname; EC2 with bridge or host networking only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Delegate Selectors, joined with commas into DELEGATE_TAGS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<String>,
    /// FirstGen delegate profile (DELEGATE_PROFILE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// IAM roles of the task.
    pub roles: Roles,
    /// Task-level CPU units and memory (MiB).
    #[serde(default)]
    pub resources: Resources,
    /// The delegate container.
    pub delegate: Delegate,
    /// ECS service settings (service mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSettings>,
    /// A JSON merge patch (RFC 7396) applied to the rendered task definition document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_overrides: Option<serde_json::Map<String, serde_json::Value>>,
    /// Tags put on the task definition and the service (keys may not use the controller's prefix).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How a change reaches this group when it touches several (`wave`: 0 first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// Observe and report only; change nothing.
    #[serde(default)]
    pub suspend: bool,
}

/// `spec.rollout`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rollout {
    /// The wave: a change reaches wave N only once every group of the waves before it is Ready
    /// (and connected, with the Harness check), baked, and not failed.
    #[serde(default)]
    #[schemars(range(max = 100))]
    pub wave: u32,
}

impl DelegateGroupSpec {
    /// The group's wave (0 without `rollout`).
    pub fn wave(&self) -> u32 {
        self.rollout.as_ref().map_or(0, |r| r.wave)
    }
}

/// `spec.count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a whole number of tasks (2), or a range {min: 2, max: 10, cpu: 60} (or memory)"
)]
pub enum Count {
    /// This many tasks.
    Fixed(#[schemars(range(min = 0, max = 2147483647))] i64),
    /// Between `min` and `max`, as Application Auto Scaling scales the service.
    Range(CountRange),
}

/// A count Application Auto Scaling keeps between `min` and `max`, tracking one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountRange {
    /// The scalable target's MinCapacity (and the count a new service starts with).
    pub min: i64,
    /// Its MaxCapacity.
    pub max: i64,
    /// Target average CPU utilization of the service, in percent (ECSServiceAverageCPUUtilization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u8>,
    /// Target average memory utilization, in percent (ECSServiceAverageMemoryUtilization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u8>,
}

impl CountRange {
    /// The predefined metric and its target value.
    pub fn target(&self) -> (&'static str, u8) {
        match (self.cpu, self.memory) {
            (_, Some(memory)) if self.cpu.is_none() => {
                ("ECSServiceAverageMemoryUtilization", memory)
            }
            (cpu, _) => ("ECSServiceAverageCPUUtilization", cpu.unwrap_or(0)),
        }
    }
}

/// How the delegate tasks are kept running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// An ECS service (recommended).
    #[default]
    Service,
    /// Standalone tasks started and replaced by the controller.
    Tasks,
}

/// Where the tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum LaunchType {
    /// Container instances of the cluster.
    #[default]
    #[serde(rename = "EC2")]
    Ec2,
    /// Serverless; needs awsvpc networking.
    #[serde(rename = "FARGATE")]
    Fargate,
}

/// One capacity provider of a strategy (the model's CapacityProviderStrategyItem).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CapacityProviderItem {
    /// The provider's short name: FARGATE, FARGATE_SPOT, or an Auto Scaling group provider.
    #[schemars(length(min = 1, max = 255))]
    pub capacity_provider: String,
    /// Its share of the tasks beyond the base (0 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub weight: Option<i32>,
    /// Tasks placed on it first (0 when absent); one provider at most may have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub base: Option<i32>,
}

impl CapacityProviderItem {
    /// The Fargate capacity providers every account has ("specify either the FARGATE or
    /// FARGATE_SPOT capacity providers", CapacityProviderStrategyItem in the API reference).
    pub const FARGATE_PROVIDERS: [&'static str; 2] = ["FARGATE", "FARGATE_SPOT"];

    /// A Fargate provider (else an Auto Scaling group's, on EC2 instances).
    pub fn is_fargate(&self) -> bool {
        Self::FARGATE_PROVIDERS.contains(&self.capacity_provider.as_str())
    }
}

impl LaunchType {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchType::Ec2 => "EC2",
            LaunchType::Fargate => "FARGATE",
        }
    }
}

/// Docker networking mode of the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Docker's bridge network (EC2 only).
    Bridge,
    /// The host's network (EC2 only).
    Host,
    /// An elastic network interface per task.
    Awsvpc,
}

impl NetworkMode {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Bridge => "bridge",
            NetworkMode::Host => "host",
            NetworkMode::Awsvpc => "awsvpc",
        }
    }
}

/// awsvpc network configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Network {
    /// At least one subnet ID.
    pub subnets: Vec<String>,
    /// Security group IDs.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Give each task a public IP (needed on FARGATE in a public subnet without NAT).
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// Another AWS account: the role the controller assumes there (STS AssumeRole).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Account {
    /// `arn:aws:iam::ACCOUNT:role/NAME`: trusts the controller's role (see deploy/).
    pub role_arn: String,
    /// The `sts:ExternalId` the role's trust policy requires, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The role session name, as CloudTrail shows it (default `ecs-delegate-controller`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
}

impl Account {
    /// The 12-digit account id of the role, when its ARN is well formed.
    pub fn id(&self) -> Option<&str> {
        crate::arn::Arn::parse(&self.role_arn).map(|a| a.account)
    }
}

/// IAM roles of the delegate task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Roles {
    /// taskRoleArn: what the delegate itself may do in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// executionRoleArn: lets ECS pull the image and inject the token secret. Required.
    pub execution: String,
}

/// Task-level resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Resources {
    /// CPU units (1024 = one vCPU).
    #[serde(default = "Resources::default_cpu")]
    pub cpu: u32,
    /// Memory in MiB; the container gets all of it.
    #[serde(default = "Resources::default_memory")]
    pub memory: u32,
}

impl Resources {
    fn default_cpu() -> u32 {
        1024
    }
    fn default_memory() -> u32 {
        6144
    }
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu: Self::default_cpu(),
            memory: Self::default_memory(),
        }
    }
}

/// Which Harness delegate is run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Harness NextGen delegate.
    #[default]
    Nextgen,
    /// Harness FirstGen ECS delegate.
    Firstgen,
}

/// The delegate container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Delegate {
    /// `nextgen` or `firstgen`.
    #[serde(default)]
    pub flavor: Flavor,
    /// Delegate image, e.g. `harness/delegate:24.10.84200`.
    pub image: String,
    /// Harness account identifier (ACCOUNT_ID).
    pub account_id: String,
    /// Harness Manager URL (MANAGER_HOST_AND_PORT), http or https.
    pub manager_url: String,
    /// Where the delegate token is stored; never a plaintext value.
    pub token: TokenRef,
    /// NextGen organization identifier (DELEGATE_ORG_IDENTIFIER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// NextGen project identifier (DELEGATE_PROJECT_IDENTIFIER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Extra environment variables; may not override the controller's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// CloudWatch Logs group for the awslogs driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// Container health check on the delegate's /api/health (default: on for nextgen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<bool>,
    /// DEPLOY_MODE: how the Harness installation the delegate joins is deployed (`KUBERNETES`,
    /// Harness SaaS and Harness's default; `KUBERNETES_ONPREM` for Self-Managed Enterprise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_mode: Option<DeployMode>,
    /// FirstGen: where the delegate's start script fetches the watcher and the delegate, as in
    /// the `ecs-task-spec.json` Harness's FirstGen download gives (`import` copies them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firstgen: Option<FirstgenDownload>,
    /// The delegate version: `auto` (Harness's latest supported version for the account, the
    /// `latest` track; `{auto: minimal}` for the minimal image) or a pinned version such as
    /// `25.01.84800`. With it, `image` is the repository (`harness/delegate`, a mirror, an ECR
    /// repository) without a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionSetting>,
    /// With `version: auto`: the version Harness named, set by the controller before rendering
    /// (never read from a file).
    #[serde(skip)]
    #[schemars(skip)]
    pub resolved_version: Option<String>,
}

/// Harness's DeployMode: the value of DEPLOY_MODE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeployMode {
    /// Harness SaaS (Harness's default).
    #[default]
    Kubernetes,
    /// Harness Self-Managed Enterprise Edition.
    KubernetesOnprem,
    /// An on-premises manager installed without Kubernetes.
    Onprem,
    /// A manager on AWS.
    Aws,
}

impl DeployMode {
    /// As Harness spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployMode::Kubernetes => "KUBERNETES",
            DeployMode::KubernetesOnprem => "KUBERNETES_ONPREM",
            DeployMode::Onprem => "ONPREM",
            DeployMode::Aws => "AWS",
        }
    }
}

/// The values Harness's FirstGen ECS template (`harness-ecs-delegate.json.ftl`) fills in for
/// an account: copy them from the downloaded `ecs-task-spec.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FirstgenDownload {
    /// WATCHER_STORAGE_URL, e.g. `https://app.harness.io/public/prod/premium/watchers`.
    pub watcher_storage_url: String,
    /// WATCHER_CHECK_LOCATION, e.g. `current.version`.
    pub watcher_check_location: String,
    /// DELEGATE_STORAGE_URL, e.g. `https://app.harness.io`.
    pub delegate_storage_url: String,
    /// DELEGATE_CHECK_LOCATION, e.g. `delegateprod.txt`.
    pub delegate_check_location: String,
    /// USE_CDN: fetch the watcher from the CDN (`remoteWatcherUrlCdn`).
    #[serde(default)]
    pub use_cdn: bool,
    /// CDN_URL, with `useCdn`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cdn_url: String,
    /// REMOTE_WATCHER_URL_CDN, with `useCdn`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_watcher_url_cdn: String,
    /// JRE_VERSION the watcher runs the delegate on, e.g. `11.0.19`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jre_version: String,
    /// DELEGATE_GROUP_ID, when the download named an existing delegate group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delegate_group_id: String,
}

/// `spec.delegate.version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VersionSetting {
    /// `auto`, or a pinned version such as `25.01.84800`.
    Text(String),
    /// `{auto: latest}` or `{auto: minimal}`.
    Track {
        /// Which of Harness's supported versions: `latest` or `minimal`.
        auto: Track,
    },
}

/// Which image Harness's latest supported version names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    /// `latestSupportedVersion`.
    Latest,
    /// `latestSupportedMinimalVersion` (the image without client tools).
    Minimal,
}

/// What `spec.delegate.version` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WantedVersion<'a> {
    /// Harness's latest supported version on a track.
    Auto(Track),
    /// This version.
    Pinned(&'a str),
}

impl VersionSetting {
    /// What it asks for.
    pub fn wanted(&self) -> WantedVersion<'_> {
        match self {
            VersionSetting::Text(text) if text == "auto" => WantedVersion::Auto(Track::Latest),
            VersionSetting::Text(text) => WantedVersion::Pinned(text),
            VersionSetting::Track { auto } => WantedVersion::Auto(*auto),
        }
    }
}

impl Delegate {
    /// The track when the version is `auto`.
    pub fn auto_track(&self) -> Option<Track> {
        match self.version.as_ref().map(VersionSetting::wanted) {
            Some(WantedVersion::Auto(track)) => Some(track),
            _ => None,
        }
    }

    /// DEPLOY_MODE.
    pub fn deploy_mode(&self) -> DeployMode {
        self.deploy_mode.unwrap_or_default()
    }
}

/// A reference to the delegate token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TokenRef {
    /// ARN of a Secrets Manager secret or an SSM parameter holding the token.
    pub secret_arn: String,
}

/// ECS service settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Service name; default `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower bound of running tasks during a deployment, in percent of count (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: Option<i32>,
    /// Upper bound of tasks during a deployment, in percent of count (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100))]
    pub maximum_percent: Option<i32>,
    /// Deployment circuit breaker (default: enabled, with rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Allow `aws ecs execute-command` into the delegate.
    #[serde(default)]
    pub enable_execute_command: bool,
    /// Changing this value forces a new deployment (for example after a token rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    /// Copy tags to the tasks from the SERVICE (default), the TASK_DEFINITION, or NONE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,
    /// Take ownership of an existing service of this name that no controller manages (no
    /// managed-by tag): `import` sets it. Services of another controller id stay conflicts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

/// Where a service's tasks get their tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PropagateTags {
    /// The service's tags.
    #[serde(rename = "SERVICE")]
    Service,
    /// The task definition's tags.
    #[serde(rename = "TASK_DEFINITION")]
    TaskDefinition,
    /// None.
    #[serde(rename = "NONE")]
    None,
}

impl PropagateTags {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PropagateTags::Service => "SERVICE",
            PropagateTags::TaskDefinition => "TASK_DEFINITION",
            PropagateTags::None => "NONE",
        }
    }
}

/// ECS deployment circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Stop a deployment whose tasks keep failing.
    pub enable: bool,
    /// Roll back to the last completed deployment when it stops one.
    pub rollback: bool,
}

impl Delegate {
    /// `scheme://host[:port]` of the manager URL (validation requires an http(s) URL): where
    /// the delegates send their token, and where Harness's API is asked.
    pub fn manager_origin(&self) -> &str {
        origin_of(&self.manager_url)
    }

    /// FirstGen: the URLs the delegate's start script downloads the watcher and the delegate
    /// from (and runs), with their fields.
    pub fn download_urls(&self) -> Vec<(&'static str, &str)> {
        let Some(download) = self.firstgen.as_ref() else {
            return Vec::new();
        };
        [
            ("watcherStorageUrl", download.watcher_storage_url.as_str()),
            ("delegateStorageUrl", download.delegate_storage_url.as_str()),
            ("cdnUrl", download.cdn_url.as_str()),
            (
                "remoteWatcherUrlCdn",
                download.remote_watcher_url_cdn.as_str(),
            ),
        ]
        .into_iter()
        .filter(|(_, url)| !url.is_empty())
        .collect()
    }
}

/// `scheme://host[:port]` of a URL as written.
pub fn origin_of(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    &url[..end]
}

impl DelegateGroupSpec {
    /// The count a new service starts with: `count`, a range's `min`, or 1 when someone else
    /// owns the count.
    pub fn initial_count(&self) -> i64 {
        match &self.count {
            Some(Count::Fixed(n)) => *n,
            Some(Count::Range(range)) => range.min,
            None => 1,
        }
    }

    /// A fixed count.
    pub fn fixed_count(&self) -> Option<i64> {
        match &self.count {
            Some(Count::Fixed(n)) => Some(*n),
            _ => None,
        }
    }

    /// A range Application Auto Scaling keeps.
    pub fn count_range(&self) -> Option<&CountRange> {
        match &self.count {
            Some(Count::Range(range)) => Some(range),
            _ => None,
        }
    }

    /// The most tasks the files allow: the count, or a range's max; `None` when someone else
    /// owns the count.
    pub fn max_count(&self) -> Option<i64> {
        match &self.count {
            Some(Count::Fixed(n)) => Some(*n),
            Some(Count::Range(range)) => Some(range.max),
            None => None,
        }
    }

    /// What the tasks are built for (the task definition's requiresCompatibilities): the
    /// launch type; with a strategy, FARGATE when its providers are Fargate's; else EC2.
    pub fn compatibility(&self) -> LaunchType {
        match (self.launch_type, self.capacity_provider_strategy.first()) {
            (Some(launch_type), _) => launch_type,
            (None, Some(first)) if first.is_fargate() => LaunchType::Fargate,
            (None, _) => LaunchType::Ec2,
        }
    }

    /// The network mode in force: the one given, else awsvpc on FARGATE and bridge on EC2.
    pub fn effective_network_mode(&self) -> NetworkMode {
        match (self.network_mode, self.compatibility()) {
            (Some(mode), _) => mode,
            (None, LaunchType::Fargate) => NetworkMode::Awsvpc,
            (None, LaunchType::Ec2) => NetworkMode::Bridge,
        }
    }
}

impl DelegateGroup {
    /// The ECS service name: `spec.service.name`, else the group name.
    pub fn service_name(&self) -> &str {
        self.spec
            .service
            .as_ref()
            .and_then(|s| s.name.as_deref())
            .unwrap_or(&self.metadata.name)
    }

    /// The task definition family: `taskDefinitionOverrides.family`, else the group name.
    pub fn family(&self) -> &str {
        self.spec
            .task_definition_overrides
            .as_ref()
            .and_then(|o| o.get("family"))
            .and_then(|f| f.as_str())
            .unwrap_or(&self.metadata.name)
    }
}
