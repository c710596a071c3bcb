//! `doctor PATH...`: what a first deploy needs, checked in one run that only reads, printed as a
//! checklist with a fix for each failure; exit 1 when one fails.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use client::{AwsApi as _, Target};
use controller::{FileSource, SourceError};
use engine::{AlwaysOpen, Engine, Mode};
use plan::{DesiredGroup, PlanOptions};

use crate::cli::GlobalArgs;
use crate::wiring::{harness, policy, scope, Aws};

/// What `doctor` checks beyond the files: the loop's optional parts.
#[derive(Debug, Clone, Default)]
pub struct Doctor {
    /// `--lease-table`: the table several replicas elect a writer in.
    pub lease_table: Option<String>,
    /// `--events-queue`: the queue of event-driven mode.
    pub events_queue: Option<String>,
}

/// The checklist, printed as it goes.
#[derive(Default)]
struct Checklist {
    checks: usize,
    failed: usize,
}

impl Checklist {
    fn ok(&mut self, what: &str, detail: &str) {
        self.checks += 1;
        println!("ok    {what}: {detail}");
    }

    fn fail(&mut self, what: &str, problem: &str, fix: &str) {
        self.checks += 1;
        self.failed += 1;
        println!("FAIL  {what}: {problem}");
        println!("      fix: {fix}");
    }

    fn finish(self) -> ExitCode {
        if self.failed == 0 {
            println!("All {} checks passed.", self.checks);
            ExitCode::SUCCESS
        } else {
            println!("{} of {} checks failed.", self.failed, self.checks);
            ExitCode::FAILURE
        }
    }
}

pub async fn run(global: &GlobalArgs, paths: &[PathBuf], args: Doctor) -> anyhow::Result<ExitCode> {
    let mut list = Checklist::default();
    let aws = match Aws::new(global).await {
        Ok(aws) => aws,
        Err(e) => {
            list.fail(
                "credentials",
                &e.to_string(),
                "give the process AWS credentials (the message says what was tried)",
            );
            return Ok(list.finish());
        }
    };
    let sts = aws_sdk_sts::Client::new(aws.sdk.config());
    match sts.get_caller_identity().send().await {
        Ok(me) => list.ok(
            "credentials",
            &format!(
                "{} (account {})",
                me.arn().unwrap_or_default(),
                me.account().unwrap_or_default()
            ),
        ),
        Err(e) => list.fail(
            "credentials",
            &format!(
                "sts:GetCallerIdentity failed: {}",
                aws_sdk_sts::error::DisplayErrorContext(&e)
            ),
            "check the credentials and the network path to STS",
        ),
    }
    let region = aws.sdk.default_region();
    match &region {
        Some(region) => list.ok("region", region),
        None => list.ok(
            "region",
            "none configured: every group must set spec.region",
        ),
    }

    let source = FileSource::new(paths.to_vec(), &global.selector, region.clone())?
        .with_retries(policy(global, paths)?);
    let desired = match source.load_now() {
        Ok(desired) if desired.is_empty() => {
            list.fail(
                "files",
                "no DelegateGroup in the paths",
                "point doctor at the directory of your DelegateGroup files",
            );
            Vec::new()
        }
        Ok(desired) => {
            list.ok("files", &format!("{} groups, valid", desired.len()));
            desired
        }
        Err(SourceError::Invalid(lines)) => {
            list.fail(
                "files",
                &format!("{} error(s), the first: {}", lines.len(), lines[0]),
                "run `ecs-delegate-controller validate` and correct each error",
            );
            Vec::new()
        }
        Err(e) => {
            list.fail("files", &e.to_string(), "set --region or AWS_REGION");
            Vec::new()
        }
    };

    let provider = aws.limited();
    check_clusters(&mut list, &provider, &desired).await;

    if !desired.is_empty() {
        let options = PlanOptions {
            controller_id: global.controller_id.clone(),
            allow_replace: false,
        };
        let engine = Engine::new(aws.limited(), options, 8);
        let groups: Vec<Arc<DesiredGroup>> = desired.iter().cloned().map(Arc::new).collect();
        let report = engine
            .pass(&scope(&source), &groups, Mode::Plan, None, &AlwaysOpen)
            .await;
        for group in &report.plan().groups {
            let what = format!("group {}", group.group);
            match &group.error {
                None => list.ok(&what, "roles, token and service can be planned"),
                Some(error) => list.fail(
                    &what,
                    &format!("{}: {}", error.reason, error.message),
                    "see README \"Status and conditions\" for this reason",
                ),
            }
        }
    }

    if global.harness_api_key_secret.is_some() {
        match harness(global, &aws.sdk).await {
            Ok(Some(check)) => {
                let refs: Vec<&DesiredGroup> = desired.iter().collect();
                let views = check.views(&refs).await;
                let mut seen = BTreeSet::new();
                for (group, view) in desired.iter().zip(views) {
                    let scope = plan::harness::HarnessScope::of(group);
                    if !seen.insert(scope.to_string()) {
                        continue;
                    }
                    match view.delegates {
                        Ok(delegates) => list.ok(
                            &format!("harness {scope}"),
                            &format!("{} delegates listed", delegates.len()),
                        ),
                        Err(e) => list.fail(
                            &format!("harness {scope}"),
                            &e.to_string(),
                            "check the key, --harness-origin and the network path to Harness",
                        ),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => list.fail(
                "harness key",
                &e.to_string(),
                "check --harness-api-key-secret and the role's ReadTheHarnessApiKey statement",
            ),
        }
    }

    if let Some(table) = &args.lease_table {
        let dynamo = aws_sdk_dynamodb::Client::new(aws.sdk.config());
        let probe = dynamo
            .get_item()
            .table_name(table)
            .key(
                "name",
                aws_sdk_dynamodb::types::AttributeValue::S("ecs-delegate-controller/doctor".into()),
            )
            .consistent_read(true)
            .send()
            .await;
        match probe {
            Ok(_) => list.ok(&format!("lease table {table}"), "readable"),
            Err(e) => list.fail(
                &format!("lease table {table}"),
                &aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
                "create it from deploy/lease-table.json, and give the role ElectTheLeaderOnTheLeaseTable",
            ),
        }
    }

    if let Some(url) = &args.events_queue {
        let sqs = aws_sdk_sqs::Client::new(aws.sdk.config());
        let probe = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await;
        match probe {
            Ok(answer) => {
                let waiting = answer
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    })
                    .cloned()
                    .unwrap_or_default();
                list.ok(
                    &format!("events queue {url}"),
                    &format!("readable, {waiting} messages waiting"),
                );
            }
            Err(e) => list.fail(
                &format!("events queue {url}"),
                &aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
                "create it from deploy/events-queue.json, and give the role ReadTheEventsQueue",
            ),
        }
    }
    Ok(list.finish())
}

/// Each cluster the files name exists where the groups say; an EC2 group's cluster has an
/// instance with room for one of its tasks.
async fn check_clusters(
    list: &mut Checklist,
    provider: &impl client::ClientProvider,
    desired: &[DesiredGroup],
) {
    let mut places: Vec<(Target, String)> = desired
        .iter()
        .map(|d| (d.target.clone(), d.cluster().to_owned()))
        .collect();
    places.sort();
    places.dedup();
    // One listing per target (account and region), however many clusters the files name there.
    let mut listed: std::collections::HashMap<Target, Result<Vec<String>, client::AwsError>> =
        std::collections::HashMap::new();
    for (target, cluster) in places {
        let api = provider.clients(&target);
        let name = spec::arn::cluster_name(&cluster).to_owned();
        let what = format!("cluster {cluster} ({target})");
        if !listed.contains_key(&target) {
            let clusters = api.list_clusters().await;
            listed.insert(target.clone(), clusters);
        }
        match &listed[&target] {
            Ok(arns) if arns.iter().any(|a| spec::arn::cluster_name(a) == name) => {}
            Ok(_) => {
                list.fail(
                    &what,
                    "not found",
                    &format!("create it (`aws ecs create-cluster --cluster-name {name}`) or correct spec.cluster, spec.region, spec.account"),
                );
                continue;
            }
            Err(e) => {
                list.fail(&what, &e.to_string(), "check the role's Observe statement");
                continue;
            }
        }
        let ec2: Vec<&DesiredGroup> = desired
            .iter()
            .filter(|d| d.target == target && d.cluster() == cluster)
            .filter(|d| d.group.spec.compatibility() == spec::LaunchType::Ec2)
            .collect();
        let Some(largest) = ec2.iter().max_by_key(|d| d.group.spec.resources.memory) else {
            list.ok(&what, "exists");
            continue;
        };
        let (cpu, memory) = (
            i64::from(largest.group.spec.resources.cpu),
            i64::from(largest.group.spec.resources.memory),
        );
        match api.container_instances(&cluster).await {
            Ok(instances)
                if instances
                    .iter()
                    .any(|i| i.remaining_cpu >= cpu && i.remaining_memory >= memory) =>
            {
                list.ok(&what, &format!("exists, {} container instances", instances.len()));
            }
            Ok(instances) => list.fail(
                &what,
                &format!(
                    "none of its {} container instances has room for a delegate task of {cpu} CPU units and {memory} MiB",
                    instances.len()
                ),
                "register container instances (an Auto Scaling group with the ECS-optimized AMI), or use launchType FARGATE",
            ),
            Err(e) => list.fail(&what, &e.to_string(), "check the role's Observe statement"),
        }
    }
}
