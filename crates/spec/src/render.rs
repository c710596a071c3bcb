//! DelegateGroup -> the RegisterTaskDefinition and CreateService documents. Pure: no IO.
//!
//! The shape follows Harness's `ecs-task-spec.json`: one essential container `ecs-delegate`, task
//! cpu/memory as strings, container memory equal to the task memory, `requiresCompatibilities`,
//! and for services the spread placement over zone and instance on EC2.

use std::collections::BTreeMap;

use crate::document::{
    AwsVpcConfiguration, ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration,
    HealthCheck, KeyValue, LogConfiguration, NetworkConfiguration, PlacementStrategy,
    RunTaskDocument, Secret, ServiceDocument, Tag, TaskDefinitionDocument,
};
use crate::hash::spec_hash;
use crate::location::FieldPath;
use crate::types::{DelegateGroup, Flavor, LaunchType, Mode, NetworkMode};

/// The name of the delegate container, as in Harness's template.
pub const CONTAINER_NAME: &str = "ecs-delegate";
/// Prefix of every tag the controller owns; users may not set tags under it.
pub const TAG_PREFIX: &str = "ecs-delegate-controller.io/";
/// Tag: id of the controller that manages the resource.
pub const TAG_MANAGED_BY: &str = "ecs-delegate-controller.io/managed-by";
/// Tag: the DelegateGroup name.
pub const TAG_GROUP: &str = "ecs-delegate-controller.io/group";
/// Tag: `"false"` on a service (the controller's own) that is never adopted, whatever a file
/// asks; IAM's adoption statement requires it absent.
pub const TAG_ADOPTABLE: &str = "ecs-delegate-controller.io/adoptable";
/// Tag: hash of the canonical rendered task definition document.
pub const TAG_SPEC_HASH: &str = "ecs-delegate-controller.io/spec-hash";
/// Tag (services): the task definition ARN the service was last pointed at.
pub const TAG_TASK_DEFINITION: &str = "ecs-delegate-controller.io/task-definition";
/// Tag: the Delegate Selectors, space-separated (ECS tag values may not contain commas).
pub const TAG_SELECTORS: &str = "ecs-delegate-controller.io/selectors";
/// Tag (services): the revision ECS's circuit breaker rolled the service back to, written when
/// the controller finds the rollback. While the spec-hash tag still names the spec that failed,
/// that spec is not deployed again and the service is held at this revision.
pub const TAG_ROLLED_BACK: &str = "ecs-delegate-controller.io/rolled-back";
/// Tag (services): the keys of the user tags (`spec.tags`) the controller wrote on the service,
/// so that one the spec drops is removed, and a tag someone else added never is. The value is
/// length-prefixed (`4:team11:cost-center`): keys may contain any character a value may.
pub const TAG_TAG_KEYS: &str = "ecs-delegate-controller.io/tag-keys";
/// Tag (services): the controller registered the service's scalable target (a count range),
/// so it may deregister it when the range goes; a target someone else registered is never
/// touched.
pub const TAG_SCALING: &str = "ecs-delegate-controller.io/scaling";
/// Container label: `spec.service.restartedAt`, so that changing it makes a new revision.
pub const TAG_RESTARTED_AT: &str = "ecs-delegate-controller.io/restarted-at";
/// `startedBy` of standalone tasks.
pub const STARTED_BY: &str = "ecs-delegate-controller";
/// How the reason of every task the controller stops begins: a stop with it is the
/// controller's own, never evidence of a crash.
pub const STOP_REASON_PREFIX: &str = "ecs-delegate-controller:";
/// How long ECS lets a stopping NextGen delegate finish its tasks: ECS's maximum on Fargate.
pub const STOP_TIMEOUT_SECONDS: i32 = 120;
/// The health check of the NextGen delegate.
pub const HEALTH_CHECK_COMMAND: &str = "curl -f http://localhost:3460/api/health || exit 1";

/// Variables the controller sets for a NextGen delegate (DELEGATE_TOKEN is a secret).
pub const NEXTGEN_OWNED: &[&str] = &[
    "ACCOUNT_ID",
    "DELEGATE_TOKEN",
    "MANAGER_HOST_AND_PORT",
    "NEXT_GEN",
    "DELEGATE_NAME",
    "DELEGATE_TYPE",
    "DEPLOY_MODE",
    "DELEGATE_TAGS",
    "DELEGATE_ORG_IDENTIFIER",
    "DELEGATE_PROJECT_IDENTIFIER",
];
/// Variables the controller sets for a FirstGen delegate (ACCOUNT_SECRET is a secret): those of
/// Harness's FirstGen ECS template that carry the account's values, and DELEGATE_NAME.
pub const FIRSTGEN_OWNED: &[&str] = &[
    "ACCOUNT_ID",
    "ACCOUNT_SECRET",
    "MANAGER_HOST_AND_PORT",
    "DELEGATE_NAME",
    "DELEGATE_GROUP_NAME",
    "DELEGATE_GROUP_ID",
    "DELEGATE_PROFILE",
    "DELEGATE_TYPE",
    "DEPLOY_MODE",
    "POLL_FOR_TASKS",
    "WATCHER_STORAGE_URL",
    "WATCHER_CHECK_LOCATION",
    "DELEGATE_STORAGE_URL",
    "DELEGATE_CHECK_LOCATION",
    "REMOTE_WATCHER_URL_CDN",
    "USE_CDN",
    "CDN_URL",
    "JRE_VERSION",
];

/// The rest of Harness's FirstGen ECS template, with its values: client tool paths and
/// switches a user may set in `spec.delegate.env`.
pub const FIRSTGEN_TEMPLATE_DEFAULTS: &[(&str, &str)] = &[
    ("INIT_SCRIPT", ""),
    ("CF_PLUGIN_HOME", ""),
    ("HELM3_PATH", ""),
    ("HELM_PATH", ""),
    ("CF_CLI6_PATH", ""),
    ("CF_CLI7_PATH", ""),
    ("KUSTOMIZE_PATH", ""),
    ("OC_PATH", ""),
    ("KUBECTL_PATH", ""),
    ("INSTALL_CLIENT_TOOLS_IN_BACKGROUND", "true"),
];

/// The tag rendered for `version: auto` before Harness was asked: the engine never writes a
/// task definition that carries it.
pub const UNRESOLVED_TAG: &str = "unresolved-auto-version";

/// What a group becomes in ECS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The RegisterTaskDefinition request (overrides applied, canonical order).
    pub task_definition: TaskDefinitionDocument,
    /// Hash of the canonical task definition document.
    pub spec_hash: String,
    /// The CreateService request (service mode only).
    pub service: Option<ServiceDocument>,
    /// The RunTask request (tasks mode only).
    pub run_task: Option<RunTaskDocument>,
    /// The user's tags and the selectors tag; the ownership tags are added when applying.
    pub tags: Vec<Tag>,
    /// With a count range: the scalable target and policy.
    pub scaling: Option<crate::document::ScalingDocument>,
}

/// A `taskDefinitionOverrides` patch that does not produce a task definition this controller can
/// send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RenderError {
    /// The offending field, under `spec.taskDefinitionOverrides`.
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
}

/// Renders a validated group.
///
/// `region` is the region the group runs in (`spec.region`, else the configuration chain's); it
/// is needed by the awslogs driver.
///
/// # Errors
/// Fails only when `taskDefinitionOverrides` yields a document that is not a task definition.
pub fn render(group: &DelegateGroup, region: &str) -> Result<Rendered, RenderError> {
    let task_definition = apply_overrides(group, base_task_definition(group, region))?;
    let spec_hash = spec_hash(&task_definition);
    let service = (group.spec.mode == Mode::Service).then(|| service_document(group));
    let run_task = (group.spec.mode == Mode::Tasks).then(|| run_task_document(group));
    let scaling = group
        .spec
        .count_range()
        .filter(|_| group.spec.mode == Mode::Service)
        .map(|range| {
            let (metric, target) = range.target();
            crate::document::ScalingDocument {
                resource_id: format!(
                    "service/{}/{}",
                    crate::arn::cluster_name(&group.spec.cluster),
                    group.service_name()
                ),
                min: i32::try_from(range.min).unwrap_or(0),
                max: i32::try_from(range.max).unwrap_or(i32::MAX),
                policy_name: crate::document::SCALING_POLICY_NAME.into(),
                metric: metric.into(),
                target,
            }
        });
    Ok(Rendered {
        scaling,
        task_definition,
        spec_hash,
        service,
        run_task,
        tags: user_tags(group),
    })
}

fn base_task_definition(group: &DelegateGroup, region: &str) -> TaskDefinitionDocument {
    let spec = &group.spec;
    let delegate = &spec.delegate;
    let network_mode = spec.effective_network_mode();
    let memory = i32::try_from(spec.resources.memory).unwrap_or(i32::MAX);
    let hostname = match (spec.compatibility(), network_mode) {
        (LaunchType::Ec2, NetworkMode::Bridge | NetworkMode::Host) => spec.hostname.clone(),
        _ => None,
    };
    let health_check = delegate
        .health_check
        .unwrap_or(delegate.flavor == Flavor::Nextgen)
        .then(|| HealthCheck {
            command: vec!["CMD-SHELL".into(), HEALTH_CHECK_COMMAND.into()],
            interval: Some(30),
            timeout: Some(5),
            retries: Some(3),
            start_period: Some(120),
        });
    let log_configuration = delegate
        .log_group
        .as_ref()
        .map(|log_group| LogConfiguration {
            log_driver: "awslogs".into(),
            options: BTreeMap::from([
                ("awslogs-group".into(), log_group.clone()),
                (
                    "awslogs-region".into(),
                    spec.region.as_deref().unwrap_or(region).into(),
                ),
                ("awslogs-stream-prefix".into(), group.metadata.name.clone()),
            ]),
        });
    let container = ContainerDefinition {
        name: CONTAINER_NAME.into(),
        image: image(delegate),
        essential: Some(true),
        memory: Some(memory),
        environment: environment(group),
        secrets: vec![Secret {
            name: token_variable(delegate.flavor).into(),
            value_from: delegate.token.secret_arn.clone(),
        }],
        hostname,
        health_check,
        log_configuration,
        // A restart is a new revision: the label changes the spec-hash, so a changed
        // restartedAt registers once and deploys once, however often a pass is repeated or
        // fails half-way (a forceNewDeployment remembered by a tag was repeated every pass
        // whenever the tag failed to land).
        docker_labels: spec
            .service
            .as_ref()
            .and_then(|s| s.restarted_at.clone())
            .map(|at| BTreeMap::from([(TAG_RESTARTED_AT.to_owned(), at)]))
            .unwrap_or_default(),
        // A stopping NextGen delegate stops taking tasks and finishes the running ones; Harness
        // gives it up to 10 minutes ("The maximum time upgrader waits for tasks to finish before
        // force-termination is 10 minutes", Graceful delegate shutdown). ECS kills it after 30 s
        // unless told otherwise, and allows at most 120 on Fargate ("the max stop timeout value
        // is 120 seconds and if the parameter is not specified, the default value of 30
        // seconds is used", ContainerDefinition.stopTimeout).
        stop_timeout: (delegate.flavor == Flavor::Nextgen).then_some(STOP_TIMEOUT_SECONDS),
        ..ContainerDefinition::default()
    };
    TaskDefinitionDocument {
        family: group.metadata.name.clone(),
        container_definitions: vec![container],
        requires_compatibilities: vec![spec.compatibility().as_str().into()],
        network_mode: Some(network_mode.as_str().into()),
        cpu: Some(spec.resources.cpu.to_string()),
        memory: Some(spec.resources.memory.to_string()),
        task_role_arn: spec.roles.task.clone(),
        execution_role_arn: Some(spec.roles.execution.clone()),
        volumes: Vec::new(),
        placement_constraints: Vec::new(),
        runtime_platform: None,
        ephemeral_storage: None,
        pid_mode: None,
    }
}

/// The container image: `image` as written, or with `version`, the repository and the version
/// (pinned, or the one Harness named for `auto`).
pub fn image(delegate: &crate::types::Delegate) -> String {
    match delegate
        .version
        .as_ref()
        .map(crate::types::VersionSetting::wanted)
    {
        None => delegate.image.clone(),
        Some(crate::types::WantedVersion::Pinned(version)) => {
            format!("{}:{version}", delegate.image)
        }
        Some(crate::types::WantedVersion::Auto(_)) => format!(
            "{}:{}",
            delegate.image,
            delegate
                .resolved_version
                .as_deref()
                .unwrap_or(UNRESOLVED_TAG)
        ),
    }
}

/// The variable that carries the token secret.
pub fn token_variable(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Nextgen => "DELEGATE_TOKEN",
        Flavor::Firstgen => "ACCOUNT_SECRET",
    }
}

/// The variables the controller owns for a flavor.
pub fn owned_variables(flavor: Flavor) -> &'static [&'static str] {
    match flavor {
        Flavor::Nextgen => NEXTGEN_OWNED,
        Flavor::Firstgen => FIRSTGEN_OWNED,
    }
}

fn environment(group: &DelegateGroup) -> Vec<KeyValue> {
    let delegate = &group.spec.delegate;
    let name = group.metadata.name.as_str();
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    vars.insert("ACCOUNT_ID", delegate.account_id.clone());
    vars.insert("MANAGER_HOST_AND_PORT", delegate.manager_url.clone());
    vars.insert("DEPLOY_MODE", delegate.deploy_mode().as_str().into());
    match delegate.flavor {
        Flavor::Nextgen => {
            vars.insert("NEXT_GEN", "true".into());
            vars.insert("DELEGATE_NAME", name.into());
            vars.insert("DELEGATE_TYPE", "DOCKER".into());
            vars.insert("DELEGATE_TAGS", group.spec.selectors.join(","));
            if let Some(org) = &delegate.org {
                vars.insert("DELEGATE_ORG_IDENTIFIER", org.clone());
            }
            if let Some(project) = &delegate.project {
                vars.insert("DELEGATE_PROJECT_IDENTIFIER", project.clone());
            }
        }
        Flavor::Firstgen => {
            // Harness's FirstGen ECS download: harness-core's
            // `260-delegate/src/main/resources/delegatetemplates/harness-ecs-delegate.json.ftl`,
            // filled by `DelegateServiceImpl` (`watcherStorageUrl`, `watcherCheckLocation`,
            // `delegateStorageUrl`, `delegateCheckLocation`, `remoteWatcherUrlCdn`, `useCdn`,
            // `cdnUrl`, `jreVersion`, `delegateGroupId`, ...). The legacy image's start script
            // fetches the watcher from `$WATCHER_STORAGE_URL/$WATCHER_CHECK_LOCATION`: without
            // them the delegate never starts.
            let download = delegate.firstgen.clone().unwrap_or_default();
            vars.insert("DELEGATE_GROUP_NAME", name.into());
            // The template leaves DELEGATE_NAME out, so Harness lists the delegates with an
            // empty `delegateName` and `delegateList` has no group field: the delegate reads
            // DELEGATE_NAME into `DelegateParams.delegateName` (`DelegateAgentServiceImpl`),
            // which is how the Harness check finds them.
            vars.insert("DELEGATE_NAME", name.into());
            vars.insert("DELEGATE_GROUP_ID", download.delegate_group_id);
            // A profile id (`DelegateParams.delegateProfileId`), not its name.
            vars.insert(
                "DELEGATE_PROFILE",
                group.spec.profile.clone().unwrap_or_default(),
            );
            vars.insert("DELEGATE_TYPE", "ECS".into());
            vars.insert("POLL_FOR_TASKS", "false".into());
            vars.insert("WATCHER_STORAGE_URL", download.watcher_storage_url);
            vars.insert("WATCHER_CHECK_LOCATION", download.watcher_check_location);
            vars.insert("DELEGATE_STORAGE_URL", download.delegate_storage_url);
            vars.insert("DELEGATE_CHECK_LOCATION", download.delegate_check_location);
            vars.insert("USE_CDN", download.use_cdn.to_string());
            vars.insert("CDN_URL", download.cdn_url);
            vars.insert("REMOTE_WATCHER_URL_CDN", download.remote_watcher_url_cdn);
            vars.insert("JRE_VERSION", download.jre_version);
        }
    }
    // Validation refuses user variables that collide with these; `or_insert` keeps the
    // controller's value should an unvalidated group get here.
    for (key, value) in &delegate.env {
        vars.entry(key.as_str()).or_insert_with(|| value.clone());
    }
    if delegate.flavor == Flavor::Firstgen {
        for (key, value) in FIRSTGEN_TEMPLATE_DEFAULTS {
            vars.entry(key).or_insert_with(|| (*value).to_owned());
        }
    }
    vars.into_iter()
        .map(|(name, value)| KeyValue {
            name: name.into(),
            value,
        })
        .collect()
}

fn service_document(group: &DelegateGroup) -> ServiceDocument {
    let spec = &group.spec;
    let settings = spec.service.clone().unwrap_or_default();
    let breaker = settings.circuit_breaker.map_or(
        DeploymentCircuitBreaker {
            enable: true,
            rollback: true,
        },
        |b| DeploymentCircuitBreaker {
            enable: b.enable,
            rollback: b.rollback,
        },
    );
    ServiceDocument {
        service_name: group.service_name().into(),
        cluster: spec.cluster.clone(),
        desired_count: i32::try_from(spec.initial_count()).unwrap_or(i32::MAX),
        count_rule: match &spec.count {
            Some(crate::types::Count::Fixed(_)) => crate::document::CountRule::Fixed,
            Some(crate::types::Count::Range(range)) => crate::document::CountRule::Within {
                min: i32::try_from(range.min).unwrap_or(0),
                max: i32::try_from(range.max).unwrap_or(i32::MAX),
            },
            None => crate::document::CountRule::Unowned,
        },
        launch_type: spec.launch_type.map(|l| l.as_str().into()),
        capacity_provider_strategy: spec.capacity_provider_strategy.clone(),
        scheduling_strategy: "REPLICA".into(),
        placement_strategy: placement_strategy(spec.compatibility()),
        network_configuration: network_configuration(group),
        deployment_configuration: DeploymentConfiguration {
            minimum_healthy_percent: settings.minimum_healthy_percent.unwrap_or(100),
            maximum_percent: settings.maximum_percent.unwrap_or(200),
            deployment_circuit_breaker: breaker,
        },
        enable_execute_command: settings.enable_execute_command,
        propagate_tags: settings
            .propagate_tags
            .unwrap_or(crate::types::PropagateTags::Service)
            .as_str()
            .into(),
    }
}

fn run_task_document(group: &DelegateGroup) -> RunTaskDocument {
    RunTaskDocument {
        cluster: group.spec.cluster.clone(),
        launch_type: group.spec.launch_type.map(|l| l.as_str().into()),
        capacity_provider_strategy: group.spec.capacity_provider_strategy.clone(),
        started_by: STARTED_BY.into(),
        placement_strategy: placement_strategy(group.spec.compatibility()),
        network_configuration: network_configuration(group),
        enable_execute_command: false,
    }
}

/// Harness's spread over availability zones, then instances; EC2 only (FARGATE places itself).
fn placement_strategy(launch_type: LaunchType) -> Vec<PlacementStrategy> {
    match launch_type {
        LaunchType::Ec2 => ["attribute:ecs.availability-zone", "instanceId"]
            .into_iter()
            .map(|field| PlacementStrategy {
                kind: "spread".into(),
                field: Some(field.into()),
            })
            .collect(),
        LaunchType::Fargate => Vec::new(),
    }
}

/// The awsvpc configuration of a group's service or tasks, when it uses awsvpc.
pub fn network_configuration(group: &DelegateGroup) -> Option<NetworkConfiguration> {
    if group.spec.effective_network_mode() != NetworkMode::Awsvpc {
        return None;
    }
    let network = group.spec.network.as_ref()?;
    Some(NetworkConfiguration {
        awsvpc_configuration: AwsVpcConfiguration {
            subnets: network.subnets.clone(),
            security_groups: network.security_groups.clone(),
            assign_public_ip: if network.assign_public_ip {
                "ENABLED"
            } else {
                "DISABLED"
            }
            .into(),
        },
    })
}

fn user_tags(group: &DelegateGroup) -> Vec<Tag> {
    let mut tags: Vec<Tag> = group
        .spec
        .tags
        .iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    if !group.spec.selectors.is_empty() {
        tags.push(Tag {
            key: TAG_SELECTORS.into(),
            value: group.spec.selectors.join(" "),
        });
    }
    tags.sort();
    tags
}

/// Applies `taskDefinitionOverrides` as an RFC 7396 merge patch and brings the result back to
/// canonical order (environment and secrets sorted by name).
fn apply_overrides(
    group: &DelegateGroup,
    base: TaskDefinitionDocument,
) -> Result<TaskDefinitionDocument, RenderError> {
    let overrides_path = FieldPath::new("spec.taskDefinitionOverrides");
    let mut document = match &group.spec.task_definition_overrides {
        None => base,
        Some(patch) => {
            let mut value = serde_json::to_value(&base).map_err(|e| RenderError {
                path: overrides_path.clone(),
                message: e.to_string(),
            })?;
            json_patch::merge(&mut value, &serde_json::Value::Object(patch.clone()));
            serde_path_to_error::deserialize(value).map_err(|e| {
                let mut path = overrides_path.clone();
                for segment in e.path().iter() {
                    path = match segment {
                        serde_path_to_error::Segment::Seq { index } => path.index(*index),
                        serde_path_to_error::Segment::Map { key } => path.key(key),
                        serde_path_to_error::Segment::Enum { variant } => path.key(variant),
                        serde_path_to_error::Segment::Unknown => path,
                    };
                }
                RenderError {
                    path,
                    message: format!(
                        "the patched task definition is not valid: {}",
                        e.into_inner()
                    ),
                }
            })?
        }
    };
    for container in &mut document.container_definitions {
        container.environment.sort_by(|a, b| a.name.cmp(&b.name));
        container.secrets.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(document)
}

/// The value of the [`TAG_TAG_KEYS`] tag for these user tag keys: each key as
/// `<characters>:<key>`, concatenated. `None` without keys.
pub fn encode_tag_keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let value: String = keys
        .into_iter()
        .map(|k| format!("{}:{k}", k.chars().count()))
        .collect();
    (!value.is_empty()).then_some(value)
}

/// The keys a [`TAG_TAG_KEYS`] value lists; a malformed value lists none (it was not ours).
pub fn decode_tag_keys(value: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let Some((length, tail)) = rest.split_once(':') else {
            return Vec::new();
        };
        let Ok(length) = length.parse::<usize>() else {
            return Vec::new();
        };
        let end = tail
            .char_indices()
            .nth(length)
            .map_or(tail.len(), |(i, _)| i);
        if tail[..end].chars().count() != length {
            return Vec::new();
        }
        keys.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    keys
}

#[cfg(test)]
mod tag_keys_tests {
    use super::*;

    #[test]
    fn tag_keys_round_trip_whatever_the_keys_contain() {
        let keys: Vec<String> = ["team", "cost center", "a:1", "ünï/=+@", "12:x"]
            .map(String::from)
            .to_vec();
        let value = encode_tag_keys(&keys).unwrap();
        assert_eq!(value, "4:team11:cost center3:a:17:ünï/=+@4:12:x");
        assert_eq!(decode_tag_keys(&value), keys);
        assert_eq!(encode_tag_keys(&Vec::new()), None);
        for malformed in ["x", "4:abc", "2:ab3", ":a"] {
            assert_eq!(
                decode_tag_keys(malformed),
                Vec::<String>::new(),
                "{malformed}"
            );
        }
    }
}
