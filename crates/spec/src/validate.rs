//! The semantic rules of a DelegateGroup, beyond what its types already enforce.
//!
//! Each rule reports the field at fault; the loader turns fields into file positions. Rules are
//! independent so that one pass reports every problem.

use crate::arn::Arn;
use crate::location::FieldPath;
use crate::render::{owned_variables, render, TAG_PREFIX, TAG_SELECTORS, TAG_TAG_KEYS};
use crate::types::{
    Count, DelegateGroup, DelegateGroupSpec, Flavor, LaunchType, Mode, NetworkMode, API_VERSION,
    KIND,
};

mod tags;
pub use tags::tag_value_problem;
use tags::*;

mod capacity;
mod names;
pub use names::fargate_memory_options;
use names::*;

/// Checks one group, reporting each problem with the path of its field.
pub fn validate_group(group: &DelegateGroup, report: &mut dyn FnMut(FieldPath, String)) {
    let mut err = |path: &str, message: String| report(FieldPath::new(path), message);
    check_identity(group, &mut err);
    let spec = &group.spec;
    check_network(spec, &mut err);
    capacity::check_capacity(spec, &mut err);
    check_selectors(spec, &mut err);
    check_roles_and_token(spec, &mut err);
    check_account(spec, &mut err);
    check_resources(spec, &mut err);
    check_delegate(spec, &mut err);
    check_service(spec, &mut err);
    check_tags(spec, &mut err);
    check_overrides(group, report);
}

/// How each check reports: the path of the field and the problem.
type Report<'a> = dyn FnMut(&str, String) + 'a;

/// apiVersion, kind, the name, the cluster, the region, the count.
fn check_identity(group: &DelegateGroup, err: &mut Report<'_>) {
    let spec = &group.spec;
    if group.api_version != API_VERSION {
        err(
            "apiVersion",
            format!("must be {API_VERSION:?}, got {:?}", group.api_version),
        );
    }
    if group.kind != KIND {
        err("kind", format!("must be {KIND:?}, got {:?}", group.kind));
    }
    if let Some(problem) = dns1123_label_problem(&group.metadata.name) {
        err("metadata.name", problem);
    }

    if let Some(problem) = cluster_problem(&spec.cluster) {
        err("spec.cluster", problem);
    }
    if let Some(region) = &spec.region {
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            err(
                "spec.region",
                format!("{region:?} is not an AWS region name"),
            );
        }
    }
    let in_range = |n: i64| (0..=i64::from(i32::MAX)).contains(&n);
    match &spec.count {
        Some(Count::Fixed(count)) if *count < 0 => {
            err("spec.count", format!("must be >= 0, got {count}"));
        }
        Some(Count::Fixed(count)) if !in_range(*count) => err(
            "spec.count",
            format!("must be <= {}, got {count}", i32::MAX),
        ),
        Some(Count::Range(range)) => {
            if !in_range(range.min) || !in_range(range.max) || range.min > range.max {
                err(
                    "spec.count",
                    format!(
                        "min {} and max {} must be between 0 and {}, min <= max",
                        range.min,
                        range.max,
                        i32::MAX
                    ),
                );
            }
            match (range.cpu, range.memory) {
                (Some(_), Some(_)) | (None, None) => err(
                    "spec.count",
                    "a range tracks one target: cpu or memory (average utilization, percent)"
                        .into(),
                ),
                (Some(t), None) | (None, Some(t)) if !(1..=100).contains(&t) => err(
                    "spec.count",
                    format!("the target utilization must be 1 to 100 percent, got {t}"),
                ),
                _ => {}
            }
            if spec.mode == Mode::Tasks {
                err(
                    "spec.count",
                    "a range scales a service: mode: tasks needs a number".into(),
                );
            }
        }
        None if spec.mode == Mode::Tasks => err(
            "spec.count",
            "mode: tasks needs a count: the controller itself keeps that many standalone tasks"
                .into(),
        ),
        _ => {}
    }
}

/// Networking: launch type, network mode, awsvpc network, hostname.
fn check_network(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    let network_mode = spec.effective_network_mode();
    if spec.compatibility() == LaunchType::Fargate && network_mode != NetworkMode::Awsvpc {
        err(
            "spec.networkMode",
            format!(
                "FARGATE requires awsvpc, got {}; remove networkMode or set it to awsvpc",
                network_mode.as_str()
            ),
        );
    }
    match (&spec.network, network_mode) {
        (None, NetworkMode::Awsvpc) => {
            let (field, why) = if spec.network_mode.is_some() {
                ("spec.networkMode", "awsvpc")
            } else {
                ("spec.launchType", "FARGATE (which uses awsvpc)")
            };
            err(
                field,
                format!("{why} requires spec.network with at least one subnet"),
            );
        }
        (Some(_), NetworkMode::Bridge | NetworkMode::Host) => err(
            "spec.network",
            format!(
                "network is only used with awsvpc networking, but the network mode is {}",
                network_mode.as_str()
            ),
        ),
        (Some(network), NetworkMode::Awsvpc) => {
            if network.subnets.is_empty() {
                err(
                    "spec.network.subnets",
                    "must list at least one subnet".into(),
                );
            }
            for (i, subnet) in network.subnets.iter().enumerate() {
                if subnet.trim().is_empty() {
                    err(
                        &format!("spec.network.subnets[{i}]"),
                        "must not be empty".into(),
                    );
                }
            }
            // RunTask/CreateService: "assignPublicIp ... only supported for tasks that use the
            // FARGATE launch type" (ECS API reference, AwsVpcConfiguration).
            if network.assign_public_ip && spec.compatibility() != LaunchType::Fargate {
                err(
                    "spec.network.assignPublicIp",
                    "ECS assigns public IPs to FARGATE tasks only; on EC2 use a public subnet \
                     whose instances have public addresses, or a NAT gateway"
                        .into(),
                );
            }
            for (i, group) in network.security_groups.iter().enumerate() {
                if group.trim().is_empty() {
                    err(
                        &format!("spec.network.securityGroups[{i}]"),
                        "must not be empty".into(),
                    );
                }
            }
        }
        (None, _) => {}
    }
    if spec.hostname.is_some() && network_mode == NetworkMode::Awsvpc {
        err(
            "spec.hostname",
            "ECS refuses a hostname with awsvpc networking (and so on FARGATE); remove it".into(),
        );
    }
    // Harness finds a registering delegate's existing record by account, host name and IP
    // (harness-core DelegateServiceImpl.register: "filter(DelegateKeys.hostName, ...)", and the
    // IP unless the host name carries the account); bridge IPs repeat from host to host, so
    // several tasks with one host name can be taken for one delegate.
    if spec.hostname.is_some()
        && spec.fixed_count().is_none_or(|count| count > 1)
        && spec.delegate.flavor == Flavor::Nextgen
    {
        let all = spec
            .fixed_count()
            .map_or_else(|| "however many".to_owned(), |c| format!("all {c}"));
        err(
            "spec.hostname",
            format!(
                "a fixed hostname is shared by {all} delegates, and Harness tells delegates \
                 apart by host name and IP (which repeats across hosts on bridge networking): \
                 they would register as one; remove hostname (each task gets its own) or set \
                 count: 1"
            ),
        );
    }
}

/// Selectors (DELEGATE_TAGS) and the FirstGen profile.
fn check_selectors(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    for (i, selector) in spec.selectors.iter().enumerate() {
        let path = format!("spec.selectors[{i}]");
        if selector.contains(',') {
            err(
                &path,
                format!("{selector:?} contains a comma; list each selector as its own item"),
            );
        } else if selector.is_empty() || selector.chars().any(char::is_whitespace) {
            err(
                &path,
                format!("{selector:?} must be non-empty and contain no white space"),
            );
        }
    }
    let flavor = spec.delegate.flavor;
    if spec.profile.is_some() && flavor != Flavor::Firstgen {
        err(
            "spec.profile",
            "profile applies to firstgen delegates only (DELEGATE_PROFILE)".into(),
        );
    }
    // The delegate sends DELEGATE_PROFILE as `delegateProfileId`: Harness's generated ids are
    // 22 URL-safe base64 characters.
    if let Some(profile) = &spec.profile {
        let id = !profile.is_empty()
            && profile.len() <= 64
            && profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !id {
            err(
                "spec.profile",
                format!(
                    "{profile:?} is not a delegate profile id: DELEGATE_PROFILE takes the \
                     profile's id (as in its URL, e.g. QFWin33JRlKWKBzpzE5A9A), not its name"
                ),
            );
        }
    }
}

/// The task and execution roles and the token secret.
fn check_roles_and_token(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    if let Some(problem) = spec.roles.task.as_deref().and_then(role_problem) {
        err("spec.roles.task", problem);
    }
    if let Some(problem) = role_problem(&spec.roles.execution) {
        err("spec.roles.execution", problem);
    }
    let token = &spec.delegate.token.secret_arn;
    if !is_secret_arn(token) {
        err(
            "spec.delegate.token.secretArn",
            // Never echoed: a token pasted here by mistake must not reach a log or /status.
            "not an ARN: a Secrets Manager secret ARN \
             (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or an SSM parameter ARN \
             (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME) is expected; the value is not shown, in \
             case it is the token itself"
                .into(),
        );
    }
}

/// `spec.account`: a role ARN, and every other ARN of the group in that role's account (a group
/// is in one account: a role or secret of another would be refused by ECS, or worse, work).
fn check_account(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    let Some(account) = &spec.account else {
        return;
    };
    let Some(id) = Arn::parse(&account.role_arn)
        .filter(Arn::is_role)
        .map(|a| a.account)
    else {
        err("spec.account.roleArn", role_message(&account.role_arn));
        return;
    };
    // sts:AssumeRole: ExternalId is 2-1224 characters of [\w+=,.@:/-], RoleSessionName 2-64
    // of [\w+=,.@-].
    let sts_fields = [
        (
            "spec.account.externalId",
            &account.external_id,
            1224,
            "_+=,.@:/-",
        ),
        (
            "spec.account.sessionName",
            &account.session_name,
            64,
            "_+=,.@-",
        ),
    ];
    for (field, value, most, punctuation) in sts_fields {
        let Some(value) = value else { continue };
        let allowed = |c: char| c.is_ascii_alphanumeric() || punctuation.contains(c);
        if !(2..=most).contains(&value.len()) || !value.chars().all(allowed) {
            let message =
                format!("must be 2 to {most} characters of letters, digits and {punctuation}");
            err(field, message);
        }
    }
    let mut others = vec![
        ("spec.roles.execution", spec.roles.execution.as_str()),
        (
            "spec.delegate.token.secretArn",
            spec.delegate.token.secret_arn.as_str(),
        ),
    ];
    if let Some(task) = &spec.roles.task {
        others.push(("spec.roles.task", task));
    }
    if spec.cluster.starts_with("arn:") {
        others.push(("spec.cluster", &spec.cluster));
    }
    for (field, arn) in others {
        if let Some(other) = Arn::parse(arn).map(|a| a.account) {
            if other != id {
                err(
                    field,
                    format!(
                        "is in account {other}, but spec.account.roleArn is in {id}: a group's \
                         roles, token and cluster live in the account it runs in"
                    ),
                );
            }
        }
    }
}

/// Task CPU and memory (FARGATE offers only some pairs).
fn check_resources(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    let resources = spec.resources;
    if resources.memory == 0 {
        err("spec.resources.memory", "must be greater than 0 MiB".into());
    }
    if spec.compatibility() == LaunchType::Fargate && resources.memory > 0 {
        if let Some(problem) = fargate_problem(resources.cpu, resources.memory) {
            err("spec.resources", problem);
        }
    }
}

/// The delegate container: image, account, manager URL, flavor-specific fields, variables.
fn check_delegate(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    let flavor = spec.delegate.flavor;
    let delegate = &spec.delegate;
    if delegate.image.trim().is_empty() {
        err("spec.delegate.image", "must not be empty".into());
    }
    if delegate.account_id.trim().is_empty() {
        err("spec.delegate.accountId", "must not be empty".into());
    }
    if !is_http_url(&delegate.manager_url) {
        err(
            "spec.delegate.managerUrl",
            format!(
                "{:?} is not an http(s) URL, e.g. https://app.harness.io/gratis",
                delegate.manager_url
            ),
        );
    }
    if flavor == Flavor::Firstgen {
        for field in ["org", "project"] {
            let set = if field == "org" {
                delegate.org.is_some()
            } else {
                delegate.project.is_some()
            };
            if set {
                err(
                    &format!("spec.delegate.{field}"),
                    "applies to nextgen delegates only".into(),
                );
            }
        }
        if delegate.health_check == Some(true) {
            err(
                "spec.delegate.healthCheck",
                "firstgen delegates serve no /api/health endpoint; remove it or set false".into(),
            );
        }
        check_firstgen_download(delegate.firstgen.as_ref(), err);
        if delegate.version.is_some() {
            err(
                "spec.delegate.version",
                "applies to nextgen delegates only: a firstgen delegate's watcher upgrades it"
                    .into(),
            );
        }
    } else {
        if delegate.firstgen.is_some() {
            err(
                "spec.delegate.firstgen",
                "applies to firstgen delegates only".into(),
            );
        }
        // Harness's `DelegateEntityOwnerHelper.buildOwner(org, project)` makes a project owner
        // only with its org: a project alone registers the delegate at account scope.
        if delegate.project.is_some() && delegate.org.is_none() {
            err(
                "spec.delegate.project",
                "a project is named with its organization: set spec.delegate.org too (Harness \
                 registers a delegate with a project but no org at account scope)"
                    .into(),
            );
        }
    }
    check_version(delegate, err);
    let owned = owned_variables(flavor);
    for key in delegate.env.keys() {
        let path = format!("spec.delegate.env.{key}");
        if owned.contains(&key.as_str()) || key == "DELEGATE_TOKEN" || key == "ACCOUNT_SECRET" {
            err(
                &path,
                format!("{key} is set by the controller and may not be overridden"),
            );
        } else if !is_env_name(key) {
            err(
                &path,
                format!("{key:?} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"),
            );
        }
    }
    if let Some(log_group) = &delegate.log_group {
        if log_group.is_empty() || log_group.len() > 512 {
            err(
                "spec.delegate.logGroup",
                "must be 1 to 512 characters".into(),
            );
        }
    }
}

/// FirstGen: the values of Harness's ECS template the start script needs.
fn check_firstgen_download(
    download: Option<&crate::types::FirstgenDownload>,
    err: &mut Report<'_>,
) {
    let Some(download) = download else {
        err(
            "spec.delegate.firstgen",
            "a firstgen delegate needs the watcher and delegate locations of Harness's ECS \
             download (watcherStorageUrl, watcherCheckLocation, delegateStorageUrl, \
             delegateCheckLocation): copy them from ecs-task-spec.json, or run `import` on it"
                .into(),
        );
        return;
    };
    let urls = [
        ("watcherStorageUrl", &download.watcher_storage_url, true),
        ("delegateStorageUrl", &download.delegate_storage_url, true),
        ("cdnUrl", &download.cdn_url, download.use_cdn),
        (
            "remoteWatcherUrlCdn",
            &download.remote_watcher_url_cdn,
            download.use_cdn,
        ),
    ];
    for (field, value, required) in urls {
        if required && value.is_empty() {
            err(
                &format!("spec.delegate.firstgen.{field}"),
                "required (with useCdn: true, for the CDN); see ecs-task-spec.json".into(),
            );
        } else if !value.is_empty() && !is_http_url(value) {
            err(
                &format!("spec.delegate.firstgen.{field}"),
                format!("{value:?} is not an http(s) URL (see ecs-task-spec.json)"),
            );
        }
    }
    for (field, value) in [
        ("watcherCheckLocation", &download.watcher_check_location),
        ("delegateCheckLocation", &download.delegate_check_location),
    ] {
        if value.is_empty() || value.contains(['/', '?', '#']) || value.chars().any(is_unsafe) {
            err(
                &format!("spec.delegate.firstgen.{field}"),
                format!("{value:?} must be a file name such as delegateprod.txt"),
            );
        }
    }
    for (field, value) in [
        ("jreVersion", &download.jre_version),
        ("delegateGroupId", &download.delegate_group_id),
    ] {
        if value.chars().any(is_unsafe) || value.len() > 128 {
            err(
                &format!("spec.delegate.firstgen.{field}"),
                "must be at most 128 characters, without white space".into(),
            );
        }
    }
}

fn is_unsafe(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// A Docker image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_image_tag(tag: &str) -> bool {
    tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `version`: a Docker tag, and then `image` is a repository without a tag or digest.
fn check_version(delegate: &crate::types::Delegate, err: &mut Report<'_>) {
    let Some(version) = &delegate.version else {
        return;
    };
    if let crate::types::WantedVersion::Pinned(tag) = version.wanted() {
        if !is_image_tag(tag) {
            err(
                "spec.delegate.version",
                format!("{tag:?} is neither auto nor a version such as 25.01.84800"),
            );
        }
    }
    let last = delegate.image.rsplit('/').next().unwrap_or_default();
    if last.contains(':') || delegate.image.contains('@') {
        err(
            "spec.delegate.image",
            format!(
                "with spec.delegate.version, the image is the repository alone (e.g. \
                 harness/delegate), without a tag or digest: {:?}",
                delegate.image
            ),
        );
    }
}

/// Service settings: name, deployment bounds, restartedAt.
fn check_service(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    if spec.wave() > 100 {
        err(
            "spec.rollout.wave",
            format!(
                "{} waves is more than a rollout needs: 0 to 100",
                spec.wave()
            ),
        );
    }
    if let Some(service) = &spec.service {
        if spec.mode == Mode::Tasks {
            err(
                "spec.service",
                "service settings apply to mode: service only".into(),
            );
        }
        if let Some(name) = &service.name {
            if !is_ecs_name(name) {
                err(
                    "spec.service.name",
                    format!("{name:?} must be 1 to 255 letters, digits, hyphens or underscores"),
                );
            }
        }
        let min = service.minimum_healthy_percent.unwrap_or(100);
        let max = service.maximum_percent.unwrap_or(200);
        if !(0..=100).contains(&min) {
            err(
                "spec.service.minimumHealthyPercent",
                format!("must be between 0 and 100, got {min}"),
            );
        } else if min > max {
            let field = if service.minimum_healthy_percent.is_some() {
                "spec.service.minimumHealthyPercent"
            } else {
                "spec.service.maximumPercent"
            };
            err(
                field,
                format!("minimumHealthyPercent ({min}) may not exceed maximumPercent ({max})"),
            );
        }
        if let Some(restarted_at) = &service.restarted_at {
            if restarted_at.trim().is_empty() {
                err("spec.service.restartedAt", "must not be empty".into());
            }
        }
    }
}

/// Overrides: the patched document must still be a task definition, and may not carry a
/// token in plain text.
fn check_overrides(group: &DelegateGroup, report: &mut dyn FnMut(FieldPath, String)) {
    let spec = &group.spec;
    if spec.task_definition_overrides.is_some() {
        match render(group, spec.region.as_deref().unwrap_or("us-east-1")) {
            Err(e) => report(e.path, e.message),
            Ok(rendered) => {
                let leaks = rendered
                    .task_definition
                    .container_definitions
                    .iter()
                    .flat_map(|c| &c.environment)
                    .any(|kv| kv.name == "DELEGATE_TOKEN" || kv.name == "ACCOUNT_SECRET");
                if leaks {
                    report(
                        FieldPath::new("spec.taskDefinitionOverrides"),
                        "sets DELEGATE_TOKEN or ACCOUNT_SECRET as a plain variable; the token \
                         belongs in spec.delegate.token (a secret)"
                            .into(),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
