//! The ECS calls through aws-sdk-ecs: one builder each, answers read by `response`.

use aws_sdk_ecs::types as ecs;
use plan::{
    InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition, ServiceMember,
};

use client::api::{
    DescribedServices, Page, RunTaskOutput, ServiceDeploymentBrief, ServiceDeploymentDetail,
    ServiceRevision, TaskFilter,
};
use client::call;
use client::{Operation, Result};

use super::{no_retries, SdkApi};
use crate::error::{answer, found, lacking};
use crate::{request, response};

impl SdkApi {
    pub(super) async fn describe_services(
        &self,
        call::DescribeServices { cluster, names }: call::DescribeServices,
    ) -> Result<DescribedServices> {
        let request = self.ecs.describe_services().cluster(cluster);
        let request = request
            .set_services(Some(names.to_vec()))
            .include(ecs::ServiceField::Tags);
        let out = answer(Operation::DescribeServices, request.send()).await?;
        Ok(DescribedServices {
            services: out
                .services()
                .iter()
                .map(response::observed_service)
                .collect(),
            failures: out
                .failures()
                .iter()
                .map(response::describe_failure)
                .filter(|f| !f.is_missing())
                .collect(),
        })
    }

    pub(super) async fn describe_task_definition(
        &self,
        call::DescribeTaskDefinition { task_definition }: call::DescribeTaskDefinition,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let request = self.ecs.describe_task_definition();
        let request = request
            .task_definition(task_definition)
            .include(ecs::TaskDefinitionField::Tags);
        // "Unable to describe task definition" (no such family or revision) is classified
        // NotFound (client::error::classify): no task definition, not an error.
        let out = found(answer(Operation::DescribeTaskDefinition, request.send()).await)?;
        Ok(out.and_then(|out| {
            out.task_definition()
                .map(|td| response::observed_task_definition(td, out.tags.as_deref()))
        }))
    }

    pub(super) async fn register_task_definition(
        &self,
        call::RegisterTaskDefinition { document, tags }: call::RegisterTaskDefinition,
    ) -> Result<ObservedTaskDefinition> {
        let request = request::register_request(&self.ecs, &document, &tags)?;
        let request = request.customize().config_override(no_retries());
        let out = answer(Operation::RegisterTaskDefinition, request.send()).await?;
        let td = out
            .task_definition()
            .ok_or_else(|| lacking(Operation::RegisterTaskDefinition, "task definition"))?;
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
        let request = self
            .ecs
            .create_service()
            .client_token(client_token)
            .cluster(&document.cluster)
            .service_name(&document.service_name)
            .task_definition(task_definition)
            .desired_count(document.desired_count)
            .set_launch_type(request::launch_type(document.launch_type.as_deref()))
            .set_capacity_provider_strategy(Some(fields.capacity).filter(|c| !c.is_empty()))
            .scheduling_strategy(ecs::SchedulingStrategy::from(
                document.scheduling_strategy.as_str(),
            ))
            .set_placement_strategy(Some(fields.placement).filter(|p| !p.is_empty()))
            .set_network_configuration(fields.network)
            .deployment_configuration(fields.deployment)
            .enable_execute_command(document.enable_execute_command)
            .propagate_tags(ecs::PropagateTags::from(document.propagate_tags.as_str()))
            .set_tags(Some(request::tags(&tags)));
        let request = request.customize().config_override(no_retries());
        let out = answer(Operation::CreateService, request.send()).await?;
        out.service()
            .map(response::observed_service)
            .ok_or_else(|| lacking(Operation::CreateService, "service"))
    }

    pub(super) async fn update_service(
        &self,
        call::UpdateService {
            document,
            task_definition,
            members,
            kept,
        }: call::UpdateService,
    ) -> Result<ObservedService> {
        let fields = request::service_fields(&document)?;
        let mut request = self
            .ecs
            .update_service()
            .cluster(&document.cluster)
            .service(&document.service_name);
        // Only the members that change: taskDefinition and networkConfiguration start a new
        // deployment whenever they are sent (plan::update).
        for member in members {
            request = match member {
                ServiceMember::DesiredCount => request.desired_count(document.desired_count),
                ServiceMember::TaskDefinition => request.task_definition(&task_definition),
                ServiceMember::NetworkConfiguration => {
                    request.set_network_configuration(fields.network.clone())
                }
                ServiceMember::DeploymentConfiguration => request.deployment_configuration(
                    request::keep_deployment(fields.deployment.clone(), &kept)?,
                ),
                ServiceMember::PlacementStrategy => {
                    request.set_placement_strategy(Some(fields.placement.clone()))
                }
                ServiceMember::EnableExecuteCommand => {
                    request.enable_execute_command(document.enable_execute_command)
                }
                ServiceMember::PropagateTags => request
                    .propagate_tags(ecs::PropagateTags::from(document.propagate_tags.as_str())),
                ServiceMember::CapacityProviderStrategy => {
                    request.set_capacity_provider_strategy(Some(fields.capacity.clone()))
                }
                ServiceMember::ForceNewDeployment => request.force_new_deployment(true),
            };
        }
        let out = answer(Operation::UpdateService, request.send()).await?;
        out.service()
            .map(response::observed_service)
            .ok_or_else(|| lacking(Operation::UpdateService, "service"))
    }

    pub(super) async fn tag_resource(
        &self,
        call::TagResource { arn, tags }: call::TagResource,
    ) -> Result<()> {
        let request = self.ecs.tag_resource().resource_arn(arn);
        let request = request.set_tags(Some(request::tags(&tags)));
        answer(Operation::TagResource, request.send()).await?;
        Ok(())
    }

    pub(super) async fn untag_resource(
        &self,
        call::UntagResource { arn, keys }: call::UntagResource,
    ) -> Result<()> {
        let request = self.ecs.untag_resource().resource_arn(arn);
        let request = request.set_tag_keys(Some(keys.to_vec()));
        answer(Operation::UntagResource, request.send()).await?;
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
        let request = self.ecs.list_tasks().cluster(cluster);
        let request = request.max_results(100).set_next_token(next_token);
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
        let page = answer(Operation::ListTasks, request.send()).await?;
        Ok(Page::new(page.task_arns(), page.next_token()))
    }

    pub(super) async fn describe_tasks(
        &self,
        call::DescribeTasks { cluster, arns }: call::DescribeTasks,
    ) -> Result<Vec<ObservedTask>> {
        let request = self.ecs.describe_tasks().cluster(cluster);
        let request = request
            .set_tasks(Some(arns.to_vec()))
            .include(ecs::TaskField::Tags);
        let out = answer(Operation::DescribeTasks, request.send()).await?;
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
        let request = self
            .ecs
            .run_task()
            .client_token(client_token)
            .cluster(&document.cluster)
            .task_definition(task_definition)
            .count(count)
            .set_launch_type(request::launch_type(document.launch_type.as_deref()))
            .set_capacity_provider_strategy(
                Some(request::capacity_strategy(
                    &document.capacity_provider_strategy,
                )?)
                .filter(|c| !c.is_empty()),
            )
            .started_by(&document.started_by)
            .set_placement_strategy(Some(placement).filter(|p| !p.is_empty()))
            .set_network_configuration(network)
            .enable_execute_command(document.enable_execute_command)
            .set_tags(Some(request::tags(&tags)));
        let request = request.customize().config_override(no_retries());
        let out = answer(Operation::RunTask, request.send()).await?;
        let failures = out.failures().iter();
        Ok(RunTaskOutput {
            tasks: out.tasks().iter().map(response::observed_task).collect(),
            failures: failures
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
        let request = self.ecs.stop_task().cluster(cluster);
        let request = request.task(arn).reason(reason);
        answer(Operation::StopTask, request.send()).await?;
        Ok(())
    }

    pub(super) async fn list_clusters_page(
        &self,
        call::ListClusters { next_token }: call::ListClusters,
    ) -> Result<Page> {
        let request = self.ecs.list_clusters().max_results(100);
        let request = request.set_next_token(next_token);
        let page = answer(Operation::ListClusters, request.send()).await?;
        Ok(Page::new(page.cluster_arns(), page.next_token()))
    }

    pub(super) async fn list_services_page(
        &self,
        call::ListServices {
            cluster,
            next_token,
        }: call::ListServices,
    ) -> Result<Page> {
        // 100 is the most ListServices returns per page (its default is 10).
        let request = self.ecs.list_services().cluster(cluster).max_results(100);
        let request = request.set_next_token(next_token);
        let page = answer(Operation::ListServices, request.send()).await?;
        Ok(Page::new(page.service_arns(), page.next_token()))
    }

    pub(super) async fn scale_service(
        &self,
        call::ScaleService {
            cluster,
            service,
            count,
        }: call::ScaleService,
    ) -> Result<()> {
        let request = self.ecs.update_service().cluster(cluster);
        let request = request.service(service).desired_count(count);
        answer(Operation::UpdateService, request.send()).await?;
        Ok(())
    }

    pub(super) async fn delete_service(
        &self,
        call::DeleteService { cluster, service }: call::DeleteService,
    ) -> Result<()> {
        let request = self.ecs.delete_service().cluster(cluster).service(service);
        answer(Operation::DeleteService, request.send()).await?;
        Ok(())
    }

    pub(super) async fn list_container_instances_page(
        &self,
        call::ListContainerInstances {
            cluster,
            next_token,
        }: call::ListContainerInstances,
    ) -> Result<Page> {
        let request = self.ecs.list_container_instances().cluster(cluster);
        let request = request
            .status(ecs::ContainerInstanceStatus::Active)
            .max_results(100)
            .set_next_token(next_token);
        let page = answer(Operation::ListContainerInstances, request.send()).await?;
        Ok(Page::new(page.container_instance_arns(), page.next_token()))
    }

    pub(super) async fn describe_container_instances(
        &self,
        call::DescribeContainerInstances { cluster, arns }: call::DescribeContainerInstances,
    ) -> Result<Vec<InstanceCapacity>> {
        let request = self.ecs.describe_container_instances().cluster(cluster);
        let request = request.set_container_instances(Some(arns.to_vec()));
        let out = answer(Operation::DescribeContainerInstances, request.send()).await?;
        let instances = out.container_instances().iter();
        Ok(instances.map(response::instance_capacity).collect())
    }

    pub(super) async fn list_service_deployments(
        &self,
        call::ListServiceDeployments {
            cluster,
            service,
            statuses,
        }: call::ListServiceDeployments,
    ) -> Result<Vec<ServiceDeploymentBrief>> {
        let statuses = statuses
            .iter()
            .map(|s| ecs::ServiceDeploymentStatus::from(s.as_str()));
        let request = self.ecs.list_service_deployments().cluster(cluster);
        let request = request
            .service(service)
            .set_status(Some(statuses.collect()));
        let out = answer(Operation::ListServiceDeployments, request.send()).await?;
        let brief = |d: &ecs::ServiceDeploymentBrief| ServiceDeploymentBrief {
            arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
            status: d
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            created_at: d.created_at().map(|t| t.secs()),
        };
        Ok(out.service_deployments().iter().map(brief).collect())
    }

    pub(super) async fn describe_service_deployments(
        &self,
        call::DescribeServiceDeployments { arns }: call::DescribeServiceDeployments,
    ) -> Result<Vec<ServiceDeploymentDetail>> {
        let request = self.ecs.describe_service_deployments();
        let request = request.set_service_deployment_arns(Some(arns));
        let out = answer(Operation::DescribeServiceDeployments, request.send()).await?;
        let detail = |d: &ecs::ServiceDeployment| ServiceDeploymentDetail {
            arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
            target_revision: d
                .target_service_revision()
                .and_then(|r| r.arn())
                .map(str::to_owned),
            rollback_revision: d
                .rollback()
                .and_then(|r| r.service_revision_arn())
                .map(str::to_owned),
        };
        Ok(out.service_deployments().iter().map(detail).collect())
    }

    pub(super) async fn describe_service_revisions(
        &self,
        call::DescribeServiceRevisions { arns }: call::DescribeServiceRevisions,
    ) -> Result<Vec<ServiceRevision>> {
        let request = self.ecs.describe_service_revisions();
        let request = request.set_service_revision_arns(Some(arns));
        let out = answer(Operation::DescribeServiceRevisions, request.send()).await?;
        let revision = |r: &ecs::ServiceRevision| ServiceRevision {
            arn: r.service_revision_arn().unwrap_or_default().to_owned(),
            task_definition: r.task_definition().unwrap_or_default().to_owned(),
        };
        Ok(out.service_revisions().iter().map(revision).collect())
    }
}
