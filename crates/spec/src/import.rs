//! `import`: an ECS task definition (Harness's downloaded `ecs-task-spec.json`, or a live
//! revision) and optionally its service -> a DelegateGroup. Pure.
//!
//! A token found in plain text is never carried over: the group gets a marked placeholder that
//! fails validation until it is replaced by a secret's ARN. In exact mode (adopting a live
//! service) whatever the group's fields cannot express goes into `taskDefinitionOverrides`, so
//! the group renders the live task definition exactly and plans no change.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::render::{owned_variables, render, token_variable};
use crate::types::{
    CapacityProviderItem, CircuitBreaker, Delegate, DelegateGroup, DelegateGroupSpec, Flavor,
    LaunchType, Metadata, Mode, Network, NetworkMode, PropagateTags, Resources, Roles,
    ServiceSettings, TokenRef, API_VERSION, KIND,
};

mod live;
use live::*;

/// Marks a value the user must supply; it fails validation on purpose.
pub const PLACEHOLDER: &str = "REPLACE-ME";

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportSource<'a> {
    /// The task definition, in ECS's JSON shape.
    pub task_definition: &'a Value,
    /// The service (CreateService/DescribeServices shape), if any.
    pub service: Option<&'a Value>,
    /// `--name`.
    pub name: Option<&'a str>,
    /// The cluster, when the service does not say.
    pub cluster: Option<&'a str>,
    /// Reproduce the task definition exactly and adopt the service.
    pub exact: bool,
}

/// An imported group and what the user must look at.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The group.
    pub group: DelegateGroup,
    /// Things to fix or know, one sentence each.
    pub warnings: Vec<String>,
}

/// Why nothing could be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A DNS-1123 label made from `raw`.
pub fn dns_label(raw: &str) -> String {
    let mut label: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label.truncate(63);
    let label = label.trim_matches('-').to_owned();
    if label.is_empty() {
        "delegate".into()
    } else {
        label
    }
}

/// Imports a group.
///
/// # Errors
/// When the task definition has no container, or (exact mode) cannot be reproduced.
pub fn import(source: &ImportSource<'_>) -> Result<Imported, ImportError> {
    let td = source.task_definition;
    let containers = td
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ImportError("the task definition has no containerDefinitions".into()))?;
    let container = containers
        .iter()
        .find(|c| text(c, "name") == Some(crate::render::CONTAINER_NAME))
        .unwrap_or(&containers[0]);
    let mut warnings = Vec::new();
    if containers.len() > 1 && !source.exact {
        warnings.push(format!(
            "the task definition has {} containers; only {:?} was imported",
            containers.len(),
            text(container, "name").unwrap_or("?")
        ));
    }

    let (mut env, secrets) = container_variables(container);

    let firstgen = env.get("DELEGATE_TYPE").map(String::as_str) == Some("ECS")
        || env.contains_key("ACCOUNT_SECRET")
        || secrets.contains_key("ACCOUNT_SECRET")
        || env.contains_key("DELEGATE_GROUP_NAME");
    let flavor = if firstgen {
        Flavor::Firstgen
    } else {
        Flavor::Nextgen
    };
    let token_name = token_variable(flavor);

    let secret_arn = token_secret(token_name, &secrets, &mut env, &mut warnings);

    let placeholder_or = |value: Option<String>, what: &str, warnings: &mut Vec<String>| {
        value.filter(|v| !v.contains("${")).unwrap_or_else(|| {
            warnings.push(format!("no {what} found: fill in the {PLACEHOLDER} value"));
            format!("{PLACEHOLDER}-{what}")
        })
    };
    let service = source.service;
    let service_name = service.and_then(|s| text(s, "serviceName"));
    let name = source
        .name
        .map(str::to_owned)
        .or_else(|| env.get("DELEGATE_NAME").cloned())
        .or_else(|| env.get("DELEGATE_GROUP_NAME").cloned())
        .or_else(|| service_name.map(str::to_owned))
        .or_else(|| text(td, "family").map(str::to_owned))
        .filter(|n| !n.contains("${"))
        .unwrap_or_else(|| "delegate".into());
    let name = dns_label(&name);

    let account_id = placeholder_or(env.get("ACCOUNT_ID").cloned(), "accountId", &mut warnings);
    let manager_url = placeholder_or(
        env.get("MANAGER_HOST_AND_PORT").cloned(),
        "managerUrl",
        &mut warnings,
    );
    let image = placeholder_or(
        text(container, "image").map(str::to_owned),
        "image",
        &mut warnings,
    );
    let selectors: Vec<String> = env
        .get("DELEGATE_TAGS")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let owned = owned_variables(flavor);
    // FirstGen: the template's client tool settings at the template's values are what the
    // controller renders anyway.
    let template_default = |key: &str, value: &str| {
        firstgen
            && crate::render::FIRSTGEN_TEMPLATE_DEFAULTS
                .iter()
                .any(|(k, v)| *k == key && *v == value)
    };
    let extra_env: BTreeMap<String, String> = env
        .iter()
        .filter(|(k, v)| {
            !owned.contains(&k.as_str()) && !v.contains("${") && !template_default(k, v)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let deploy_mode = match env.get("DEPLOY_MODE").map(String::as_str) {
        None | Some("" | "KUBERNETES") => None,
        Some(other) => {
            let parsed =
                serde_json::from_value::<crate::types::DeployMode>(Value::String(other.to_owned()))
                    .ok();
            if parsed.is_none() {
                warnings.push(format!(
                    "DEPLOY_MODE {other:?} is not one of Harness's deploy modes; Harness's \
                     default (KUBERNETES) is used"
                ));
            }
            parsed
        }
    };
    let download = firstgen.then(|| firstgen_download(&env, &mut warnings));

    let strategy = capacity_strategy(service);
    let (launch_type, network_mode, network) = placement(td, service, &strategy, &mut warnings);
    let uses_awsvpc =
        network_mode == Some(NetworkMode::Awsvpc) || launch_type == LaunchType::Fargate;

    let resources = Resources {
        cpu: text(td, "cpu").and_then(|c| c.parse().ok()).unwrap_or(1024),
        memory: text(td, "memory")
            .and_then(|m| m.parse().ok())
            .unwrap_or(6144),
    };
    let execution = text(td, "executionRoleArn")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            warnings.push(
                "no executionRoleArn: ECS needs an execution role to inject the token secret; put \
             its ARN in spec.roles.execution"
                    .into(),
            );
            format!("{PLACEHOLDER}: the ARN of the task execution role")
        });
    let log_group = container
        .get("logConfiguration")
        .filter(|l| text(l, "logDriver") == Some("awslogs"))
        .and_then(|l| l.get("options"))
        .and_then(|o| text(o, "awslogs-group"))
        .map(str::to_owned);
    let has_health_check = container.get("healthCheck").is_some_and(|h| !h.is_null());
    let health_check = match (flavor, has_health_check) {
        (Flavor::Nextgen, false) => Some(false),
        _ => None,
    };
    let settings = service_settings(service, &name, source.exact);
    let cluster = service
        .and_then(|s| text(s, "cluster"))
        .or(source.cluster)
        .map(|c| crate::arn::cluster_name(c).to_owned())
        .unwrap_or_else(|| {
            warnings.push(format!(
                "no cluster given: replace {PLACEHOLDER} in spec.cluster"
            ));
            PLACEHOLDER.to_owned()
        });
    let count = service
        .and_then(|s| s.get("desiredCount"))
        .and_then(Value::as_i64)
        .unwrap_or(1);

    let mut group = DelegateGroup {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        metadata: Metadata {
            name: name.clone(),
            labels: BTreeMap::new(),
        },
        spec: DelegateGroupSpec {
            cluster,
            region: None,
            account: None,
            count: Some(crate::types::Count::Fixed(count)),
            mode: Mode::Service,
            // A service with a capacity provider strategy has no launch type.
            launch_type: strategy.is_empty().then_some(launch_type),
            capacity_provider_strategy: strategy,
            network_mode,
            network: if uses_awsvpc { network } else { None },
            hostname: hostname(container, count, flavor, &mut warnings),
            selectors,
            profile: env
                .get("DELEGATE_PROFILE")
                .cloned()
                .filter(|p| firstgen && !p.is_empty() && !p.contains("${")),
            roles: Roles {
                task: text(td, "taskRoleArn").map(str::to_owned),
                execution,
            },
            resources,
            delegate: Delegate {
                flavor,
                image,
                account_id,
                manager_url,
                token: TokenRef { secret_arn },
                org: env
                    .get("DELEGATE_ORG_IDENTIFIER")
                    .cloned()
                    .filter(|_| !firstgen),
                project: env
                    .get("DELEGATE_PROJECT_IDENTIFIER")
                    .cloned()
                    .filter(|_| !firstgen),
                env: extra_env,
                log_group,
                health_check,
                deploy_mode,
                firstgen: download,
                version: None,
                resolved_version: None,
            },
            service: Some(settings).filter(|s| *s != ServiceSettings::default()),
            task_definition_overrides: None,
            tags: BTreeMap::new(),
            rollout: None,
            suspend: false,
        },
    };
    if let Some(family) = text(td, "family").filter(|f| *f != name) {
        group.spec.task_definition_overrides = Some(Map::from_iter([(
            "family".to_owned(),
            Value::String(family.into()),
        )]));
    }

    if source.exact {
        reproduce_exactly(&mut group, td)?;
    }
    Ok(Imported { group, warnings })
}

/// The locations Harness's FirstGen template filled in; a placeholder (with a warning) for one
/// the file lacks.
fn firstgen_download(
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> crate::types::FirstgenDownload {
    let mut value = |name: &str, required: bool| -> String {
        match env.get(name).filter(|v| !v.contains("${")) {
            Some(v) => v.clone(),
            None if required => {
                warnings.push(format!(
                    "no {name}: fill in the firstgen location from Harness's download"
                ));
                format!("{PLACEHOLDER}-{name}")
            }
            None => String::new(),
        }
    };
    crate::types::FirstgenDownload {
        watcher_storage_url: value("WATCHER_STORAGE_URL", true),
        watcher_check_location: value("WATCHER_CHECK_LOCATION", true),
        delegate_storage_url: value("DELEGATE_STORAGE_URL", true),
        delegate_check_location: value("DELEGATE_CHECK_LOCATION", true),
        use_cdn: value("USE_CDN", false) == "true",
        cdn_url: value("CDN_URL", false),
        remote_watcher_url_cdn: value("REMOTE_WATCHER_URL_CDN", false),
        jre_version: value("JRE_VERSION", false),
        delegate_group_id: value("DELEGATE_GROUP_ID", false),
    }
}

/// The container's plain variables and its secrets (name -> valueFrom).
fn container_variables(container: &Value) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    // A variable's value may be empty; a secret's valueFrom may not.
    let env = pairs(container, "environment", |kv| kv.get("value")?.as_str());
    let secrets = pairs(container, "secrets", |s| text(s, "valueFrom"));
    (env, secrets)
}

/// The named entries of the list `key` of `container` (name -> what `value_of` reads).
fn pairs<'a>(
    container: &'a Value,
    key: &str,
    value_of: impl Fn(&'a Value) -> Option<&'a str>,
) -> BTreeMap<String, String> {
    let list = container.get(key).and_then(Value::as_array);
    let entry =
        |item: &'a Value| Some((text(item, "name")?.to_owned(), value_of(item)?.to_owned()));
    list.map(|list| list.iter().filter_map(entry).collect())
        .unwrap_or_default()
}

/// The token's secret ARN; a token in plain text is removed from `env` and never copied (a
/// placeholder takes its place, with a warning), nor is the other flavor's token variable.
fn token_secret(
    token_name: &str,
    secrets: &BTreeMap<String, String>,
    env: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> String {
    let secret_arn = match (secrets.get(token_name), env.remove(token_name)) {
        (Some(arn), _) => arn.clone(),
        (None, Some(_)) => {
            warnings.push(format!(
                "{token_name} was in plain text and was NOT copied: store the token in Secrets \
                 Manager (or SSM) and put its ARN in spec.delegate.token.secretArn"
            ));
            format!("{PLACEHOLDER}: the ARN of the secret holding the delegate token")
        }
        (None, None) => {
            warnings.push(format!(
                "no {token_name} found: put the ARN of the secret holding the token in \
                 spec.delegate.token.secretArn"
            ));
            format!("{PLACEHOLDER}: the ARN of the secret holding the delegate token")
        }
    };
    // The other flavor's token name must not travel either.
    for other in ["DELEGATE_TOKEN", "ACCOUNT_SECRET"] {
        if env.remove(other).is_some() {
            warnings.push(format!("{other} was in plain text and was NOT copied"));
        }
    }
    secret_arn
}

/// Launch type, network mode (only when it is not the launch type's default) and awsvpc
/// network, from the task definition and the service.
fn placement(
    td: &Value,
    service: Option<&Value>,
    strategy: &[CapacityProviderItem],
    warnings: &mut Vec<String>,
) -> (LaunchType, Option<NetworkMode>, Option<Network>) {
    let compatibilities: Vec<&str> = td
        .get("requiresCompatibilities")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let launch_type = match service.and_then(|s| text(s, "launchType")) {
        Some("FARGATE") => LaunchType::Fargate,
        Some(_) => LaunchType::Ec2,
        None if strategy
            .first()
            .is_some_and(CapacityProviderItem::is_fargate) =>
        {
            LaunchType::Fargate
        }
        None if compatibilities == ["FARGATE"] => LaunchType::Fargate,
        None => LaunchType::Ec2,
    };
    let network_mode = match text(td, "networkMode") {
        Some("host") => Some(NetworkMode::Host),
        Some("awsvpc") if launch_type == LaunchType::Ec2 => Some(NetworkMode::Awsvpc),
        Some("bridge") if launch_type == LaunchType::Fargate => Some(NetworkMode::Bridge),
        _ => None,
    };
    let awsvpc = service
        .and_then(|s| s.get("networkConfiguration"))
        .and_then(|n| n.get("awsvpcConfiguration"));
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let network = awsvpc.map(|a| Network {
        subnets: strings(a.get("subnets")),
        security_groups: strings(a.get("securityGroups")),
        assign_public_ip: text(a, "assignPublicIp") == Some("ENABLED"),
    });
    let uses_awsvpc =
        network_mode == Some(NetworkMode::Awsvpc) || launch_type == LaunchType::Fargate;
    if uses_awsvpc && network.as_ref().is_none_or(|n| n.subnets.is_empty()) {
        warnings.push("awsvpc networking needs spec.network.subnets: add them".into());
    }
    (launch_type, network_mode, network)
}

/// The container's hostname, unless several NextGen delegates would share it (validation
/// refuses that: Harness would take them for one delegate).
fn hostname(
    container: &Value,
    count: i64,
    flavor: Flavor,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let hostname = text(container, "hostname")?;
    if count > 1 && flavor == Flavor::Nextgen {
        warnings.push(format!(
            "hostname {hostname} left out: {count} delegates would share it and Harness would \
             take them for one (each task gets its own hostname; the task definition changes)"
        ));
        return None;
    }
    Some(hostname.to_owned())
}

/// The service's capacity provider strategy (CreateService/DescribeServices shape), if any.
fn capacity_strategy(service: Option<&Value>) -> Vec<CapacityProviderItem> {
    let items = service
        .and_then(|s| s.get("capacityProviderStrategy"))
        .and_then(Value::as_array);
    let number = |item: &Value, key: &str| {
        let n = item.get(key).and_then(Value::as_i64)?;
        i32::try_from(n).ok()
    };
    items
        .into_iter()
        .flatten()
        .filter_map(|item| {
            Some(CapacityProviderItem {
                capacity_provider: text(item, "capacityProvider")?.to_owned(),
                weight: number(item, "weight"),
                base: number(item, "base").filter(|b| *b != 0),
            })
        })
        .collect()
}

/// Service settings that differ from the defaults.
fn service_settings(service: Option<&Value>, name: &str, exact: bool) -> ServiceSettings {
    let service_name = service.and_then(|s| text(s, "serviceName"));
    let deployment = service.and_then(|s| s.get("deploymentConfiguration"));
    let percent = |key: &str| {
        deployment
            .and_then(|d| d.get(key))
            .and_then(Value::as_i64)
            .and_then(|v| i32::try_from(v).ok())
    };
    let breaker = deployment
        .and_then(|d| d.get("deploymentCircuitBreaker"))
        .map(|b| CircuitBreaker {
            enable: b.get("enable").and_then(Value::as_bool).unwrap_or(false),
            rollback: b.get("rollback").and_then(Value::as_bool).unwrap_or(false),
        });
    let propagate_tags = match service.and_then(|s| text(s, "propagateTags")) {
        Some("TASK_DEFINITION") => Some(PropagateTags::TaskDefinition),
        Some("NONE") => Some(PropagateTags::None),
        _ => None,
    };
    ServiceSettings {
        name: service_name.filter(|n| *n != name).map(str::to_owned),
        minimum_healthy_percent: percent("minimumHealthyPercent").filter(|p| *p != 100),
        maximum_percent: percent("maximumPercent").filter(|p| *p != 200),
        circuit_breaker: breaker.filter(|b| !(b.enable && b.rollback)),
        enable_execute_command: service
            .and_then(|s| s.get("enableExecuteCommand"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        restarted_at: None,
        propagate_tags,
        adopt: exact && service.is_some(),
    }
}

/// The RFC 7396 merge patch that turns `from` into `to` (`None` when they are equal).
pub fn merge_diff(from: &Value, to: &Value) -> Option<Value> {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (key, value) in b {
                match a.get(key) {
                    Some(old) => {
                        if let Some(d) = merge_diff(old, value) {
                            patch.insert(key.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (a, b) if a == b => None,
        (_, b) => Some(b.clone()),
    }
}

/// The imported group as YAML, with the warnings as comments on top.
pub fn to_yaml(imported: &Imported, origin: &str) -> String {
    let mut out = format!(
        "# Imported from {origin} by `ecs-delegate-controller import`. Review it, run\n\
         # `ecs-delegate-controller validate` and `plan`, then commit it.\n"
    );
    for warning in &imported.warnings {
        out.push_str(&format!("# WARNING: {warning}\n"));
    }
    out.push_str(&serde_yaml::to_string(&imported.group).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests;
