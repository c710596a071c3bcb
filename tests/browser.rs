//! The status page in a real browser: Debian's Chromium, headless, driven by playwright's Python
//! package (tests/browser/page.py) against the loop on the local endpoint. Both are installed by
//! `make setup`. Screenshots go to the test's temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::Duration;

use support::{group_yaml, venv, Loop, Moto};

#[test]
fn the_status_page_in_chromium_shows_the_fleet_filters_and_follows_a_group_that_degrades() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    let degrade = moto.write("groups/b.yaml", &group_yaml("b", "c1", ""));
    let looping = Loop::start(&moto, &["groups", "--interval", "5s"]);
    assert!(
        looping.wait_ready(Duration::from_secs(30)),
        "{}",
        looping.logs()
    );
    // Both Ready before the browser looks.
    assert!(support::eventually(Duration::from_secs(30), || {
        let (_, body) = looping.get("/status");
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        status["groups"]
            .as_array()?
            .iter()
            .all(|g| support::condition(g, "Ready")["status"] == "True")
            .then_some(())
    })
    .is_some());
    let shots = moto.dir.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = std::process::Command::new(venv().join("bin/python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/page.py"
        ))
        .args(["--url", &format!("http://127.0.0.1:{}/", looping.port)])
        .arg("--degrade")
        .arg(&degrade)
        .args(["--group", "b"])
        .arg("--shots")
        .arg(&shots)
        .output()
        .expect("python runs");
    let printed = support::printed(&out);
    assert!(out.status.success(), "{printed}\n{}", looping.logs());
    for shot in ["fleet.png", "degraded.png", "phone.png"] {
        let size = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(size > 1000, "{shot}: {size} bytes");
    }
    if let Ok(keep) = std::env::var("EDC_KEEP_SCREENSHOTS") {
        for shot in ["fleet.png", "degraded.png", "phone.png"] {
            let _ = std::fs::copy(shots.join(shot), std::path::Path::new(&keep).join(shot));
        }
    }
}
