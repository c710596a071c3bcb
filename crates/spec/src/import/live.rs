//! A live service's documents reproduced exactly (`import --cluster --service`).

use super::*;

/// Adds to `taskDefinitionOverrides` what the group's fields cannot express, until the group
/// renders `live` exactly.
pub(super) fn reproduce_exactly(
    group: &mut DelegateGroup,
    live: &Value,
) -> Result<(), ImportError> {
    let region = live_region(live);
    let rendered = render(group, &region).map_err(|e| ImportError(e.to_string()))?;
    let rendered =
        serde_json::to_value(&rendered.task_definition).map_err(|e| ImportError(e.to_string()))?;
    let mut live = live.clone();
    if let Value::Object(fields) = &mut live {
        fields.remove("taskDefinitionArn");
    }
    let wanted: crate::document::TaskDefinitionDocument =
        serde_json::from_value(live).map_err(|e| {
            ImportError(format!(
                "the live task definition cannot be represented: {e}"
            ))
        })?;
    let wanted = serde_json::to_value(&wanted).map_err(|e| ImportError(e.to_string()))?;
    if let Some(Value::Object(patch)) = merge_diff(&rendered, &wanted) {
        // Overlay, not merge: the patch's nulls (deletions) must stay in the overrides.
        let overrides = group
            .spec
            .task_definition_overrides
            .get_or_insert_with(Map::new);
        overrides.extend(patch);
    }
    let again = render(group, &region).map_err(|e| ImportError(e.to_string()))?;
    let again =
        serde_json::to_value(&again.task_definition).map_err(|e| ImportError(e.to_string()))?;
    if let Some(difference) = merge_diff(&again, &wanted) {
        return Err(ImportError(format!(
            "the imported group does not reproduce the live task definition; still differs: {difference}"
        )));
    }
    Ok(())
}

/// The region of a live task definition's ARN (the awslogs region defaults to it).
pub(super) fn live_region(td: &Value) -> String {
    text(td, "taskDefinitionArn")
        .and_then(crate::arn::region)
        .unwrap_or("us-east-1")
        .to_owned()
}
