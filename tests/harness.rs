//! Ready means connected: the binary against the local ECS endpoint and a local fake of
//! Harness's delegate listings (NextGen REST, FirstGen GraphQL).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::harness::{current, Behaviour, FakeHarness, Replica, GOOD_KEY};
use support::{assert_has, condition, find_condition, show, Moto};

/// A local endpoint with cluster `c1`, the fake Harness, and the API key in Secrets Manager.
struct World {
    moto: Moto,
    harness: FakeHarness,
    key_arn: String,
    subnet: String,
}

impl World {
    async fn start() -> World {
        World::with_key(GOOD_KEY).await
    }

    async fn with_key(key: &str) -> World {
        World::with(Moto::with_clusters(&["c1"]), key).await
    }

    /// With the endpoint's settings (`LOCALECS_*`).
    async fn configured(settings: &[(&str, &str)]) -> World {
        let moto = Moto::start_configured(settings);
        moto.create_clusters(&["c1"]);
        World::with(moto, GOOD_KEY).await
    }

    async fn with(moto: Moto, key: &str) -> World {
        let harness = FakeHarness::start();
        let answer = moto.json_call(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            &serde_json::json!({"Name": "harness-api-key", "SecretString": format!("{key}\n")})
                .to_string(),
        );
        let key_arn = serde_json::from_str::<Value>(&answer).unwrap()["ARN"]
            .as_str()
            .unwrap()
            .to_owned();
        let (subnet, _) = moto.default_network().await;
        World {
            moto,
            harness,
            key_arn,
            subnet,
        }
    }

    /// A FARGATE group of `count` delegates whose manager is the fake.
    fn group(&self, file: &str, name: &str, count: i64) {
        let yaml = plan::DesiredGroup::test(name)
            .count(count)
            .manager_url(&self.harness.url)
            .fargate(&self.subnet)
            .yaml();
        self.moto.write(file, &yaml);
    }

    /// A FARGATE FirstGen group of `count` delegates whose manager is the fake.
    fn firstgen_group(&self, file: &str, name: &str, count: i64) {
        let yaml = plan::DesiredGroup::test(name)
            .count(count)
            .firstgen()
            .manager_url(&self.harness.url)
            .fargate(&self.subnet)
            .yaml();
        self.moto.write(file, &yaml);
    }

    /// The loop over `args` with the Harness check on.
    fn looping(&self, args: &[&str]) -> support::Loop {
        support::Loop::start(&self.moto, &self.with_harness(args))
    }

    /// `args` and the flags that turn the Harness check on.
    fn with_harness<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--harness-api-key-secret",
            &self.key_arn,
            "--harness-origin",
            &self.harness.url,
        ]);
        all
    }

    /// `args` with the Harness check on.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.moto.run(&self.with_harness(args))
    }

    /// `run`, which must succeed.
    #[track_caller]
    fn run_ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.run(args);
        assert!(out.status.success(), "{}", show(&out));
        out
    }

    /// `reconcile --once path` with the Harness check on, which must succeed.
    #[track_caller]
    fn reconciled(&self, path: &str) -> std::process::Output {
        self.run_ok(&["reconcile", "--once", path])
    }

    fn status(&self, path: &str, extra: &[&str]) -> Value {
        let mut args = vec!["status", "-o", "json", path];
        args.extend(extra);
        let out = self.run(&args);
        assert!(out.status.success(), "{}", show(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn no_key(output: &std::process::Output) {
    let text = show(output);
    assert!(!text.contains(GOOD_KEY), "the API key leaked: {text}");
    assert!(!text.contains("s3cr3t"), "the API key leaked: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connected_delegates_make_a_group_ready_and_status_shows_them() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 2);
    w.harness.set_connected("ng", 2, 2, "25.01.84800");
    w.harness.set_connected("someone-else", 1, 1, "25.01.84800");

    let out = w.run_ok(&["reconcile", "--once", "--wait", "60s", "-vv", "g.yaml"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("All 1 groups are ready."));
    no_key(&out);

    let status = w.status("g.yaml", &[]);
    let g = &status["groups"][0];
    assert_eq!(g["harness"]["check"], "on");
    assert_eq!(g["harness"]["connected"], 2);
    assert_eq!(g["harness"]["versions"][0], "25.01.84800");
    assert!(g["harness"]["lastHeartbeat"].is_string());
    let connected = condition(g, "Connected");
    assert_eq!(connected["status"], "True");
    assert_eq!(connected["reason"], "DelegatesConnected");
    assert!(connected["message"]
        .as_str()
        .unwrap()
        .starts_with("2 of 2 delegates connected to Harness (version 25.01.84800)"));
    assert_eq!(condition(g, "Ready")["status"], "True");

    let table = w.run(&["status", "g.yaml"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.lines().next().unwrap().contains("CONNECTED"), "{text}");
    assert!(text.lines().nth(1).unwrap().contains(" 2/2 "), "{text}");

    // The documented request: the key in x-api-key, the account in the query, the listing body.
    let requests = w.harness.requests();
    assert!(requests.iter().all(|r| r.key_ok));
    let first = &requests[0];
    assert_eq!(first.path, "/gateway/ng/api/delegate-setup/listDelegates");
    assert_eq!(first.query, "accountIdentifier=abc123");
    assert_eq!(first.body["filterType"], "Delegate");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_key_the_check_is_off_and_harness_is_never_asked() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 1);
    let out = w
        .moto
        .run(&["reconcile", "--once", "--wait", "60s", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    let out = w.moto.run(&["status", "-o", "json", "g.yaml"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = &status["groups"][0];
    assert_eq!(g["harness"], serde_json::json!({"check": "off"}));
    assert!(find_condition(g, "Connected").is_none());
    assert_eq!(condition(g, "Ready")["status"], "True");
    let table = w.moto.run(&["status", "g.yaml"]);
    assert!(String::from_utf8_lossy(&table.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .contains(" off "));
    assert!(w.harness.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn some_connected_is_waiting_within_the_grace_period_then_not_connected() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 2);
    w.harness.set_connected("ng", 1, 2, "25.01.84800");
    w.reconciled("g.yaml");

    let status = w.status("g.yaml", &[]);
    let g = &status["groups"][0];
    assert_eq!(g["harness"]["connected"], 1);
    assert_eq!(condition(g, "Ready")["status"], "False");
    assert_eq!(condition(g, "Ready")["reason"], "WaitingForConnection");
    assert_eq!(condition(g, "Progressing")["status"], "True");
    assert_eq!(condition(g, "Connected")["status"], "False");
    assert!(find_condition(g, "Degraded").is_none());

    let late = w.status("g.yaml", &["--harness-grace", "0s"]);
    let g = &late["groups"][0];
    let degraded = condition(g, "Degraded");
    assert_eq!(degraded["reason"], "NotConnected");
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.starts_with("1 of 2 delegates connected to Harness"),
        "{message}"
    );
    for hint in [
        "token",
        "spec.delegate.managerUrl",
        &w.harness.url,
        "egress",
    ] {
        assert!(message.contains(hint), "{hint} in {message}");
    }
    assert_eq!(condition(g, "Connected")["reason"], "NotConnected");
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_ends_ready_only_once_harness_sees_the_delegates() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 2);
    w.harness.set_connected("ng", 0, 0, "");
    let mut child = w
        .moto
        .command(&[
            "reconcile",
            "--once",
            "--wait",
            "90s",
            "g.yaml",
            "--harness-api-key-secret",
            &w.key_arn,
            "--harness-origin",
            &w.harness.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // ECS runs both tasks long before this; the wait goes on while Harness sees none.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = w.moto.run(&["status", "-o", "json", "g.yaml"]);
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        if condition(&status["groups"][0], "Ready")["status"] == "True" {
            break;
        }
        assert!(Instant::now() < deadline, "ECS never ran the tasks");
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "--wait ended while Harness saw no delegate"
    );
    let connected_at = Instant::now();
    w.harness.set_connected("ng", 2, 2, "25.01.84800");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("All 1 groups are ready."));
    assert!(connected_at.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_ends_with_not_connected_naming_the_groups_and_the_hint() {
    let w = World::start().await;
    w.group("a.yaml", "ng-a", 1);
    w.group("b.yaml", "ng-b", 1);
    w.harness.set_connected("ng-b", 1, 1, "25.01.84800");
    let out = w.run(&[
        "reconcile",
        "--once",
        "--wait",
        "8s",
        "--harness-grace",
        "0s",
        "a.yaml",
        "b.yaml",
    ]);
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("ng-a (c1): NotConnected: 0 of 1 delegate connected to Harness"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("token") && line.contains("managerUrl") && line.contains("egress"));
    assert!(!err.contains("ng-b (c1):"), "{err}");
    no_key(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_delegate_version_is_reported() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 1);
    w.harness.set(
        "ng",
        vec![Replica {
            connected: true,
            version: "23.01.78000".into(),
            expiring_at: support::harness::now_ms() - 86_400_000,
        }],
    );
    assert!(w
        .run(&["reconcile", "--once", "--wait", "60s", "g.yaml"])
        .status
        .success());
    let status = w.status("g.yaml", &[]);
    let g = &status["groups"][0];
    assert_eq!(g["harness"]["expiredVersions"][0], "23.01.78000");
    assert!(condition(g, "Connected")["message"]
        .as_str()
        .unwrap()
        .contains("version 23.01.78000 has expired"));
    let table = w.run(&["status", "g.yaml"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains(
        "ng: warning: Harness says delegate version 23.01.78000 has expired: update spec.delegate.image"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_is_its_own_reason_and_ecs_still_converges() {
    let w = World::with_key("pat.wrong.key-that-harness-refuses").await;
    w.group("g.yaml", "ng", 1);
    w.harness.set_connected("ng", 1, 1, "25.01.84800");
    let out = w.run_ok(&["reconcile", "--once", "-vv", "g.yaml"]);
    let text = show(&out);
    assert!(!text.contains("key-that-harness-refuses"), "{text}");
    assert!(
        w.moto.service("c1", "ng").await.is_some(),
        "ECS was written"
    );

    let out = w.run(&["status", "-o", "json", "g.yaml"]);
    assert!(!show(&out).contains("key-that-harness-refuses"));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = &status["groups"][0];
    assert_eq!(g["harness"]["check"], "failed");
    let connected = condition(g, "Connected");
    assert_eq!(connected["status"], "Unknown");
    assert_eq!(connected["reason"], "HarnessUnauthorized");
    assert!(connected["message"].as_str().unwrap().contains("HTTP 401"));
    // Not the fleet's fault: neither Degraded nor Stalled.
    assert!(find_condition(g, "Degraded").is_none());
    assert!(find_condition(g, "Stalled").is_none());
    assert_eq!(condition(g, "Ready")["reason"], "HarnessUnauthorized");
    // One attempt: a refused key is not retried.
    assert_eq!(w.harness.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn harness_failing_or_slow_never_blocks_ecs() {
    let w = World::start().await;
    w.group("a.yaml", "ng-a", 1);
    w.group("b.yaml", "ng-b", 1);
    w.harness.behave(Behaviour::ServerError);
    w.run_ok(&["reconcile", "--once", "a.yaml", "b.yaml"]);
    assert!(w.moto.service("c1", "ng-a").await.is_some());
    assert!(w.moto.service("c1", "ng-b").await.is_some());
    // Two groups in one scope: one listing, tried three times (two retries with backoff).
    assert_eq!(w.harness.requests().len(), 3);

    let status = w.status("a.yaml", &[]);
    let g = &status["groups"][0];
    assert_eq!(condition(g, "Connected")["reason"], "HarnessUnreachable");
    assert!(condition(g, "Connected")["message"]
        .as_str()
        .unwrap()
        .contains("HTTP 500"));
    assert!(find_condition(g, "Degraded").is_none());

    // Slower than --harness-timeout: given up, ECS's answer is still given.
    w.harness.behave(Behaviour::Slow(Duration::from_secs(5)));
    w.group("c.yaml", "ng-c", 1);
    let started = Instant::now();
    w.run_ok(&["reconcile", "--once", "--harness-timeout", "1s", "c.yaml"]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(w.moto.service("c1", "ng-c").await.is_some());
    let status = w.status("c.yaml", &["--harness-timeout", "1s"]);
    let connected = condition(&status["groups"][0], "Connected");
    assert_eq!(connected["reason"], "HarnessUnreachable");
    assert!(connected["message"].as_str().unwrap().contains("timed out"));
}

/// The delegate container of the task definition `service` of cluster `c1` runs.
async fn container_of(
    moto: &support::Moto,
    service: &str,
) -> aws_sdk_ecs::types::ContainerDefinition {
    let service = moto.service("c1", service).await.expect("the service");
    let td = moto
        .ecs()
        .await
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    td.task_definition().unwrap().container_definitions()[0].clone()
}

/// The environment and hostname of the task definition `service` of cluster `c1` runs: what
/// its delegates start with.
async fn started_with(
    moto: &support::Moto,
    service: &str,
) -> (BTreeMap<String, String>, Option<String>) {
    let container = container_of(moto, service).await;
    let env = container
        .environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap().to_owned(),
                kv.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (env, container.hostname().map(str::to_owned))
}

/// FirstGen delegates start (the template's locations are there), register with the
/// DELEGATE_NAME the controller gives them, and so are found connected; GraphQL is asked.
#[tokio::test(flavor = "multi_thread")]
async fn firstgen_groups_start_register_and_are_connected() {
    let w = World::start().await;
    w.firstgen_group("fg.yaml", "fg", 2);
    w.reconciled("fg.yaml");
    let (env, hostname) = started_with(&w.moto, "fg").await;
    assert!(
        w.harness.register(
            &env,
            hostname.as_deref(),
            vec![current("1.0.77221", true), current("1.0.77221", false)],
        ),
        "the rendered FirstGen delegate would not start: {env:?}"
    );
    let status = w.status("fg.yaml", &["--harness-grace", "0s"]);
    let g = &status["groups"][0];
    assert_eq!(g["harness"]["connected"], 1, "{g:#}");
    assert_eq!(condition(g, "Degraded")["reason"], "NotConnected");

    w.harness.register(
        &env,
        hostname.as_deref(),
        vec![current("1.0.77221", true), current("1.0.77221", true)],
    );
    let status = w.status("fg.yaml", &[]);
    assert_eq!(condition(&status["groups"][0], "Ready")["status"], "True");
    let request = w.harness.requests().pop().unwrap();
    assert_eq!(request.path, "/gateway/api/graphql");
    assert_eq!(request.query, "accountId=abc123");
    let query = request.body["query"].as_str().unwrap();
    assert!(
        query.contains(r#"delegateList(filters: [{accountId: "abc123"}]"#),
        "{query}"
    );
    for field in [
        "delegateName",
        "status",
        "disconnected",
        "lastHeartBeat",
        "version",
    ] {
        assert_has(query, field);
    }
}

/// A key whose user may not list delegates gets GraphQL `errors` with HTTP 200: that is
/// HarnessUnauthorized, not Harness being unreachable.
#[tokio::test(flavor = "multi_thread")]
async fn a_graphql_refusal_is_unauthorized() {
    let w = World::start().await;
    w.firstgen_group("fg.yaml", "fg", 1);
    w.harness.behave(Behaviour::GraphQlDenied);
    w.reconciled("fg.yaml");
    let status = w.status("fg.yaml", &[]);
    let g = &status["groups"][0];
    let connected = find_condition(g, "Connected").expect("a Connected condition");
    assert_eq!(connected["reason"], "HarnessUnauthorized", "{g:#}");
    assert_has(connected["message"].as_str().unwrap(), "Not authorized");
}

/// Harness keeps a replaced replica listed, disconnected, for hours: its expired version is not
/// the fleet's.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_version_counts_only_when_connected() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 1);
    w.harness.set(
        "ng",
        vec![
            Replica {
                connected: false,
                version: "23.01.78000".into(),
                expiring_at: support::harness::now_ms() - 86_400_000,
            },
            current("25.01.84800", true),
        ],
    );
    w.reconciled("g.yaml");
    let status = w.status("g.yaml", &[]);
    let g = &status["groups"][0];
    assert!(g["harness"].get("expiredVersions").is_none(), "{g:#}");
    assert_eq!(condition(g, "Ready")["status"], "True");
}

/// A project's token registers its delegates in the project. A group naming its org and project
/// is asked there and found; one naming neither is asked at account scope, where Harness (as
/// `getDelegateGroupIds` filters) lists nothing, and says where to look. A project without its
/// org is refused before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn the_scope_asked_is_the_one_the_delegates_register_in() {
    let w = World::start().await;
    w.harness.token_scope(Some("eng"), Some("payments"));
    let scoped = plan::DesiredGroup::test("scoped")
        .count(1)
        .manager_url(&w.harness.url)
        .fargate(&w.subnet)
        .yaml()
        .replace(
            "    accountId:",
            "    org: eng\n    project: payments\n    accountId:",
        );
    w.moto.write("groups/scoped.yaml", &scoped);
    w.group("groups/unscoped.yaml", "unscoped", 1);
    w.reconciled("groups");
    for name in ["scoped", "unscoped"] {
        let (env, hostname) = started_with(&w.moto, name).await;
        assert!(w.harness.register(
            &env,
            hostname.as_deref(),
            vec![current("25.01.84800", true)]
        ));
    }
    let status = w.status("groups", &["--harness-grace", "0s"]);
    let groups = status["groups"].as_array().unwrap();
    let group = |name: &str| groups.iter().find(|g| g["name"] == name).unwrap();
    assert_eq!(condition(group("scoped"), "Ready")["status"], "True");
    let unscoped = group("unscoped");
    assert_eq!(condition(unscoped, "Degraded")["reason"], "NotConnected");
    let message = condition(unscoped, "Degraded")["message"].as_str().unwrap();
    assert_has(message, "at account scope");
    assert_has(message, "spec.delegate.org");
    let asked: Vec<String> = w
        .harness
        .requests()
        .iter()
        .map(|r| r.query.clone())
        .collect();
    assert!(
        asked
            .iter()
            .any(|q| q == "accountIdentifier=abc123&orgIdentifier=eng&projectIdentifier=payments"),
        "{asked:?}"
    );

    let lone = scoped.replace("    org: eng\n", "");
    w.moto.write("lone.yaml", &lone);
    w.moto.reset_calls();
    let out = w.run(&["reconcile", "--once", "lone.yaml"]);
    assert!(!out.status.success());
    assert_has(&show(&out), "spec.delegate.project");
    assert_has(&show(&out), "set spec.delegate.org too");
    assert!(w.moto.ecs_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_may_live_in_an_ssm_parameter_and_a_bad_arn_is_refused() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 1);
    w.harness.set_connected("ng", 1, 1, "25.01.84800");
    w.moto.json_call(
        "ssm",
        "AmazonSSM.PutParameter",
        &serde_json::json!({"Name": "/harness/api-key", "Value": GOOD_KEY, "Type": "SecureString"})
            .to_string(),
    );
    let arn = format!(
        "arn:aws:ssm:us-east-1:{}:parameter/harness/api-key",
        support::ACCOUNT
    );
    let out = w.moto.run(&[
        "reconcile",
        "--once",
        "--wait",
        "60s",
        "g.yaml",
        "--harness-api-key-secret",
        &arn,
        "--harness-origin",
        &w.harness.url,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(w.harness.requests().iter().all(|r| r.key_ok));

    // A value instead of an ARN: refused before anything is written, and not echoed.
    let out = w.moto.run(&[
        "reconcile",
        "--once",
        "g.yaml",
        "--harness-api-key-secret",
        GOOD_KEY,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(&err, "--harness-api-key-secret");
    assert_has(&err, "not a Secrets Manager secret or SSM parameter ARN");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_loop_serves_the_connection_in_status_and_follows_harness() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 2);
    w.harness.set_connected("ng", 0, 0, "");
    let looping = w.looping(&["g.yaml", "--interval", "300s"]);
    assert!(
        looping.wait_ready(Duration::from_secs(30)),
        "{}",
        looping.logs()
    );
    let group = |want: &str| {
        support::eventually(Duration::from_secs(40), || {
            let (code, body) = looping.get("/status");
            let status: Value = serde_json::from_str(&body).ok()?;
            let g = status["groups"][0].clone();
            (code == 200 && find_condition(&g, "Ready")?["reason"] == want).then_some(g)
        })
        .unwrap_or_else(|| panic!("never {want}: {}", looping.logs()))
    };
    let waiting = group("WaitingForConnection");
    assert_eq!(waiting["harness"]["connected"], 0);
    assert_eq!(condition(&waiting, "Connected")["status"], "False");

    // A waiting group is looked at again soon (it is Progressing), not at the next resync.
    w.harness.set_connected("ng", 2, 2, "25.01.84800");
    let ready = group("Converged");
    assert_eq!(ready["harness"]["connected"], 2);
    assert_eq!(
        condition(&ready, "Connected")["reason"],
        "DelegatesConnected"
    );
    let logs = looping.logs();
    assert_has(&logs, "delegates not connected to Harness");
    assert_has(&logs, "delegates connected to Harness");
    assert!(!logs.contains(GOOD_KEY));
    let (_, metrics) = looping.get("/metrics");
    assert_has(
        &metrics,
        r#"ecs_delegate_controller_connected_delegates{group="ng"} 2"#,
    );
}

/// A group file can name any manager URL; the key goes only to the operator's origins. A group
/// pointing elsewhere keeps reconciling with Connected Unknown naming the refused origin, and
/// `validate` warns. An allowed origin that answers with a redirect does not carry the key on.
#[tokio::test(flavor = "multi_thread")]
async fn the_key_goes_only_to_the_operators_origins_and_never_across_a_redirect() {
    let w = World::start().await;
    let thief = FakeHarness::start();
    let yaml = plan::DesiredGroup::test("stolen")
        .count(1)
        .manager_url(&format!("{}/gratis", thief.url))
        .fargate(&w.subnet)
        .yaml();
    w.moto.write("stolen.yaml", &yaml);

    let out = w.run_ok(&["reconcile", "--once", "-vv", "stolen.yaml"]);
    no_key(&out);
    assert!(
        w.moto.service("c1", "stolen").await.is_some(),
        "the group is still reconciled"
    );
    let status = w.status("stolen.yaml", &[]);
    let connected = condition(&status["groups"][0], "Connected");
    assert_eq!(connected["status"], "Unknown");
    assert_eq!(connected["reason"], "HarnessOriginNotAllowed");
    assert!(
        connected["message"]
            .as_str()
            .unwrap()
            .contains(&format!("the API key is not sent to {}", thief.url)),
        "{connected}"
    );
    // Without --harness-origin only Harness SaaS is allowed: the loopback fake is refused too.
    let out = w.moto.run(&[
        "status",
        "-o",
        "json",
        "stolen.yaml",
        "--harness-api-key-secret",
        &w.key_arn,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(show(&out).contains("HarnessOriginNotAllowed"));

    let out = w.run(&["validate", "stolen.yaml"]);
    assert!(
        out.status.success(),
        "a warning, not an error: {}",
        show(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stolen.yaml:16:5: warning: spec.delegate.managerUrl: the Harness API key is not sent to")
            && err.contains("this group's connection will not be checked"),
        "{err}"
    );

    // The allowed origin answers 307 to the thief: the redirect is not followed.
    w.group("g.yaml", "ng", 1);
    let port: u16 = thief.url.rsplit(':').next().unwrap().parse().unwrap();
    w.harness.behave(Behaviour::Redirect(port));
    w.run_ok(&["reconcile", "--once", "g.yaml"]);
    let status = w.status("g.yaml", &[]);
    let connected = condition(&status["groups"][0], "Connected");
    assert_eq!(connected["reason"], "HarnessUnreachable");
    assert!(
        connected["message"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed with the API key"),
        "{connected}"
    );
    assert!(
        !w.harness.requests().is_empty(),
        "the allowed origin was asked"
    );
    assert!(
        thief.requests().is_empty(),
        "the key reached an origin that is not allowed: {:?}",
        thief.requests()
    );

    // An origin the operator gives must be https (plain http only to loopback).
    let out = w.moto.run(&[
        "status",
        "stolen.yaml",
        "--harness-api-key-secret",
        &w.key_arn,
        "--harness-origin",
        "http://harness.example.com",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        show(&out).contains(
            "--harness-origin \"http://harness.example.com\": the key goes over https only"
        ),
        "{}",
        show(&out)
    );
}

/// The image the service runs now.
async fn running_image(moto: &support::Moto, service: &str) -> String {
    container_of(moto, service)
        .await
        .image()
        .unwrap()
        .to_owned()
}

/// A FARGATE group of one delegate with `version` and the image's repository.
fn versioned(w: &World, file: &str, name: &str, version: &str) {
    let yaml = plan::DesiredGroup::test(name)
        .count(1)
        .image("harness/delegate")
        .version(version)
        .manager_url(&w.harness.url)
        .fargate(&w.subnet)
        .yaml();
    w.moto.write(file, &yaml);
}

/// Status until ECS's deployment is done (the reason is no longer ECS's rollout).
#[track_caller]
fn settled(w: &World, file: &str) -> Value {
    support::eventually(Duration::from_secs(60), || {
        let status = w.status(file, &[]);
        let reason = condition(&status["groups"][0], "Ready")["reason"].clone();
        (reason != "DeploymentInProgress").then_some(status)
    })
    .expect("ECS finishes the deployment")
}

/// `version: auto`: the image is the repository and Harness's latest supported version, shown in
/// plan and status with where it came from. When Harness names a newer one, the fleet rolls out
/// to it, and is Ready only once Harness lists the delegates connected on the new version.
#[tokio::test(flavor = "multi_thread")]
async fn an_auto_version_rolls_out_and_is_done_when_harness_lists_it_connected() {
    let w = World::start().await;
    w.harness.set_latest("25.01.84800");
    versioned(&w, "g.yaml", "ng", "auto");
    let plan = w.run_ok(&["plan", "g.yaml"]);
    assert_has(
        &String::from_utf8_lossy(&plan.stdout),
        "ng: version harness/delegate:25.01.84800 (auto (latest): Harness's latest supported version for the account, asked ",
    );
    w.reconciled("g.yaml");
    assert_eq!(
        running_image(&w.moto, "ng").await,
        "harness/delegate:25.01.84800"
    );
    let (env, host) = started_with(&w.moto, "ng").await;
    w.harness
        .register(&env, host.as_deref(), vec![current("25.01.84800", true)]);
    let status = settled(&w, "g.yaml");
    let g = &status["groups"][0];
    assert_eq!(condition(g, "Ready")["status"], "True", "{g:#}");
    assert_eq!(g["version"]["image"], "harness/delegate:25.01.84800");
    assert_has(g["version"]["source"].as_str().unwrap(), "auto (latest)");
    let asked = |w: &World| {
        w.harness
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/latest-supported-version"))
            .map(|r| r.query.clone())
            .collect::<Vec<_>>()
    };
    assert!(asked(&w).iter().all(|q| q == "accountIdentifier=abc123"));

    // Harness publishes a newer version: deployed, but not done while Harness lists the
    // delegates on the old one.
    w.harness.set_latest("25.02.85000");
    w.reconciled("g.yaml");
    assert_eq!(
        running_image(&w.moto, "ng").await,
        "harness/delegate:25.02.85000"
    );
    let status = settled(&w, "g.yaml");
    let g = &status["groups"][0];
    assert_eq!(
        condition(g, "Ready")["reason"],
        "WaitingForConnection",
        "{g:#}"
    );
    assert_has(
        condition(g, "Connected")["message"].as_str().unwrap(),
        "0 of 1 delegate connected to Harness on version 25.02.85000 (1 more on 25.01.84800)",
    );
    w.harness
        .register(&env, host.as_deref(), vec![current("25.02.85000", true)]);
    let status = w.status("g.yaml", &[]);
    assert_eq!(condition(&status["groups"][0], "Ready")["status"], "True");
}

/// A new version that crashes: ECS's circuit breaker rolls it back, the controller reports it
/// and does not deploy it again while Harness still names it.
#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_version_is_rolled_back_reported_and_not_retried() {
    let w = World::configured(&[("LOCALECS_FAILING_IMAGES", "harness/delegate:25.03.86000")]).await;
    w.harness.set_latest("25.01.84800");
    versioned(&w, "g.yaml", "ng", "auto");
    w.reconciled("g.yaml");
    let good = w.moto.service("c1", "ng").await.unwrap();
    let good_revision = good.task_definition().unwrap().to_owned();
    settled(&w, "g.yaml");

    w.harness.set_latest("25.03.86000");
    w.reconciled("g.yaml");
    let rolled_back = support::eventually(Duration::from_secs(60), || {
        let s = futures::executor::block_on(w.moto.service("c1", "ng"))?;
        (s.task_definition() == Some(good_revision.as_str()) && s.deployments().len() == 1)
            .then_some(())
    });
    assert!(rolled_back.is_some(), "ECS rolls the crashing version back");
    for pass in 0..3 {
        w.moto.reset_calls();
        let out = w.reconciled("g.yaml");
        let writes = w.moto.writes();
        assert!(
            !writes
                .iter()
                .any(|c| c == "UpdateService" || c == "RegisterTaskDefinition"),
            "pass {pass}: {writes:?}\n{}",
            show(&out)
        );
    }
    assert_eq!(
        running_image(&w.moto, "ng").await,
        "harness/delegate:25.01.84800"
    );
    let status = w.status("g.yaml", &[]);
    let g = &status["groups"][0];
    let degraded = condition(g, "Degraded");
    assert_eq!(degraded["reason"], "RolledBack", "{g:#}");
    assert_has(
        degraded["message"].as_str().unwrap(),
        "harness/delegate:25.03.86000 is not deployed again",
    );
}

/// Harness is asked for the latest version once per manager and account, however many groups
/// share it and however often the loop passes.
#[tokio::test(flavor = "multi_thread")]
async fn the_latest_version_is_asked_once_per_account_and_kept() {
    let w = World::start().await;
    w.harness.set_latest("25.01.84800");
    for name in ["a", "b", "c"] {
        versioned(&w, &format!("groups/{name}.yaml"), name, "auto");
    }
    let looping = w.looping(&["groups", "--interval", "2s"]);
    assert!(
        looping.wait_ready(Duration::from_secs(30)),
        "{}",
        looping.logs()
    );
    // Several resyncs, each reading the services.
    let passes = support::eventually(Duration::from_secs(60), || {
        let reads = w
            .moto
            .calls()
            .iter()
            .filter(|c| *c == "DescribeServices")
            .count();
        (reads >= 5).then_some(reads)
    });
    let asked = w
        .harness
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/latest-supported-version"))
        .count();
    looping.terminate();
    assert!(passes.is_some(), "{}", looping.logs());
    assert_eq!(asked, 1, "one call for three groups over several passes");
    for name in ["a", "b", "c"] {
        assert_eq!(
            running_image(&w.moto, name).await,
            "harness/delegate:25.01.84800"
        );
    }
}

/// A connected delegate whose version expires within the warning period: ExpiringSoon in
/// status, on the page, and one notification however many passes see it.
#[tokio::test(flavor = "multi_thread")]
async fn expiring_soon_is_a_condition_and_one_notification() {
    let w = World::start().await;
    w.group("g.yaml", "ng", 1);
    w.harness.set(
        "ng",
        vec![Replica {
            connected: true,
            version: "25.01.84800".into(),
            expiring_at: support::harness::now_ms() + 10 * 86_400_000,
        }],
    );
    let hook = support::hook::Hook::start();
    let url = format!("http://127.0.0.1:{}/hooks/T0/B0/X", hook.port);
    let looping = w.looping(&[
        "g.yaml",
        "--interval",
        "2s",
        "--notify",
        &url,
        "--notify-gap",
        "1s",
    ]);
    hook.wait_for("ExpiringSoon", 60, &looping);
    // Several more passes: still one.
    std::thread::sleep(Duration::from_secs(8));
    let (_, body) = looping.get("/status");
    let (_, page) = looping.get("/");
    looping.terminate();
    let kinds = hook.kinds();
    assert_eq!(
        kinds.iter().filter(|k| *k == "ExpiringSoon").count(),
        1,
        "{kinds:?}"
    );
    let status: Value = serde_json::from_str(&body).unwrap();
    let soon = condition(&status["groups"][0], "ExpiringSoon");
    assert_eq!(soon["reason"], "VersionExpiringSoon");
    assert_has(
        soon["message"].as_str().unwrap(),
        "version 25.01.84800 expires at",
    );
    assert_has(&page, "ExpiringSoon");
}

/// `version: auto` without the Harness key is a validation error naming the flag, before any
/// AWS call; a pinned version needs no key.
#[tokio::test(flavor = "multi_thread")]
async fn auto_without_the_key_is_refused_naming_the_flag() {
    let w = World::start().await;
    versioned(&w, "g.yaml", "ng", "auto");
    w.moto.reset_calls();
    for command in [
        vec!["validate", "g.yaml"],
        vec!["reconcile", "--once", "g.yaml"],
    ] {
        let out = w.moto.run(&command);
        assert!(!out.status.success(), "{}", show(&out));
        assert_has(&show(&out), "g.yaml:");
        assert_has(&show(&out), "spec.delegate.version");
        assert_has(&show(&out), "--harness-api-key-secret");
    }
    assert!(w.moto.calls().is_empty(), "{:?}", w.moto.calls());
    versioned(&w, "g.yaml", "ng", "25.01.84800");
    w.moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(
        running_image(&w.moto, "ng").await,
        "harness/delegate:25.01.84800"
    );
}
