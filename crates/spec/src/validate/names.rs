//! The shapes of names, ARNs and URLs, and Fargate's CPU and memory table.

use super::*;

pub(super) fn dns1123_label_problem(name: &str) -> Option<String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let valid_ends = !name.starts_with('-') && !name.ends_with('-');
    if name.is_empty() || name.len() > 63 || !valid_chars || !valid_ends {
        Some(format!(
            "{name:?} is not a DNS-1123 label: 1 to 63 lowercase letters, digits or '-', \
             starting and ending with a letter or digit"
        ))
    } else {
        None
    }
}

pub(super) fn is_ecs_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) fn cluster_problem(cluster: &str) -> Option<String> {
    if cluster.starts_with("arn:") {
        let ok = Arn::parse(cluster).is_some_and(|a| {
            a.service == "ecs" && a.resource_of("cluster").is_some_and(is_ecs_name)
        });
        (!ok).then(|| {
            format!(
                "{cluster:?} is not an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)"
            )
        })
    } else if is_ecs_name(cluster) {
        None
    } else {
        Some(format!(
            "{cluster:?} must be a cluster ARN or 1 to 255 letters, digits, hyphens or underscores"
        ))
    }
}

/// `arn:aws[-a-z]*:iam::<12 digits>:role/<path and name>`.
pub(super) fn is_role_arn(arn: &str) -> bool {
    Arn::parse(arn).is_some_and(|a| a.is_role())
}

pub(super) fn role_message(value: &str) -> String {
    format!("{value:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
}

/// What IAM refuses in a role ARN's name (its model's roleNameType: 1 to 64 of `[\w+=,.@-]`),
/// or that it is no role ARN at all.
pub(super) fn role_problem(arn: &str) -> Option<String> {
    if !is_role_arn(arn) {
        return Some(role_message(arn));
    }
    let name = arn.rsplit('/').next().unwrap_or_default();
    let role = &crate::model_string::ROLE_NAME;
    if !role.fits(name) {
        return Some(format!("the role name {name:?} must be 1 to 64 characters"));
    }
    role.first_refused(name).map(|c| {
        format!("the role name {name:?} has {c:?}; IAM allows ASCII letters, digits and _+=,.@-")
    })
}

/// A Secrets Manager secret ARN or an SSM parameter ARN.
pub(super) fn is_secret_arn(arn: &str) -> bool {
    Arn::parse(arn).is_some_and(|a| a.is_secret())
}

pub(super) fn is_http_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !host.starts_with(':') && !url.chars().any(char::is_whitespace)
}

pub(super) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The memory sizes (MiB) FARGATE offers for a CPU size, or `None` for a CPU size it does not offer.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let gib = |range: std::ops::RangeInclusive<u32>, step: usize| -> Vec<u32> {
        range.step_by(step).map(|g| g * 1024).collect()
    };
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1..=4, 1),
        1024 => gib(2..=8, 1),
        2048 => gib(4..=16, 1),
        4096 => gib(8..=30, 1),
        8192 => gib(16..=60, 4),
        16384 => gib(32..=120, 8),
        _ => return None,
    })
}

pub(super) fn fargate_problem(cpu: u32, memory: u32) -> Option<String> {
    match fargate_memory_options(cpu) {
        None => Some(format!(
            "FARGATE does not offer cpu {cpu}; choose 256, 512, 1024, 2048, 4096, 8192 or 16384"
        )),
        Some(options) if !options.contains(&memory) => {
            let first = options.first().copied().unwrap_or(0);
            let last = options.last().copied().unwrap_or(0);
            let step = options.get(1).map_or(0, |second| second - first);
            Some(format!(
                "FARGATE does not offer cpu {cpu} with memory {memory} MiB; with cpu {cpu} \
                 memory must be {first} to {last} MiB in steps of {step}"
            ))
        }
        Some(_) => None,
    }
}
