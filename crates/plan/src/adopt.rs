//! Adopting a live service (`import --cluster C --service S`): the service and the task
//! definition it runs, as the JSON request documents `spec::import` reads. Pure.

use serde_json::{json, Value};
use spec::document::TaskDefinitionDocument;

use crate::observed::ObservedService;

/// The task definition (with its ARN, whose region `spec::import` reads) and the service, in
/// ECS's request shape.
///
/// # Errors
/// When a document cannot be expressed as JSON (it always can: they are plain data).
pub fn live_documents(
    service: &ObservedService,
    cluster: &str,
    task_definition: &TaskDefinitionDocument,
) -> Result<(Value, Value), serde_json::Error> {
    let mut td = serde_json::to_value(task_definition)?;
    td["taskDefinitionArn"] = Value::String(service.task_definition.clone());
    let mut doc = json!({
        "serviceName": service.name,
        "cluster": cluster,
        "desiredCount": service.desired_count,
        "enableExecuteCommand": service.enable_execute_command,
    });
    if let Some(launch_type) = &service.launch_type {
        doc["launchType"] = launch_type.clone().into();
    }
    if let Some(network) = &service.network {
        doc["networkConfiguration"] = json!({ "awsvpcConfiguration": network });
    }
    if let Some(deployment) = &service.deployment_configuration {
        doc["deploymentConfiguration"] = serde_json::to_value(deployment)?;
    }
    if let Some(propagate) = &service.propagate_tags {
        doc["propagateTags"] = propagate.clone().into();
    }
    Ok((td, doc))
}
