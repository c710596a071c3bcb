//! The documents each example becomes, checked in as snapshots and reviewed against Harness's
//! ecs-task-spec.json and service-spec-for-awsvpc-mode.json.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

use ecs_delegate_spec::{load, render};

#[test]
fn examples_render_to_ecs_documents() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for loaded in load(&[&examples]).unwrap_or_else(|e| panic!("{e}")) {
        let rendered = render(&loaded.group, "us-east-1").unwrap();
        let document = serde_json::json!({
            "registerTaskDefinition": rendered.task_definition,
            "createService": rendered.service,
            "runTask": rendered.run_task,
            "tags": rendered.tags,
            "specHash": rendered.spec_hash,
        });
        insta::assert_json_snapshot!(loaded.group.metadata.name.clone(), document);
    }
}
