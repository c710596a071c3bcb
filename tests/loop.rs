//! `reconcile` as a loop, end to end against moto: file changes, drift, bad edits, HTTP,
//! JSON logs, SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::{Duration, Instant};

use support::{assert_has, eventually, group_yaml, Loop, Moto};

const LIMIT: Duration = Duration::from_secs(15);

/// Someone scales a service by hand (drift).
fn scale_by_hand(moto: &Moto, cluster: &str, name: &str, count: i32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        moto.ecs()
            .await
            .update_service()
            .cluster(cluster)
            .service(name)
            .desired_count(count)
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn file_changes_new_files_and_drift_reach_ecs_and_http_answers() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    // A long interval: anything that happens quickly below is the watch, not the resync.
    let mut looping = Loop::start(
        &moto,
        &["groups", "--interval", "300s", "--log-format", "json", "-v"],
    );
    assert!(looping.wait_ready(LIMIT), "not ready: {}", looping.logs());
    assert_eq!(looping.get("/healthz"), (200, "ok\n".into()));
    assert_eq!(moto.desired("c1", "a"), Some(2));

    // A file change reaches ECS.
    let edited = Instant::now();
    moto.write(
        "groups/a.yaml",
        &group_yaml("a", "c1", "").replace("count: 2", "count: 3"),
    );
    eventually(LIMIT, || (moto.desired("c1", "a") == Some(3)).then_some(()))
        .expect("the edit reached ECS");
    eprintln!("file change -> ECS: {:?}", edited.elapsed());

    // A new file is picked up.
    moto.write("groups/b.yaml", &group_yaml("b", "c1", ""));
    eventually(LIMIT, || moto.desired("c1", "b")).expect("the new group was created");

    // HTTP.
    let (code, body) = looping.get("/status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<_> = status["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(status["groups"][0]["desired"], 3);
    assert_eq!(status["groups"][0]["cluster"], "c1");
    assert_eq!(status["groups"][0]["mode"], "service");
    assert!(status["groups"][0]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Ready"));
    let (code, metrics) = looping.get("/metrics");
    assert_eq!(code, 200);
    for needle in [
        "ecs_delegate_controller_reconciles_total{result=\"success\"}",
        "ecs_delegate_controller_reconcile_duration_seconds_bucket",
        "ecs_delegate_controller_aws_calls_total{account=\"self\",region=\"us-east-1\",operation=\"DescribeServices\",outcome=\"ok\"}",
        "ecs_delegate_controller_aws_calls_total{account=\"self\",region=\"us-east-1\",operation=\"CreateService\",outcome=\"ok\"}",
        "ecs_delegate_controller_aws_throttles_total",
        "ecs_delegate_controller_desired_tasks{group=\"a\"} 3",
        "ecs_delegate_controller_running_tasks{group=\"a\"}",
        "ecs_delegate_controller_queue_depth",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }

    // JSON logs name the group.
    let logs = looping.logs();
    let named = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|l| l["span"]["group"] == "a" || l["group"] == "a");
    assert!(named, "no JSON log line names group a:\n{logs}");

    // SIGTERM: exit 0 within 10 s.
    looping.stop(Duration::from_secs(10));
}

#[test]
fn drift_is_put_back_within_the_interval() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("a.yaml", &group_yaml("a", "c1", ""));
    let _looping = Loop::ready(&moto, &["a.yaml", "--interval", "1s"], LIMIT);
    scale_by_hand(&moto, "c1", "a", 7);
    assert_eq!(moto.desired("c1", "a"), Some(7));
    eventually(Duration::from_secs(10), || {
        (moto.desired("c1", "a") == Some(2)).then_some(())
    })
    .expect("the count changed by hand was put back");
}

#[test]
fn a_broken_file_changes_nothing_and_the_fix_applies() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    let mut looping = Loop::ready(&moto, &["groups", "--interval", "300s"], LIMIT);

    moto.reset_calls();
    moto.write(
        "groups/a.yaml",
        &group_yaml("a", "c1", "").replace("count: 2", "count: [oops"),
    );
    let status = eventually(LIMIT, || {
        let (_, body) = looping.get("/status");
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        status.get("configErrors").is_some().then_some(status)
    })
    .expect("the bad edit is reported on /status");
    assert!(
        status["configErrors"][0]
            .as_str()
            .unwrap()
            .contains("groups/a.yaml:"),
        "{status}"
    );
    let stalled = status["groups"][0]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Stalled" && c["status"] == "True" && c["reason"] == "ConfigError");
    assert!(stalled, "{status}");
    assert!(looping.child.try_wait().unwrap().is_none(), "still running");
    assert_eq!(
        moto.writes(),
        Vec::<String>::new(),
        "nothing changed in ECS"
    );
    assert!(looping.logs().contains("invalid DelegateGroup files"));

    moto.write(
        "groups/a.yaml",
        &group_yaml("a", "c1", "").replace("count: 2", "count: 4"),
    );
    eventually(LIMIT, || (moto.desired("c1", "a") == Some(4)).then_some(()))
        .expect("the fix applied");
    let (_, body) = looping.get("/status");
    assert!(!body.contains("configErrors"), "{body}");
    looping.stop(Duration::from_secs(10));
}

#[test]
fn readyz_waits_for_valid_files() {
    let moto = Moto::start();
    moto.write("groups/a.yaml", "apiVersion: nope\n");
    let looping = Loop::start(&moto, &["groups", "--interval", "300s"]);
    let answered = eventually(LIMIT, || {
        let (code, body) = looping.get("/readyz");
        (code != 0).then_some((code, body))
    })
    .expect("HTTP answers");
    assert_eq!(answered.0, 503);
    assert!(
        answered.1.contains("no valid configuration"),
        "{answered:?}"
    );
    assert_eq!(looping.get("/healthz").0, 200, "alive, though not ready");
}

#[test]
fn the_loop_prunes_a_removed_group_at_resync() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    moto.write("groups/b.yaml", &group_yaml("b", "c1", ""));
    let _looping = Loop::ready(&moto, &["groups", "--interval", "1s", "--prune"], LIMIT);
    assert_eq!(moto.desired("c1", "b"), Some(2));
    moto.remove("groups/b.yaml");
    eventually(LIMIT, || moto.desired("c1", "b").is_none().then_some(())).expect("b was pruned");
    assert_eq!(moto.desired("c1", "a"), Some(2), "a stays");
}

/// A file no YAML parser should see (a NUL byte) appears while the loop runs: it is reported
/// once on /status, /metrics, /readyz and the log; the last valid set is still reconciled (drift
/// is put back); the fix is picked up at once; and SIGTERM during a hostile reload is honoured.
#[test]
fn a_hostile_file_is_reported_the_last_valid_set_is_kept_and_the_fix_applies() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    let mut looping = Loop::ready(&moto, &["groups", "--interval", "1s"], LIMIT);

    moto.write("groups/x.yaml", "\0");
    let status = eventually(LIMIT, || {
        let (_, body) = looping.get("/status");
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        status.get("configErrors").is_some().then_some(status)
    })
    .expect("the hostile file is reported on /status");
    assert_eq!(
        status["configErrors"],
        serde_json::json!([
            "groups/x.yaml:1:1: error: a NUL byte, which YAML does not allow; is this a binary file?"
        ]),
        "{status}"
    );
    let (_, metrics) = looping.get("/metrics");
    assert_has(&metrics, "ecs_delegate_controller_config_errors 1\n");
    let (code, body) = looping.get("/readyz");
    assert_eq!(code, 503);
    assert!(
        body.contains("serving a stale configuration") && body.contains("groups/x.yaml:1:1"),
        "{body}"
    );
    let (_, page) = looping.get("/");
    assert!(page.contains("groups/x.yaml:1:1"), "the page shows it");

    // Meanwhile the last valid set is still reconciled: drift is put back.
    scale_by_hand(&moto, "c1", "a", 7);
    eventually(LIMIT, || (moto.desired("c1", "a") == Some(2)).then_some(()))
        .expect("drift is put back at the last valid spec");
    // Resyncs every second re-read the file; the problem is logged once, not per pass.
    std::thread::sleep(Duration::from_secs(3));
    let logs = looping.logs();
    assert_eq!(
        logs.matches("invalid DelegateGroup files").count(),
        1,
        "{logs}"
    );
    assert!(!logs.contains('\0'), "the file's bytes are never echoed");

    // The fix (the file removed, another edited) is applied at once.
    moto.remove("groups/x.yaml");
    moto.write(
        "groups/a.yaml",
        &group_yaml("a", "c1", "").replace("count: 2", "count: 4"),
    );
    eventually(LIMIT, || (moto.desired("c1", "a") == Some(4)).then_some(()))
        .expect("the fix applied");
    let (_, metrics) = looping.get("/metrics");
    assert!(metrics.contains("ecs_delegate_controller_config_errors 0\n"));
    assert!(looping.wait_ready(LIMIT), "ready again: {}", looping.logs());

    // SIGTERM while a hostile file is being reloaded is honoured within the grace period.
    std::fs::write(moto.path().join("groups/y.yaml"), b"kind: \x01\x02\xff\xfe").unwrap();
    looping.stop(Duration::from_secs(25));
}

/// Slow clients cannot pin the HTTP server: a hundred connections that send half a request
/// (over the cap of 64 at once) are each closed by the server once the header timeout passes,
/// and a well-formed request is answered meanwhile. With axum's plain `serve` the half-sent
/// connections stayed open for ever.
#[test]
fn half_sent_requests_are_cut_off_and_do_not_starve_the_server() {
    use std::io::{Read as _, Write as _};
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("a.yaml", &group_yaml("a", "c1", ""));
    let looping = Loop::ready(&moto, &["a.yaml", "--interval", "300s"], LIMIT);

    let mut slow: Vec<std::net::TcpStream> = (0..100)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", looping.port)).unwrap();
            // Headers that never end.
            s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
                .unwrap();
            s
        })
        .collect();
    let (code, _) = looping.get("/healthz");
    assert_eq!(code, 200, "answered while 100 half-sent requests are held");

    for (i, s) in slow.iter_mut().enumerate() {
        // A bound on waiting, not a speed check: the server's header timeout is 10 s, and the
        // last 36 connections wait for a slot first.
        s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        let mut buf = [0_u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {} // an error response before the close
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("connection {i} is still open")
                }
                Err(_) => break, // reset
            }
        }
    }
    assert_eq!(looping.get("/healthz").0, 200);
}
