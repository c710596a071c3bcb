//! What operators see: audit logs at the default level (text and JSON), events and the applied
//! git revision in /status, the status page, notifications, and plans that show what changes
//! inside the task definition. Against the local endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::hook::Hook;
use support::{assert_has, eventually, group_yaml, request, Loop, Moto};

const SECRET_ENV: &str = "hunter2-not-for-logs";

/// Group `name` in c1 with a secret-looking environment variable.
fn group_with_secret(name: &str) -> String {
    group_yaml(name, "c1", "").replace(
        "    accountId: abc123\n",
        &format!("    accountId: abc123\n    env: {{PROXY_PASSWORD: {SECRET_ENV}}}\n"),
    )
}

#[test]
fn the_loop_logs_every_write_with_group_and_fields_by_default_in_text_and_json() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    moto.write("text/a.yaml", &group_with_secret("a"));
    moto.write("json/b.yaml", &group_with_secret("b"));
    // A receiver URL carries a token: it must not be logged either.
    let hook = "http://127.0.0.1:9/hooks/T000/TOKEN-IN-THE-URL";
    let text = Loop::start(&moto, &["text", "--notify", hook]);
    let json_loop = Loop::start(&moto, &["json", "--log-format", "json"]);
    for (looping, service) in [(&text, "a"), (&json_loop, "b")] {
        assert!(
            eventually(Duration::from_secs(30), || moto.desired("c1", service)).is_some(),
            "{}",
            looping.logs()
        );
        assert!(looping.wait_ready(Duration::from_secs(30)));
    }
    std::thread::sleep(Duration::from_millis(500));

    let logs = text.logs();
    let created = logs
        .lines()
        .find(|l| l.contains("applied") && l.contains("create-service"))
        .unwrap_or_else(|| panic!("no create-service line at the default level:\n{logs}"));
    for field in [
        "group=a",
        "cluster=c1",
        "account=self",
        "region=us-east-1",
        "desiredCount: 2",
        "revision=a:1",
    ] {
        assert!(created.contains(field), "{field} missing in: {created}");
    }
    assert!(
        !created.contains('\u{1b}'),
        "no colour into a file: {created}"
    );
    assert_has(&logs, "out of sync");
    let pass = logs.lines().find(|l| l.contains(" pass ")).unwrap();
    assert!(
        pass.contains("groups=1") && pass.contains("took="),
        "{pass}"
    );
    assert!(!pass.contains("Some("), "{pass}");

    let logs = json_loop.logs();
    let created: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "applied" && l["action"] == "create-service")
        .unwrap_or_else(|| panic!("no create-service line in JSON:\n{logs}"));
    assert_eq!(created["group"], "b");
    assert_eq!(created["cluster"], "c1");
    assert_eq!(created["revision"], "b:1");
    assert!(created["changes"]
        .as_str()
        .unwrap()
        .contains("desiredCount: 2"));
    let pass: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "pass")
        .unwrap();
    assert!(pass["took"].as_str().unwrap().ends_with('s'), "{pass}");

    for logs in [text.logs(), json_loop.logs()] {
        assert!(!logs.contains(SECRET_ENV), "a secret value was logged");
        assert!(
            !logs.contains("TOKEN-IN-THE-URL"),
            "a webhook token was logged"
        );
    }
}

#[test]
fn a_plan_shows_what_changes_inside_the_task_definition_never_a_secret_value() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 2);
    let path = moto.write("groups/g.yaml", &group_with_secret("g"));
    let out = moto.run(&["reconcile", "--once", "groups"]);
    assert!(out.status.success(), "{}", support::show(&out));
    std::fs::write(
        &path,
        group_with_secret("g")
            .replace(
                "harness/delegate:24.10.84200",
                "harness/delegate:25.01.85000",
            )
            .replace(SECRET_ENV, "another-secret-value")
            .replace("count: 2", "count: 3"),
    )
    .unwrap();
    for format in ["text", "markdown", "json"] {
        let out = moto.run(&["plan", "-o", format, "groups"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("containerDefinitions[ecs-delegate].image"),
            "{format}: {stdout}"
        );
        assert!(
            stdout.contains("harness/delegate:24.10.84200"),
            "{format}: {stdout}"
        );
        assert!(
            stdout.contains("harness/delegate:25.01.85000"),
            "{format}: {stdout}"
        );
        assert!(stdout.contains("PROXY_PASSWORD"), "{format}: {stdout}");
        assert!(stdout.contains("(hidden)"), "{format}: {stdout}");
        assert!(!stdout.contains(SECRET_ENV), "{format}: {stdout}");
        assert!(
            !stdout.contains("another-secret-value"),
            "{format}: {stdout}"
        );
    }
    let json: Value =
        serde_json::from_slice(&moto.run(&["plan", "-o", "json", "groups"]).stdout).unwrap();
    let register = support::find_in(&json["changes"], "action", "register-task-definition");
    assert!(register["detail"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["field"] == "containerDefinitions[ecs-delegate].image"
            && c["to"] == "harness/delegate:25.01.85000"));
    // The diff costs one DescribeTaskDefinition for the group that changes, and none for a
    // group in sync: a second, unchanged group adds no lookup.
    moto.write("groups/h.yaml", &group_yaml("h", "c1", ""));
    let out = moto.run(&["reconcile", "--once", "groups/h.yaml"]);
    assert!(out.status.success(), "{}", support::show(&out));
    let described = |path: &str| {
        moto.reset_calls();
        moto.run(&["plan", path]);
        moto.calls()
            .iter()
            .filter(|c| *c == "DescribeTaskDefinition")
            .count()
    };
    let in_sync = described("groups/h.yaml");
    assert_eq!(in_sync, 0, "a group in sync is not looked up");
    let changed = described("groups/g.yaml");
    let both = described("groups");
    assert_eq!(both, changed, "the group in sync adds nothing");
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn status_and_the_page_show_events_the_applied_revision_and_escape_everything() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 2);
    let file = moto.write(
        "repo/delegates/a.yaml",
        &group_yaml("a", "c1", "").replace(
            "metadata:\n  name: a\n",
            "metadata:\n  name: a\n  labels: {team: \"<script>alert(1)</script>\"}\n",
        ),
    );
    let repo = file.parent().unwrap().parent().unwrap().to_owned();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "delegates"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let looping = Loop::start(&moto, &["repo/delegates"]);
    assert!(
        looping.wait_ready(Duration::from_secs(30)),
        "{}",
        looping.logs()
    );

    let (_, body) = looping.get("/status");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["revision"], head.as_str(), "{body}");
    let group = &status["groups"][0];
    assert_eq!(group["appliedRevision"], head.as_str(), "{body}");
    assert!(group["lastReconciled"].is_string(), "{body}");
    let events = group["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "CreatedService" && e["type"] == "Normal" && e["count"] == 1),
        "{body}"
    );

    let (code, page) = request(
        looping.port,
        "GET",
        "/",
        &[("Accept", "text/html".into())],
        "",
    )
    .unwrap();
    assert_eq!(code, 200);
    assert_has(&page, "id=\"group-a\"");
    assert_has(&page, &head[..12]);
    assert!(!page.contains("<script"), "escaped: {page}");
    assert_has(&page, "&lt;script&gt;alert(1)&lt;/script&gt;");
    let headers = support::headers(looping.port, "/").unwrap();
    assert_has(&headers, "content-security-policy: default-src 'none'");
    let (code, css) = looping.get("/page.css");
    assert_eq!(code, 200);
    assert!(css.contains("@media (max-width: 720px)"));

    // The plan of a pull request names the commit its files are at.
    let out = moto.run(&["plan", "-o", "markdown", "repo/delegates"]);
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert_has(&markdown, &format!("`{}`", &head[..12]));
}

#[test]
fn notifications_when_a_group_degrades_recovers_and_has_drift_corrected() {
    let moto = Moto::with_clusters(&["c1"]);
    // Room for one delegate of the two: Degraded, InsufficientCapacity.
    moto.register_container_instances("c1", 1);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    let hook = Hook::start();
    let url = format!("http://127.0.0.1:{}/hooks/T000/B000/XXXX", hook.port);
    let looping = Loop::start(
        &moto,
        &[
            "groups",
            "--interval",
            "3s",
            "--notify",
            &url,
            "--notify-gap",
            "1s",
        ],
    );
    hook.wait_for("Degraded", 40, &looping);
    let degraded = hook.bodies.lock().unwrap()[0].clone();
    assert_eq!(degraded["group"], "a");
    assert_eq!(degraded["reason"], "InsufficientCapacity");
    assert!(
        degraded["text"].as_str().unwrap().contains("*a*"),
        "{degraded}"
    );
    // Capacity arrives: Ready again.
    moto.register_container_instances("c1", 2);
    hook.wait_for("Recovered", 60, &looping);
    // Someone scales it down by hand: put back, and said so.
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "a", "desiredCount": 1}).to_string(),
    );
    hook.wait_for("DriftCorrected", 40, &looping);
    assert_eq!(moto.desired("c1", "a"), Some(2));
    let kinds = hook.kinds();
    assert_eq!(
        kinds.iter().filter(|k| *k == "Degraded").count(),
        1,
        "deduplicated: {kinds:?}"
    );
    assert!(
        !looping.logs().contains("XXXX"),
        "the URL's token is never logged"
    );
}
