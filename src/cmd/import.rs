//! `import`: a DelegateGroup from Harness's downloaded task spec, or from a live service to
//! adopt it without downtime. The translation is `spec::import`'s; this reads the inputs.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::GlobalArgs;
use crate::wiring::sdk;

fn read_json(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

pub async fn run(
    global: &GlobalArgs,
    task_spec: Option<PathBuf>,
    service_spec: Option<PathBuf>,
    live: Option<(String, String)>,
    name: Option<String>,
    account: Option<spec::Account>,
) -> anyhow::Result<ExitCode> {
    if let Some(account) = &account {
        let role = spec::arn::Arn::parse(&account.role_arn).filter(spec::arn::Arn::is_role);
        anyhow::ensure!(
            role.is_some(),
            "--account-role-arn {:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            account.role_arn
        );
    }
    let mut range = None;
    let (task_definition, service, origin, exact) = match (task_spec, live) {
        (Some(path), _) => {
            let service = service_spec.as_deref().map(read_json).transpose()?;
            (
                read_json(&path)?,
                service,
                path.display().to_string(),
                false,
            )
        }
        (None, Some((cluster, service))) => {
            let api = sdk(global).await?;
            let region = global
                .region
                .clone()
                .or_else(|| api.default_region())
                .context("no region: set --region or AWS_REGION")?;
            let clients = api.clients(&client::Target::of(account.as_ref(), &region));
            let (live, document) = clients
                .live_service(&cluster, &service)
                .await
                .context("reading the live service")?;
            range = scaling_of(&clients, &cluster, &service)
                .await
                .context("reading the service's autoscaling")?;
            let (td, service_json) = plan::adopt::live_documents(&live, &cluster, &document)?;
            // Managed by any controller: which id will run the imported file is not known here.
            if let Some(owner) = live.tags.get(spec::render::TAG_MANAGED_BY) {
                eprintln!(
                    "warning: service {service} is already managed by controller id {owner:?}"
                );
            }
            let origin = format!("service {service} in cluster {cluster}");
            (td, Some(service_json), origin, true)
        }
        (None, None) => anyhow::bail!("give --task-spec FILE or --cluster C --service S"),
    };
    let mut imported = spec::import::import(&spec::import::ImportSource {
        task_definition: &task_definition,
        service: service.as_ref(),
        name: name.as_deref(),
        cluster: None,
        exact,
    })?;
    if let Some(range) = range {
        imported.group.spec.count = Some(spec::Count::Range(range));
    }
    if account.is_some() {
        imported.group.spec.account = account;
        imported.group.spec.region.clone_from(&global.region);
    }
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    std::io::stdout()
        .lock()
        .write_all(spec::import::to_yaml(&imported, &origin).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// A service with a scalable target and a target-tracking policy on ECS's average CPU or
/// memory (the controller's, or one of that form) imports as a count range.
async fn scaling_of(
    clients: &aws::SdkApi,
    cluster: &str,
    service: &str,
) -> anyhow::Result<Option<spec::CountRange>> {
    use client::AwsApi as _;
    let resource_id = format!("service/{}/{service}", spec::arn::cluster_name(cluster));
    let Some((_, min, max)) = clients
        .send(client::call::DescribeScalableTargets {
            resource_ids: vec![resource_id.clone()],
        })
        .await?
        .into_iter()
        .find(|(id, _, _)| *id == resource_id)
    else {
        return Ok(None);
    };
    let policy = clients
        .send(client::call::DescribeScalingPolicies {
            policy_name: spec::document::SCALING_POLICY_NAME.into(),
        })
        .await?
        .into_iter()
        .find(|(id, _, _)| *id == resource_id)
        .map(|(_, metric, target)| (metric, target));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let percent = |value: f64| value.round().clamp(1.0, 100.0) as u8;
    let (cpu, memory) = match policy {
        Some((metric, value)) if metric == "ECSServiceAverageMemoryUtilization" => {
            (None, Some(percent(value)))
        }
        Some((_, value)) => (Some(percent(value)), None),
        None => {
            eprintln!(
                "warning: {service} has a scalable target but not the controller's \
                 target-tracking policy; count.cpu is set to 70 for you to review, and the \
                 service's own policies stay as they are"
            );
            (Some(70), None)
        }
    };
    Ok(Some(spec::CountRange {
        min: i64::from(min),
        max: i64::from(max),
        cpu,
        memory,
    }))
}
