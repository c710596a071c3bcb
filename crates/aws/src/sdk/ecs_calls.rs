//! The ECS calls through aws-sdk-ecs: one builder each, answers read by `response`.

use aws_sdk_ecs::types as ecs;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};

use client::api::{Page, RunTaskOutput, TaskFilter};
use client::call;
use client::{AwsError, ErrorKind, Operation, Result};

use super::{no_retries, SdkApi};
use crate::error::from_sdk;
use crate::{request, response};

impl SdkApi {
    pub(super) async fn describe_services(
        &self,
        call::DescribeServices { cluster, names }: call::DescribeServices,
    ) -> Result<Vec<ObservedService>> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.to_vec()))
            .include(ecs::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeServices, e))?;
        Ok(out
            .services()
            .iter()
            .map(response::observed_service)
            .collect())
    }

    pub(super) async fn describe_task_definition(
        &self,
        call::DescribeTaskDefinition { task_definition }: call::DescribeTaskDefinition,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let result = self
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .include(ecs::TaskDefinitionField::Tags)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .task_definition()
                .map(|td| response::observed_task_definition(td, out.tags.as_deref()))),
            Err(e) => {
                let error = from_sdk(Operation::DescribeTaskDefinition, e);
                // "Unable to describe task definition" (no such family or revision) is
                // classified NotFound; any other error is one (client::error::classify).
                if error.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    pub(super) async fn register_task_definition(
        &self,
        call::RegisterTaskDefinition { document, tags }: call::RegisterTaskDefinition,
    ) -> Result<ObservedTaskDefinition> {
        let out = request::register_request(&self.ecs, &document, &tags)?
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| from_sdk(Operation::RegisterTaskDefinition, e))?;
        let td = out.task_definition().ok_or_else(|| {
            AwsError::invalid(
                Operation::RegisterTaskDefinition,
                "the response has no task definition",
            )
        })?;
        Ok(response::observed_task_definition(td, out.tags.as_deref()))
    }

    pub(super) async fn create_service(
        &self,
        call::CreateService {
            document,
            task_definition,
            tags,
            client_token,
        }: call::CreateService,
    ) -> Result<ObservedService> {
        let fields = request::service_fields(&document)?;
        let out = self
            .ecs
            .create_service()
            .client_token(client_token)
            .cluster(&document.cluster)
            .service_name(&document.service_name)
            .task_definition(task_definition)
            .desired_count(document.desired_count)
            .launch_type(ecs::LaunchType::from(document.launch_type.as_str()))
            .scheduling_strategy(ecs::SchedulingStrategy::from(
                document.scheduling_strategy.as_str(),
            ))
            .set_placement_strategy(Some(fields.placement).filter(|p| !p.is_empty()))
            .set_network_configuration(fields.network)
            .deployment_configuration(fields.deployment)
            .enable_execute_command(document.enable_execute_command)
            .propagate_tags(ecs::PropagateTags::from(document.propagate_tags.as_str()))
            .set_tags(Some(request::tags(&tags)))
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| from_sdk(Operation::CreateService, e))?;
        out.service()
            .map(response::observed_service)
            .ok_or_else(|| {
                AwsError::invalid(Operation::CreateService, "the response has no service")
            })
    }

    pub(super) async fn update_service(
        &self,
        call::UpdateService {
            document,
            task_definition,
        }: call::UpdateService,
    ) -> Result<ObservedService> {
        let fields = request::service_fields(&document)?;
        let out = self
            .ecs
            .update_service()
            .cluster(&document.cluster)
            .service(&document.service_name)
            .task_definition(task_definition)
            .desired_count(document.desired_count)
            .set_placement_strategy(Some(fields.placement).filter(|p| !p.is_empty()))
            .set_network_configuration(fields.network)
            .deployment_configuration(fields.deployment)
            .enable_execute_command(document.enable_execute_command)
            .propagate_tags(ecs::PropagateTags::from(document.propagate_tags.as_str()))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::UpdateService, e))?;
        out.service()
            .map(response::observed_service)
            .ok_or_else(|| {
                AwsError::invalid(Operation::UpdateService, "the response has no service")
            })
    }

    pub(super) async fn tag_resource(
        &self,
        call::TagResource { arn, tags }: call::TagResource,
    ) -> Result<()> {
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(request::tags(&tags)))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::TagResource, e))?;
        Ok(())
    }

    pub(super) async fn untag_resource(
        &self,
        call::UntagResource { arn, keys }: call::UntagResource,
    ) -> Result<()> {
        self.ecs
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::UntagResource, e))?;
        Ok(())
    }

    pub(super) async fn list_tasks_page(
        &self,
        call::ListTasks {
            cluster,
            filter,
            next_token,
        }: call::ListTasks,
    ) -> Result<Page> {
        let request = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .max_results(100)
            .set_next_token(next_token);
        let request = match filter {
            TaskFilter::StartedBy(started_by) => request.started_by(started_by),
            TaskFilter::Family {
                family,
                desired_status,
            } => request
                .family(family)
                .desired_status(ecs::DesiredStatus::from(
                    desired_status.task_status().as_str(),
                )),
            TaskFilter::Service {
                service_name,
                desired_status,
            } => request
                .service_name(service_name)
                .desired_status(ecs::DesiredStatus::from(
                    desired_status.task_status().as_str(),
                )),
        };
        let page = request
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListTasks, e))?;
        Ok(Page {
            items: page.task_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    pub(super) async fn describe_tasks(
        &self,
        call::DescribeTasks { cluster, arns }: call::DescribeTasks,
    ) -> Result<Vec<ObservedTask>> {
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns.to_vec()))
            .include(ecs::TaskField::Tags)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeTasks, e))?;
        Ok(out.tasks().iter().map(response::observed_task).collect())
    }

    pub(super) async fn run_task(
        &self,
        call::RunTask {
            document,
            task_definition,
            count,
            tags,
            client_token,
        }: call::RunTask,
    ) -> Result<RunTaskOutput> {
        let network = document
            .network_configuration
            .as_ref()
            .map(request::network)
            .transpose()?;
        let placement = request::placement(&document.placement_strategy);
        let out = self
            .ecs
            .run_task()
            .client_token(client_token)
            .cluster(&document.cluster)
            .task_definition(task_definition)
            .count(count)
            .launch_type(ecs::LaunchType::from(document.launch_type.as_str()))
            .started_by(&document.started_by)
            .set_placement_strategy(Some(placement).filter(|p| !p.is_empty()))
            .set_network_configuration(network)
            .enable_execute_command(document.enable_execute_command)
            .set_tags(Some(request::tags(&tags)))
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| from_sdk(Operation::RunTask, e))?;
        Ok(RunTaskOutput {
            tasks: out.tasks().iter().map(response::observed_task).collect(),
            failures: out
                .failures()
                .iter()
                .map(|f| f.reason().unwrap_or("unknown").to_owned())
                .collect(),
        })
    }

    pub(super) async fn stop_task(
        &self,
        call::StopTask {
            cluster,
            arn,
            reason,
        }: call::StopTask,
    ) -> Result<()> {
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(arn)
            .reason(reason)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::StopTask, e))?;
        Ok(())
    }

    pub(super) async fn list_clusters_page(
        &self,
        call::ListClusters { next_token }: call::ListClusters,
    ) -> Result<Page> {
        let page = self
            .ecs
            .list_clusters()
            .max_results(100)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListClusters, e))?;
        Ok(Page {
            items: page.cluster_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    pub(super) async fn list_services_page(
        &self,
        call::ListServices {
            cluster,
            next_token,
        }: call::ListServices,
    ) -> Result<Page> {
        let page = self
            .ecs
            .list_services()
            .cluster(cluster)
            // The most ListServices returns per page (its default is 10).
            .max_results(100)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListServices, e))?;
        Ok(Page {
            items: page.service_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    pub(super) async fn scale_service(
        &self,
        call::ScaleService {
            cluster,
            service,
            count,
        }: call::ScaleService,
    ) -> Result<()> {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(count)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::UpdateService, e))?;
        Ok(())
    }

    pub(super) async fn delete_service(
        &self,
        call::DeleteService { cluster, service }: call::DeleteService,
    ) -> Result<()> {
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(service)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DeleteService, e))?;
        Ok(())
    }

    pub(super) async fn list_container_instances_page(
        &self,
        call::ListContainerInstances {
            cluster,
            next_token,
        }: call::ListContainerInstances,
    ) -> Result<Page> {
        let page = self
            .ecs
            .list_container_instances()
            .cluster(cluster)
            .status(ecs::ContainerInstanceStatus::Active)
            .max_results(100)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::ListContainerInstances, e))?;
        Ok(Page {
            items: page.container_instance_arns().to_vec(),
            next_token: page.next_token().map(str::to_owned),
        })
    }

    pub(super) async fn describe_container_instances(
        &self,
        call::DescribeContainerInstances { cluster, arns }: call::DescribeContainerInstances,
    ) -> Result<Vec<InstanceCapacity>> {
        let out = self
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeContainerInstances, e))?;
        Ok(out
            .container_instances()
            .iter()
            .map(response::instance_capacity)
            .collect())
    }
}
