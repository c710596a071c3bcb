//! The binary's offline commands, run as a user would: `validate` and `schema`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::path::Path;

use support::{assert_has, binary, repo};

#[test]
fn validate_accepts_the_examples() {
    let out = binary()
        .args(["validate", "examples"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "valid: 6 groups in 6 files\n"
    );
}

#[test]
fn validate_reports_every_error_with_its_location_and_exits_1() {
    let dir = repo().join("crates/spec/tests/invalid");
    let out = binary()
        .args([
            "validate",
            "several-errors-in-one-file.yaml",
            "unknown-field.yaml",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "several-errors-in-one-file.yaml:7:3: error: spec.count: must be >= 0, got -3",
            "several-errors-in-one-file.yaml:8:3: error: spec.launchType: FARGATE (which uses awsvpc) requires spec.network with at least one subnet",
            "several-errors-in-one-file.yaml:9:3: error: spec.hostname: ECS refuses a hostname with awsvpc networking (and so on FARGATE); remove it",
            "several-errors-in-one-file.yaml:10:15: error: spec.selectors[0]: \"a,b\" contains a comma; list each selector as its own item",
            "unknown-field.yaml:4:3: error: metadata.name: duplicate group name \"ecs-delegate\" (first defined at several-errors-in-one-file.yaml:4:3)",
            "unknown-field.yaml:8:3: error: spec.lauchType: unknown field `lauchType`",
            "unknown-field.yaml:16:5: error: spec.delegate.imag: unknown field `imag`",
            "7 errors; nothing was applied",
        ]
    );
}

#[test]
fn validate_needs_a_path() {
    let out = binary().arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}

#[test]
fn schema_is_a_json_schema_that_accepts_the_examples() {
    let out = binary().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["additionalProperties"], false);

    // Check it against the draft 2020-12 meta-schema and validate the examples (and refuse a
    // typo) with an independent implementation: Python's jsonschema, which the moto venv has.
    let python = support::venv().join("bin/python");
    let script = r#"
import glob, json, sys, yaml, jsonschema
schema = json.load(sys.stdin)
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
n = 0
for path in sorted(glob.glob("examples/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        v.validate(doc)
        n += 1
        doc["spec"]["cuont"] = 1
        assert not v.is_valid(doc), "typo accepted"
print(n)
"#;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .current_dir(repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run `make setup`)", python.display()));
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &out.stdout).unwrap();
    let result = child.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&result.stdout).trim(), "6");
    assert!(Path::new(&repo().join("schema/delegategroup.schema.json")).exists());
}

#[test]
fn the_makefile_finds_the_binary_where_cargo_target_dir_puts_it() {
    let elsewhere = std::env::temp_dir().join("edc-elsewhere");
    let out = std::process::Command::new("make")
        .args(["-n", "demo", "bench", "soak"])
        .current_dir(support::repo())
        .env("CARGO_TARGET_DIR", &elsewhere)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let debug = format!("{}/debug/ecs-delegate-controller", elsewhere.display());
    let release = format!("{}/release/ecs-delegate-controller", elsewhere.display());
    assert_has(&text, &format!("BIN={debug}"));
    assert_eq!(text.matches(&release).count(), 2, "bench and soak: {text}");
    assert!(!text.contains(" target/"), "{text}");
}

/// The demo's headings: `script` gives the shell a terminal.
fn demo_heading(terminal: bool, no_color: Option<&str>) -> String {
    let shell = ". scripts/steps.sh; step Status";
    let mut command = if terminal {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &format!("bash -c '{shell}'"), "/dev/null"]);
        c
    } else {
        let mut c = std::process::Command::new("bash");
        c.args(["-c", shell]);
        c
    };
    command.current_dir(support::repo()).env_remove("NO_COLOR");
    if let Some(v) = no_color {
        command.env("NO_COLOR", v);
    }
    let out = command.output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_demo_colours_a_terminal_only_and_never_with_no_color() {
    assert!(demo_heading(true, None).contains("\u{1b}[1m== Status"));
    let piped = demo_heading(false, None);
    assert!(
        piped.contains("== Status") && !piped.contains('\u{1b}'),
        "{piped:?}"
    );
    let plain = demo_heading(true, Some("1"));
    assert!(
        plain.contains("== Status") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
}

/// The files of issue 25 that froze `validate`: each is refused with its position and exit 1,
/// and the file's bytes are never echoed. The process is killed if it has not ended in 20 s,
/// which fails the test (the refusal itself takes milliseconds).
#[test]
fn validate_refuses_binary_files_at_once() {
    let dir = std::env::temp_dir().join(format!("edc-cli-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("nul.yaml", b"\0", "nul.yaml:1:1: error: a NUL byte, which YAML does not allow; is this a binary file?"),
        ("control.yaml", b"kind: \x01\x02", "control.yaml:1:7: error: a control character, which YAML does not allow; is this a binary file?"),
        ("bytes.yaml", b"kind: secret-\xff\xfe", "bytes.yaml:1:14: error: invalid UTF-8; is this a binary file?"),
        ("wide.yaml", b"\xff\xfek\x00i\x00n\x00d\x00", "wide.yaml:1:1: error: the file is UTF-16 (little-endian); save it as UTF-8"),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(dir.join(name), bytes).unwrap();
        let mut child = binary()
            .args(["validate", name])
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let ended = support::eventually(std::time::Duration::from_secs(20), || {
            child.try_wait().ok().flatten()
        });
        if ended.is_none() {
            let _ = child.kill();
            panic!("validate {name} did not end");
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [expected, "1 error; nothing was applied"],
            "{name}"
        );
        assert!(!stderr.contains("secret"), "the content is not echoed");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
