//! The fake's ECS calls of services, task definitions, tags and clusters: each one's effect on
//! the account, after `FakeAws::call` logged it.

use plan::{
    ObservedService, ObservedTaskDefinition, ServiceMember, ServiceStatus, TaskDefinitionStatus,
};
use spec::render::TAG_SPEC_HASH;

use super::{not_found, page_of, FakeAws, State, ACCOUNT};
use crate::api::{DescribedServices, Page};
use crate::call;
use crate::error::{AwsError, ErrorKind, Result};
use crate::operation::Operation;

impl FakeAws {
    pub(super) fn describe_services(
        &self,
        call::DescribeServices { cluster, names }: &call::DescribeServices,
    ) -> Result<DescribedServices> {
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::DescribeServices, region, cluster)?;
        if names.len() > 10 {
            return Err(AwsError::invalid(
                Operation::DescribeServices,
                "at most 10 services",
            ));
        }
        let state = self.state();
        let services = names
            .iter()
            .filter_map(|n| {
                state
                    .services
                    .get(&(region.into(), cluster.clone(), n.clone()))
                    .cloned()
            })
            .collect();
        Ok(DescribedServices {
            services,
            failures: Vec::new(),
        })
    }

    pub(super) fn describe_task_definition(
        &self,
        call::DescribeTaskDefinition { task_definition }: &call::DescribeTaskDefinition,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let region = self.region.as_str();
        let state = self.state();
        let all = state.revisions.iter().filter(|((r, _), _)| r == region);
        let found = if task_definition.contains(':') {
            let wanted = task_definition
                .rsplit_once("task-definition/")
                .map_or(task_definition.as_str(), |(_, rest)| rest);
            all.flat_map(|(_, list)| list)
                .find(|r| format!("{}:{}", r.family, r.revision) == wanted)
                .cloned()
        } else {
            state
                .revisions
                .get(&(region.into(), task_definition.into()))
                .and_then(|list| {
                    list.iter()
                        .rev()
                        .find(|r| r.status == TaskDefinitionStatus::Active)
                })
                .cloned()
        };
        Ok(found)
    }

    pub(super) fn register_task_definition(
        &self,
        call::RegisterTaskDefinition { document, tags }: &call::RegisterTaskDefinition,
    ) -> Result<ObservedTaskDefinition> {
        let region = self.region.as_str();
        let mut state = self.state();
        let list = state
            .revisions
            .entry((region.into(), document.family.clone()))
            .or_default();
        let revision = i32::try_from(list.len() + 1).unwrap_or(i32::MAX);
        let size = (
            document
                .cpu
                .as_deref()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            document
                .memory
                .as_deref()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0),
        );
        let td = ObservedTaskDefinition {
            arn: format!(
                "arn:aws:ecs:{region}:{ACCOUNT}:task-definition/{}:{revision}",
                document.family
            ),
            family: document.family.clone(),
            revision,
            status: TaskDefinitionStatus::Active,
            spec_hash: tags
                .iter()
                .find(|t| t.key == TAG_SPEC_HASH)
                .map(|t| t.value.clone()),
            document_hash: Some(spec::hash::spec_hash(document)),
            unsupported: Vec::new(),
            document: Some(std::sync::Arc::new(document.clone())),
        };
        list.push(td.clone());
        state.sizes.insert(td.arn.clone(), size);
        Ok(td)
    }

    pub(super) fn create_service(
        &self,
        call::CreateService {
            document,
            task_definition,
            tags,
            client_token,
        }: &call::CreateService,
    ) -> Result<ObservedService> {
        if let Some(first) = self.state().created.get(client_token).cloned() {
            return Ok(first);
        }
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::CreateService, region, &document.cluster)?;
        let key = (
            region.to_owned(),
            cluster.clone(),
            document.service_name.clone(),
        );
        let mut state = self.state();
        if state.services.get(&key).is_some_and(|s| s.is_active()) {
            return Err(AwsError {
                kind: ErrorKind::Invalid,
                operation: Operation::CreateService,
                code: Some("InvalidParameterException".into()),
                message: "Creation of service was not idempotent.".into(),
            });
        }
        let service = ObservedService {
            name: document.service_name.clone(),
            arn: format!(
                "arn:aws:ecs:{region}:{ACCOUNT}:service/{cluster}/{}",
                document.service_name
            ),
            status: ServiceStatus::Active,
            desired_count: document.desired_count,
            pending_count: document.desired_count,
            task_definition: task_definition.into(),
            // Neither: the cluster's default strategy, which the fake's clusters do not have
            // (ECS then uses EC2).
            launch_type: document.launch_type.clone().or_else(|| {
                let none = document.capacity_provider_strategy.is_empty();
                none.then(|| "EC2".into())
            }),
            capacity_provider_strategy: document.capacity_provider_strategy.clone(),
            scheduling_strategy: Some(document.scheduling_strategy.clone()),
            network: document
                .network_configuration
                .as_ref()
                .map(|n| n.awsvpc_configuration.clone()),
            deployment_configuration: Some(document.deployment_configuration.clone()),
            placement_strategy: Some(document.placement_strategy.clone()),
            enable_execute_command: document.enable_execute_command,
            propagate_tags: Some(document.propagate_tags.clone()),
            tags: tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            ..ObservedService::default()
        };
        state.services.insert(key, service.clone());
        state
            .created
            .insert(client_token.to_owned(), service.clone());
        drop(state);
        Ok(service)
    }

    pub(super) fn update_service(
        &self,
        call::UpdateService {
            document,
            task_definition,
            members,
            kept,
        }: &call::UpdateService,
    ) -> Result<ObservedService> {
        let mut state = self.state();
        let service = self.active_service(
            &mut state,
            Operation::UpdateService,
            &document.cluster,
            &document.service_name,
        )?;
        // Only the members sent change, as on ECS.
        for member in members {
            match member {
                ServiceMember::DesiredCount => service.desired_count = document.desired_count,
                ServiceMember::TaskDefinition => service.task_definition = task_definition.into(),
                ServiceMember::NetworkConfiguration => {
                    let network = document.network_configuration.as_ref();
                    service.network = network.map(|n| n.awsvpc_configuration.clone());
                }
                ServiceMember::DeploymentConfiguration => {
                    let wanted = document.deployment_configuration.clone();
                    service.deployment_configuration = Some(wanted);
                    service.deployment_kept = Some(Box::new(kept.clone()));
                }
                ServiceMember::PlacementStrategy => {
                    service.placement_strategy = Some(document.placement_strategy.clone());
                }
                ServiceMember::EnableExecuteCommand => {
                    service.enable_execute_command = document.enable_execute_command;
                }
                ServiceMember::PropagateTags => {
                    service.propagate_tags = Some(document.propagate_tags.clone());
                }
                ServiceMember::CapacityProviderStrategy => {
                    let strategy = document.capacity_provider_strategy.clone();
                    service.launch_type = None;
                    service.capacity_provider_strategy = strategy;
                }
                ServiceMember::ForceNewDeployment => {}
            }
        }
        Ok(service.clone())
    }

    pub(super) fn tag_resource(
        &self,
        call::TagResource { arn, tags }: &call::TagResource,
    ) -> Result<()> {
        self.edit_tags(Operation::TagResource, arn, |have| {
            for t in tags {
                have.insert(t.key.clone(), t.value.clone());
            }
        })
    }

    pub(super) fn untag_resource(
        &self,
        call::UntagResource { arn, keys }: &call::UntagResource,
    ) -> Result<()> {
        self.edit_tags(Operation::UntagResource, arn, |have| {
            for key in keys {
                have.remove(key);
            }
        })
    }

    /// Changes the tags of the service `arn` (the only resource the controller tags).
    fn edit_tags(
        &self,
        operation: Operation,
        arn: &str,
        edit: impl FnOnce(&mut std::collections::BTreeMap<String, String>),
    ) -> Result<()> {
        let mut state = self.state();
        let service = state
            .services
            .values_mut()
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found(operation, format!("{arn} not found")))?;
        edit(&mut service.tags);
        Ok(())
    }

    pub(super) fn list_clusters_page(
        &self,
        call::ListClusters { next_token }: &call::ListClusters,
    ) -> Result<Page> {
        let region = self.region.as_str();
        let all = self
            .state()
            .clusters
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, c)| format!("arn:aws:ecs:{region}:{ACCOUNT}:cluster/{c}"))
            .collect();
        Ok(page_of(all, next_token.as_deref()))
    }

    pub(super) fn list_services_page(
        &self,
        call::ListServices {
            cluster,
            next_token,
        }: &call::ListServices,
    ) -> Result<Page> {
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::ListServices, region, cluster)?;
        let all = self
            .state()
            .services
            .iter()
            .filter(|((r, c, _), s)| {
                *r == region && *c == cluster && s.status != ServiceStatus::Inactive
            })
            .map(|(_, s)| s.arn.clone())
            .collect();
        Ok(page_of(all, next_token.as_deref()))
    }

    pub(super) fn scale_service(
        &self,
        call::ScaleService {
            cluster,
            service,
            count,
        }: &call::ScaleService,
    ) -> Result<()> {
        let mut state = self.state();
        let s = self.active_service(&mut state, Operation::UpdateService, cluster, service)?;
        s.desired_count = *count;
        Ok(())
    }

    pub(super) fn delete_service(
        &self,
        call::DeleteService { cluster, service }: &call::DeleteService,
    ) -> Result<()> {
        let mut state = self.state();
        let s = self.active_service(&mut state, Operation::DeleteService, cluster, service)?;
        if s.desired_count > 0 {
            return Err(AwsError::invalid(
                Operation::DeleteService,
                "The service cannot be stopped while it is scaled above 0.",
            ));
        }
        s.status = ServiceStatus::Inactive;
        Ok(())
    }

    /// Service `name` of `cluster` in `state`, which must be ACTIVE, as ECS answers UpdateService
    /// and DeleteService: ServiceNotFoundException when there is none, ServiceNotActiveException
    /// when it is draining or deleted.
    fn active_service<'s>(
        &self,
        state: &'s mut State,
        operation: Operation,
        cluster: &str,
        name: &str,
    ) -> Result<&'s mut ObservedService> {
        let region = self.region.as_str();
        let cluster = state.check_cluster(operation, region, cluster)?;
        let key = (region.to_owned(), cluster, name.to_owned());
        match state.services.get_mut(&key) {
            None => Err(AwsError::with_code(
                operation,
                Some("ServiceNotFoundException".into()),
                "Service not found.",
            )),
            Some(s) if !s.is_active() => Err(AwsError::with_code(
                operation,
                Some("ServiceNotActiveException".into()),
                "Service was not ACTIVE.",
            )),
            Some(s) => Ok(s),
        }
    }
}
