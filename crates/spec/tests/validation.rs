//! Every validation rule, one input file each, with the exact message and line:col as a snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

use ecs_delegate_spec::{load, Diagnostics};

fn render_diagnostics(d: &Diagnostics, dir: &Path) -> String {
    let prefix = format!("{}/", dir.display());
    d.to_string().replace(&prefix, "")
}

#[test]
fn every_invalid_file_is_refused_with_its_location() {
    insta::glob!("invalid/*.yaml", |path| {
        let dir = path.parent().unwrap();
        let errors = load(&[path]).expect_err("file should be invalid");
        insta::assert_snapshot!(render_diagnostics(&errors, dir));
    });
}

#[test]
fn examples_are_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let groups = load(&[&examples]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = groups
        .iter()
        .map(|g| g.group.metadata.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "ecs-delegate",
            "fargate-delegate",
            "spot-delegate",
            "firstgen-delegate",
            "prod-eu-delegate",
            "tasks-delegate"
        ]
    );
}

#[test]
fn duplicates_across_files_are_refused_and_the_set_applies_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dup-across-files");
    let errors = load(&[&dir]).expect_err("duplicate names across files");
    assert_eq!(
        render_diagnostics(&errors, &dir),
        "b.yaml:4:3: error: metadata.name: duplicate group name \"shared-name\" \
         (first defined at a.yaml:4:3)"
            .replace("a.yaml", &format!("{}/a.yaml", dir.display()))
            .replace(&format!("{}/", dir.display()), "")
    );
}

#[test]
fn a_directory_with_one_bad_file_is_invalid_as_a_whole() {
    let tmp = std::env::temp_dir().join(format!("spec-partial-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dup-across-files/a.yaml"),
    )
    .unwrap();
    std::fs::write(tmp.join("good.yaml"), &good).unwrap();
    std::fs::write(
        tmp.join("bad.yml"),
        good.replace("shared-name", "x")
            .replace("count: 1", "count: -1"),
    )
    .unwrap();
    std::fs::write(tmp.join("notes.txt"), "not yaml: [").unwrap();
    std::fs::create_dir_all(tmp.join(".github")).unwrap();
    std::fs::write(tmp.join(".github/ci.yaml"), "on: push").unwrap();
    let errors = load(&[&tmp]).expect_err("bad.yml is invalid");
    assert_eq!(
        render_diagnostics(&errors, &tmp),
        "bad.yml:7:3: error: spec.count: must be >= 0, got -1"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn missing_paths_are_reported() {
    let errors = load(&["/nonexistent/groups"]).expect_err("missing path");
    assert!(
        errors
            .to_string()
            .starts_with("/nonexistent/groups: error: cannot read:"),
        "{errors}"
    );
}

#[test]
fn empty_documents_and_comments_are_skipped() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dup-across-files/a.yaml"),
    )
    .unwrap();
    let (groups, problems) = ecs_delegate_spec::load_str(
        Path::new("x.yaml"),
        &format!("# header\n---\n---\n{text}---\n# trailer\n"),
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].origin(), "x.yaml:7:3");
}

#[test]
fn checked_in_schema_is_up_to_date() {
    // Editors load schema/delegategroup.schema.json through the examples' `$schema` line.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/delegategroup.schema.json");
    let generated = serde_json::to_string_pretty(&ecs_delegate_spec::json_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schema/delegategroup.schema.json is stale: run `make schema`"
    );
}
