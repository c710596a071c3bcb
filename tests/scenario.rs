//! The lifecycle scenario, written once and run against two targets, like the acceptance tests
//! of Terraform's AWS provider: the local ECS endpoint (in `make test`), and a real AWS account
//! (`make test-aws`, only with `EDC_TEST_AWS=1` and credentials; never in CI).
//!
//! FARGATE and EC2 groups in a throwaway cluster: create, scale, change the image, a hand edit put
//! back, a crashing image rolled back by the circuit breaker and not fought, import/adopt of a
//! service made by hand, prune; everything is torn down even when a step fails. Names carry the
//! run id (`edc-acc-<seconds>-<pid>`) and resources the tag `edc-acc-run`, so a run that was killed
//! is cleaned up by the next one (clusters older than two hours).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, ContainerDefinition, KeyValuePair, NetworkConfiguration, Secret,
};
use support::{assert_has, show, Moto};

/// Where the scenario runs.
enum Target {
    Local(Moto),
    Aws(AwsSettings),
}

/// What a real account must provide (see README, "The scenario against a real account").
struct AwsSettings {
    region: String,
    account: String,
    subnets: Vec<String>,
    security_group: String,
    execution_role: String,
    secret: String,
    dir: PathBuf,
}

impl AwsSettings {
    fn from_env() -> AwsSettings {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| panic!("make test-aws needs {name}; see README"))
        };
        let execution_role = var("EDC_TEST_AWS_EXECUTION_ROLE_ARN");
        let dir = std::env::temp_dir().join(format!("edc-acc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        AwsSettings {
            region: var("AWS_REGION"),
            account: execution_role.split(':').nth(4).unwrap().to_owned(),
            subnets: var("EDC_TEST_AWS_SUBNETS")
                .split(',')
                .map(str::to_owned)
                .collect(),
            security_group: var("EDC_TEST_AWS_SECURITY_GROUP"),
            execution_role,
            secret: var("EDC_TEST_AWS_SECRET_ARN"),
            dir,
        }
    }
}

impl Target {
    fn dir(&self) -> &Path {
        match self {
            Target::Local(moto) => moto.path(),
            Target::Aws(s) => &s.dir,
        }
    }

    fn is_aws(&self) -> bool {
        matches!(self, Target::Aws(_))
    }

    fn account(&self) -> String {
        match self {
            Target::Local(_) => support::ACCOUNT.into(),
            Target::Aws(s) => s.account.clone(),
        }
    }

    fn region(&self) -> String {
        match self {
            Target::Local(_) => support::REGION.into(),
            Target::Aws(s) => s.region.clone(),
        }
    }

    /// A delegate image that runs (real AWS: a small public image standing in for it).
    fn image(&self, version: u32) -> String {
        match self {
            Target::Local(_) => format!("harness/delegate:24.10.{version}"),
            Target::Aws(_) => [
                "public.ecr.aws/nginx/nginx:stable-alpine",
                "public.ecr.aws/nginx/nginx:mainline-alpine",
            ][version as usize % 2]
                .to_owned(),
        }
    }

    /// An image whose container exits at once ("Essential container in task exited").
    fn crashing_image(&self) -> String {
        match self {
            Target::Local(_) => "harness/delegate:crash".into(),
            Target::Aws(_) => "public.ecr.aws/docker/library/busybox:stable".into(),
        }
    }

    fn execution_role(&self) -> String {
        match self {
            Target::Local(_) => {
                format!("arn:aws:iam::{}:role/ecsTaskExecutionRole", self.account())
            }
            Target::Aws(s) => s.execution_role.clone(),
        }
    }

    fn secret(&self) -> String {
        match self {
            Target::Local(_) => format!(
                "arn:aws:secretsmanager:us-east-1:{}:secret:delegate-token",
                self.account()
            ),
            Target::Aws(s) => s.secret.clone(),
        }
    }

    async fn network(&self) -> (Vec<String>, String) {
        match self {
            Target::Local(moto) => {
                let (subnet, group) = moto.default_network().await;
                (vec![subnet], group)
            }
            Target::Aws(s) => (s.subnets.clone(), s.security_group.clone()),
        }
    }

    /// EC2 capacity: local container instances; on AWS the EC2 group is skipped (it needs
    /// container instances, which this scenario does not launch).
    fn has_ec2(&self) -> bool {
        !self.is_aws()
    }

    /// How long ECS may take to start or roll back.
    fn patience(&self) -> Duration {
        if self.is_aws() {
            Duration::from_secs(900)
        } else {
            Duration::from_secs(30)
        }
    }

    async fn ecs(&self) -> aws_sdk_ecs::Client {
        match self {
            Target::Local(moto) => moto.ecs().await,
            Target::Aws(s) => {
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(s.region.clone()))
                    .load()
                    .await;
                aws_sdk_ecs::Client::new(&config)
            }
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        match self {
            Target::Local(moto) => moto.run(args),
            Target::Aws(s) => {
                let mut command = support::binary();
                command.args(args).current_dir(&s.dir);
                command.env_remove("AWS_ENDPOINT_URL");
                command.output().unwrap()
            }
        }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir().join(name), text).unwrap();
    }

    fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.dir().join(name));
    }
}

fn group_yaml(t: &Target, name: &str, cluster: &str, spec: &str, image: &str) -> String {
    format!(
        r#"apiVersion: ecs-delegate-controller.io/v1alpha1
kind: DelegateGroup
metadata:
  name: {name}
spec:
  cluster: {cluster}
  region: {region}
  count: 1
  roles:
    execution: {role}
  tags: {{edc-acc-run: {cluster}}}
{spec}  delegate:
    image: {image}
    healthCheck: false
    accountId: abc123
    managerUrl: https://app.harness.io/gratis
    token: {{secretArn: "{secret}"}}
"#,
        region = t.region(),
        role = t.execution_role(),
        secret = t.secret(),
    )
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", show(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes what the run created, whatever happened: services (scaled to 0, forced), the task
/// definitions of its families, the cluster. Runs in its own runtime so that it also runs when
/// the scenario panicked.
struct Teardown {
    ecs: aws_sdk_ecs::Client,
    cluster: String,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let (ecs, cluster) = (self.ecs.clone(), self.cluster.clone());
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(delete_cluster(&ecs, &cluster));
        });
        let _ = cleanup.join();
    }
}

async fn delete_cluster(ecs: &aws_sdk_ecs::Client, cluster: &str) {
    let mut pages = ecs
        .list_services()
        .cluster(cluster)
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(Ok(page)) = pages.next().await {
        for arn in page.service_arns() {
            let _ = ecs
                .delete_service()
                .cluster(cluster)
                .service(arn)
                .force(true)
                .send()
                .await;
        }
    }
    let mut families = ecs
        .list_task_definitions()
        .family_prefix(cluster)
        .into_paginator()
        .send();
    while let Some(Ok(page)) = families.next().await {
        for arn in page.task_definition_arns() {
            let _ = ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await;
        }
    }
    // A cluster with DRAINING services cannot be deleted yet; the next run's sweep finishes it.
    let _ = ecs.delete_cluster().cluster(cluster).send().await;
}

/// Clusters left by runs that were killed (named `edc-acc-<seconds>-...`, older than 2 hours).
async fn sweep_old_runs(ecs: &aws_sdk_ecs::Client, now: u64) {
    let Ok(clusters) = ecs.list_clusters().send().await else {
        return;
    };
    for arn in clusters.cluster_arns() {
        let name = arn.rsplit('/').next().unwrap_or_default();
        let started = name
            .strip_prefix("edc-acc-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|s| s.parse::<u64>().ok());
        if started.is_some_and(|s| now.saturating_sub(s) > 7200) {
            delete_cluster(ecs, name).await;
        }
    }
}

async fn service(t: &Target, cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
    support::describe_service(&t.ecs().await, cluster, name)
        .await
        .expect("the service exists")
}

async fn until<T>(t: &Target, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + t.patience();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(if t.is_aws() {
            Duration::from_secs(10)
        } else {
            Duration::from_millis(50)
        })
        .await;
    }
}

async fn scenario(t: Target) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cluster = format!("edc-acc-{now}-{}", std::process::id());
    let ecs = t.ecs().await;
    if t.is_aws() {
        sweep_old_runs(&ecs, now).await;
    }
    ecs.create_cluster()
        .cluster_name(&cluster)
        // For the capacity-provider step: Fargate's providers, associated with the cluster.
        .capacity_providers("FARGATE")
        .capacity_providers("FARGATE_SPOT")
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("edc-acc-run")
                .value(&cluster)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let _teardown = Teardown {
        ecs: ecs.clone(),
        cluster: cluster.clone(),
    };
    if let Target::Local(moto) = &t {
        moto.register_container_instances(&cluster, 2);
    }
    let (subnets, group) = t.network().await;
    let fargate = |count: u32, image: &str| {
        group_yaml(
            &t,
            &format!("{cluster}-fargate"),
            &cluster,
            &format!(
                "  launchType: FARGATE\n  network: {{subnets: [{}], securityGroups: [{group}], assignPublicIp: true}}\n  resources: {{cpu: 256, memory: 512}}\n",
                subnets.join(", ")
            ),
            image,
        )
        .replace("count: 1", &format!("count: {count}"))
    };
    let fargate_name = format!("{cluster}-fargate");

    // Create (FARGATE, and EC2 where there is capacity), and wait until Ready.
    t.write("fargate.yaml", &fargate(1, &t.image(1)));
    if t.has_ec2() {
        t.write(
            "ec2.yaml",
            &group_yaml(
                &t,
                &format!("{cluster}-ec2"),
                &cluster,
                "  resources: {cpu: 512, memory: 1024}\n",
                &t.image(1),
            ),
        );
    }
    let wait = format!("{}s", t.patience().as_secs());
    ok(&t.run(&["reconcile", "--once", "--wait", &wait, "."]));

    // Scale.
    t.write("fargate.yaml", &fargate(2, &t.image(1)));
    ok(&t.run(&["reconcile", "--once", "--wait", &wait, "."]));
    assert_eq!(
        service(&t, &cluster, &fargate_name).await.running_count(),
        2
    );

    // Change the image: a new revision, rolled out.
    t.write("fargate.yaml", &fargate(2, &t.image(2)));
    ok(&t.run(&["reconcile", "--once", "--wait", &wait, "."]));
    let good = service(&t, &cluster, &fargate_name).await;
    let good_revision = good.task_definition().unwrap().to_owned();
    assert!(good_revision.ends_with(":2"), "{good_revision}");

    // Drift by hand: put back.
    ecs.update_service()
        .cluster(&cluster)
        .service(&fargate_name)
        .desired_count(3)
        .send()
        .await
        .unwrap();
    let text = ok(&t.run(&["reconcile", "--once", "."]));
    assert!(
        text.contains("desiredCount") || text.contains("updated service"),
        "{text}"
    );
    assert_eq!(
        service(&t, &cluster, &fargate_name).await.desired_count(),
        2
    );

    // A crashing image: ECS's circuit breaker rolls back; the controller does not fight it.
    t.write("fargate.yaml", &fargate(2, &t.crashing_image()));
    ok(&t.run(&["reconcile", "--once", "."]));
    until(&t, "the rollback", async || {
        let s = service(&t, &cluster, &fargate_name).await;
        (s.task_definition() == Some(good_revision.as_str()) && s.deployments().len() == 1)
            .then_some(())
    })
    .await;
    let first = ok(&t.run(&["reconcile", "--once", "."]));
    assert_has(&first, "ECS rolled service");
    for _ in 0..3 {
        let text = ok(&t.run(&["reconcile", "--once", "."]));
        assert!(
            text.contains(&format!("{fargate_name} ({cluster}): in sync")),
            "no deployment after the rollback: {text}"
        );
    }
    assert_eq!(
        service(&t, &cluster, &fargate_name).await.task_definition(),
        Some(good_revision.as_str())
    );
    t.write("fargate.yaml", &fargate(2, &t.image(1)));
    ok(&t.run(&["reconcile", "--once", "--wait", &wait, "."]));

    // Capacity providers instead of the launch type: one delegate on FARGATE, the rest on
    // FARGATE_SPOT; then nothing more to do.
    let on_spot = fargate(2, &t.image(1)).replace(
        "  launchType: FARGATE\n",
        "  capacityProviderStrategy:\n    - {capacityProvider: FARGATE, base: 1, weight: 1}\n    - {capacityProvider: FARGATE_SPOT, weight: 1}\n",
    );
    assert!(on_spot.contains("FARGATE_SPOT"), "{on_spot}");
    t.write("fargate.yaml", &on_spot);
    ok(&t.run(&["reconcile", "--once", "--wait", &wait, "."]));
    let moved = service(&t, &cluster, &fargate_name).await;
    let providers: Vec<&str> = moved
        .capacity_provider_strategy()
        .iter()
        .map(|i| i.capacity_provider())
        .collect();
    assert_eq!(providers, ["FARGATE", "FARGATE_SPOT"], "{moved:?}");
    let text = ok(&t.run(&["reconcile", "--once", "."]));
    assert!(
        text.contains(&format!("{fargate_name} ({cluster}): in sync")),
        "{text}"
    );

    // Import and adopt a delegate service made by hand.
    let by_hand = format!("{cluster}-by-hand");
    let container = ContainerDefinition::builder()
        .name("ecs-delegate")
        .image(t.image(1))
        .essential(true)
        .environment(
            KeyValuePair::builder()
                .name("ACCOUNT_ID")
                .value("abc123")
                .build(),
        )
        .environment(
            KeyValuePair::builder()
                .name("MANAGER_HOST_AND_PORT")
                .value("https://app.harness.io/gratis")
                .build(),
        )
        .environment(
            KeyValuePair::builder()
                .name("DELEGATE_NAME")
                .value(&by_hand)
                .build(),
        )
        .environment(
            KeyValuePair::builder()
                .name("NEXT_GEN")
                .value("true")
                .build(),
        )
        .secrets(
            Secret::builder()
                .name("DELEGATE_TOKEN")
                .value_from(t.secret())
                .build()
                .unwrap(),
        )
        .build();
    let td = ecs
        .register_task_definition()
        .family(&by_hand)
        .container_definitions(container)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .execution_role_arn(t.execution_role())
        .send()
        .await
        .unwrap();
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(subnets.clone()))
                .security_groups(&group)
                .assign_public_ip(aws_sdk_ecs::types::AssignPublicIp::Enabled)
                .build()
                .unwrap(),
        )
        .build();
    ecs.create_service()
        .cluster(&cluster)
        .service_name(&by_hand)
        .task_definition(td.task_definition().unwrap().task_definition_arn().unwrap())
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(network)
        .send()
        .await
        .unwrap();
    let yaml = ok(&t.run(&["import", "--cluster", &cluster, "--service", &by_hand]));
    t.write("by-hand.yaml", &yaml);
    // Adoption is the operator's to allow, in a policy outside the watched directory.
    let policy =
        std::env::temp_dir().join(format!("edc-scenario-policy-{}.yaml", std::process::id()));
    std::fs::write(
        &policy,
        format!("apiVersion: ecs-delegate-controller.io/v1alpha1\nkind: GuardrailPolicy\nadoption: {{clusters: [{cluster}]}}\n"),
    )
    .unwrap();
    let policy = policy.display().to_string();
    let out = t.run(&[
        "plan",
        "--detailed-exitcode",
        "by-hand.yaml",
        "--policy",
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}\n{yaml}", show(&out));
    let text = ok(&t.run(&["reconcile", "--once", "by-hand.yaml", "--policy", &policy]));
    assert!(text.contains("updated service"), "adopted: {text}");
    let adopted = service(&t, &cluster, &by_hand).await;
    assert!(adopted
        .tags()
        .iter()
        .any(|tag| tag.key() == Some("ecs-delegate-controller.io/managed-by")));

    // Prune: the groups whose files go are deleted, nothing else.
    t.remove("fargate.yaml");
    t.remove("ec2.yaml");
    let text = ok(&t.run(&["reconcile", "--once", "--prune", ".", "--policy", &policy]));
    assert_has(&text, &format!("deleted service {fargate_name}"));
    assert_ne!(
        service(&t, &cluster, &fargate_name).await.status(),
        Some("ACTIVE")
    );
    assert_eq!(
        service(&t, &cluster, &by_hand).await.status(),
        Some("ACTIVE")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_scenario_against_the_local_endpoint() {
    scenario(Target::Local(Moto::start())).await;
}

/// `make test-aws`: the same scenario against a real account. Ignored unless `EDC_TEST_AWS=1`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "real AWS: make test-aws with EDC_TEST_AWS=1 and credentials"]
async fn the_lifecycle_scenario_against_a_real_account() {
    assert_eq!(
        std::env::var("EDC_TEST_AWS").as_deref(),
        Ok("1"),
        "set EDC_TEST_AWS=1 (and read README: it creates billable resources)"
    );
    scenario(Target::Aws(AwsSettings::from_env())).await;
}
