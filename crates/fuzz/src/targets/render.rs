//! A valid group rendered to its ECS documents: rendering never fails on what validation
//! accepted, and the same group renders to the same documents and spec-hash.

use std::path::Path;

/// Renders every group of `data` that validates.
pub fn run(data: &[u8]) {
    let (groups, problems) = spec::load_bytes(Path::new("fuzz.yaml"), data);
    if !problems.is_empty() {
        return;
    }
    for loaded in groups {
        let group = loaded.group;
        let first = spec::render(&group, "us-east-1");
        let second = spec::render(&group, "us-east-1");
        match (first, second) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.spec_hash, b.spec_hash, "the spec-hash is deterministic");
                let json = serde_json::to_string(&a.task_definition).unwrap_or_default();
                assert!(!json.is_empty(), "the task definition serializes");
                assert!(plan::DesiredGroup::new(group, "us-east-1").is_ok());
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("rendering the same group twice gave different results"),
        }
    }
}
