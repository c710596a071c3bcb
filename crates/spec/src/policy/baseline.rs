//! The baseline every group meets whatever the policy file allows: no privileged or host
//! access, no unrendered overrides that would bypass the checks, images and secrets found.

use super::*;

/// The baseline, on the rendered document against the one rendered without overrides.
pub(super) fn check_baseline(
    group: &DelegateGroup,
    doc: &TaskDefinitionDocument,
    base: &TaskDefinitionDocument,
    report: &mut Report<'_>,
) {
    const OVERRIDES: &str = "spec.taskDefinitionOverrides";
    if doc.network_mode.as_deref() == Some("host") {
        let path = if has_override(group, &["networkMode"]) {
            "spec.taskDefinitionOverrides.networkMode"
        } else {
            "spec.networkMode"
        };
        refuse(
            report,
            path,
            "baseline.hostNetwork",
            "host network mode shares the host's network stack".into(),
        );
    }
    if doc.pid_mode.as_deref() == Some("host") {
        refuse(
            report,
            &format!("{OVERRIDES}.pidMode"),
            "baseline.hostPid",
            "host PID mode sees every process on the host".into(),
        );
    }
    for (i, volume) in doc.volumes.iter().enumerate() {
        if volume
            .host
            .as_ref()
            .is_some_and(|h| h.source_path.is_some())
        {
            refuse(
                report,
                &format!("{OVERRIDES}.volumes[{i}].host"),
                "baseline.hostVolumes",
                format!("volume {:?} mounts a path of the host", volume.name),
            );
        }
    }
    let names = |d: &TaskDefinitionDocument| -> Vec<(String, String)> {
        let mut v: Vec<_> = d
            .container_definitions
            .iter()
            .map(|c| (c.name.clone(), c.image.clone()))
            .collect();
        v.sort();
        v
    };
    if names(doc) != names(base) {
        refuse(
            report,
            &format!("{OVERRIDES}.containerDefinitions"),
            "baseline.containers",
            "overrides may not add, remove or rename containers or change their image".into(),
        );
    }
    for (i, container) in doc.container_definitions.iter().enumerate() {
        let user = container.user.as_deref().unwrap_or_default();
        let uid = user.split(':').next().unwrap_or_default();
        if uid == "0" || uid == "root" {
            refuse(
                report,
                &format!("{OVERRIDES}.containerDefinitions[{i}].user"),
                "baseline.root",
                format!("container {:?} would run as root", container.name),
            );
        }
    }
}

/// `privileged` and `linuxParameters` are not part of the rendered document (validation refuses
/// them as unknown fields, and the group does not render); the baseline names them for what
/// they are, from the overrides as written.
pub(super) fn check_unrendered_overrides(group: &DelegateGroup, report: &mut Report<'_>) {
    const OVERRIDES: &str = "spec.taskDefinitionOverrides";
    let raw = group
        .spec
        .task_definition_overrides
        .as_ref()
        .and_then(|o| o.get("containerDefinitions"))
        .and_then(|c| c.as_array());
    for (i, container) in raw.into_iter().flatten().enumerate() {
        if container
            .get("privileged")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            refuse(
                report,
                &format!("{OVERRIDES}.containerDefinitions[{i}].privileged"),
                "baseline.privileged",
                "privileged containers are root on the host".into(),
            );
        }
        let added = container
            .pointer("/linuxParameters/capabilities/add")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if added {
            refuse(
                report,
                &format!("{OVERRIDES}.containerDefinitions[{i}].linuxParameters.capabilities.add"),
                "baseline.capabilities",
                "added Linux capabilities are not allowed".into(),
            );
        }
    }
}

pub(super) fn has_override(group: &DelegateGroup, keys: &[&str]) -> bool {
    group
        .spec
        .task_definition_overrides
        .as_ref()
        .is_some_and(|o| keys.iter().any(|k| o.contains_key(*k)))
}

/// The images a group runs: the spec's, and any an override puts in (`None` index: the spec).
pub(super) fn images_of<'a>(
    group: &'a DelegateGroup,
    rendered: Option<&'a TaskDefinitionDocument>,
) -> Vec<(Option<usize>, &'a str)> {
    let mut images = vec![(None, group.spec.delegate.image.as_str())];
    for (i, c) in rendered
        .into_iter()
        .flat_map(|d| d.container_definitions.iter().enumerate())
    {
        // The delegate's own image is the repository alone when `version` is set.
        if i == 0 && c.image == crate::render::image(&group.spec.delegate) {
            continue;
        }
        if c.image != group.spec.delegate.image {
            images.push((Some(i), c.image.as_str()));
        }
    }
    images
}

pub(super) fn image_path(index: Option<usize>) -> String {
    match index {
        None => "spec.delegate.image".into(),
        Some(i) => format!("spec.taskDefinitionOverrides.containerDefinitions[{i}].image"),
    }
}

/// The secret ARNs a group injects: the token, and every other `valueFrom` of the rendered
/// containers (an override may add some).
pub(super) fn secrets_of(
    group: &DelegateGroup,
    rendered: Option<&TaskDefinitionDocument>,
) -> Vec<(String, String)> {
    let token = &group.spec.delegate.token.secret_arn;
    let mut secrets = vec![("spec.delegate.token.secretArn".to_owned(), token.clone())];
    for (i, c) in rendered
        .into_iter()
        .flat_map(|d| d.container_definitions.iter().enumerate())
    {
        for s in c.secrets.iter().filter(|s| s.value_from != *token) {
            secrets.push((
                format!("spec.taskDefinitionOverrides.containerDefinitions[{i}].secrets"),
                s.value_from.clone(),
            ));
        }
    }
    secrets
}
