//! Adopting a live service (`import --cluster C --service S`): the service and the task
//! definition it runs, as the JSON request documents `spec::import` reads. Pure.

use serde_json::{json, Value};
use spec::document::TaskDefinitionDocument;

use crate::observed::ObservedService;

/// Why a live service cannot be adopted.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// CodeDeploy or an external controller deploys it: UpdateService cannot drive it.
    #[error(
        "service {service} is deployed by the {controller} deployment controller, which \
         UpdateService cannot drive; only services of the ECS deployment controller can be adopted"
    )]
    DeploymentController {
        /// The service.
        service: String,
        /// CODE_DEPLOY or EXTERNAL.
        controller: String,
    },
    /// A document could not be expressed as JSON (they are plain data: it does not happen).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The task definition (with its ARN, whose region `spec::import` reads) and the service, in
/// ECS's request shape.
///
/// # Errors
/// A service of another deployment controller than ECS's.
pub fn live_documents(
    service: &ObservedService,
    cluster: &str,
    task_definition: &TaskDefinitionDocument,
) -> Result<(Value, Value), AdoptError> {
    if let Some(controller) = service
        .deployment_controller
        .as_deref()
        .filter(|c| *c != "ECS")
    {
        return Err(AdoptError::DeploymentController {
            service: service.name.clone(),
            controller: controller.to_owned(),
        });
    }
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
    if !service.capacity_provider_strategy.is_empty() {
        doc["capacityProviderStrategy"] =
            serde_json::to_value(&service.capacity_provider_strategy)?;
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
