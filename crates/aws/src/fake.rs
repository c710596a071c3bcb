//! An in-memory ECS for engine tests: services, task definition revisions and tags per region,
//! and a log of every call. Behaves like ECS where the engine depends on it (full ARNs, tags,
//! latest ACTIVE revision by family, typed not-found errors).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use plan::{ObservedService, ObservedTaskDefinition};
use spec::document::{ServiceDocument, Tag, TaskDefinitionDocument};
use spec::render::TAG_SPEC_HASH;
use spec::validate::cluster_name;

use crate::api::EcsApi;
use crate::error::{AwsError, ErrorKind, Result};

const ACCOUNT: &str = "123456789012";

#[derive(Debug, Default)]
struct State {
    clusters: HashSet<(String, String)>,
    /// (region, cluster name, service name) -> service.
    services: BTreeMap<(String, String, String), ObservedService>,
    /// (region, family) -> revisions in order.
    revisions: BTreeMap<(String, String), Vec<ObservedTaskDefinition>>,
    calls: Vec<String>,
}

/// The fake. Clusters must be added before use, as on ECS.
#[derive(Debug, Default)]
pub struct FakeEcs {
    state: Mutex<State>,
}

fn not_found(operation: &'static str, what: String) -> AwsError {
    AwsError {
        kind: ErrorKind::NotFound,
        operation,
        code: Some("ClusterNotFoundException".into()),
        message: what,
    }
}

impl FakeEcs {
    /// An empty account.
    pub fn new() -> Self {
        FakeEcs::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a cluster.
    pub fn add_cluster(&self, region: &str, name: &str) {
        self.state().clusters.insert((region.into(), name.into()));
    }

    /// Every call so far, as `Operation` names.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    /// Forgets the call log.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// The write calls so far.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("Describe") && !c.starts_with("List"))
            .collect()
    }

    /// A service, as stored.
    pub fn service(&self, region: &str, cluster: &str, name: &str) -> Option<ObservedService> {
        self.state()
            .services
            .get(&(region.into(), cluster.into(), name.into()))
            .cloned()
    }

    /// Changes a stored service (drift by hand, scripted states).
    pub fn edit_service(
        &self,
        region: &str,
        cluster: &str,
        name: &str,
        edit: impl FnOnce(&mut ObservedService),
    ) {
        if let Some(s) =
            self.state()
                .services
                .get_mut(&(region.into(), cluster.into(), name.into()))
        {
            edit(s);
        }
    }

    /// Puts a service in place as if someone created it by hand.
    pub fn insert_service(&self, region: &str, cluster: &str, service: ObservedService) {
        self.state().services.insert(
            (region.into(), cluster.into(), service.name.clone()),
            service,
        );
    }

    /// Revisions of a family.
    pub fn revisions(&self, region: &str, family: &str) -> Vec<ObservedTaskDefinition> {
        self.state()
            .revisions
            .get(&(region.into(), family.into()))
            .cloned()
            .unwrap_or_default()
    }

    fn record(&self, call: &str) {
        self.state().calls.push(call.into());
    }

    fn check_cluster(
        &self,
        operation: &'static str,
        region: &str,
        cluster: &str,
    ) -> Result<String> {
        let name = cluster_name(cluster).to_owned();
        if self
            .state()
            .clusters
            .contains(&(region.into(), name.clone()))
        {
            Ok(name)
        } else {
            Err(not_found(operation, format!("cluster {cluster} not found")))
        }
    }
}

#[async_trait]
impl EcsApi for FakeEcs {
    async fn describe_services(
        &self,
        region: &str,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>> {
        self.record("DescribeServices");
        let cluster = self.check_cluster("DescribeServices", region, cluster)?;
        if names.len() > 10 {
            return Err(AwsError::invalid("DescribeServices", "at most 10 services"));
        }
        let state = self.state();
        Ok(names
            .iter()
            .filter_map(|n| {
                state
                    .services
                    .get(&(region.into(), cluster.clone(), n.clone()))
                    .cloned()
            })
            .collect())
    }

    async fn describe_task_definition(
        &self,
        region: &str,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>> {
        self.record("DescribeTaskDefinition");
        let state = self.state();
        let all = state.revisions.iter().filter(|((r, _), _)| r == region);
        let found = if task_definition.contains(':') {
            let wanted = task_definition
                .rsplit_once("task-definition/")
                .map_or(task_definition, |(_, rest)| rest);
            all.flat_map(|(_, list)| list)
                .find(|r| format!("{}:{}", r.family, r.revision) == wanted)
                .cloned()
        } else {
            state
                .revisions
                .get(&(region.into(), task_definition.into()))
                .and_then(|list| list.iter().rev().find(|r| r.status == "ACTIVE"))
                .cloned()
        };
        Ok(found)
    }

    async fn register_task_definition(
        &self,
        region: &str,
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition> {
        self.record("RegisterTaskDefinition");
        let mut state = self.state();
        let list = state
            .revisions
            .entry((region.into(), document.family.clone()))
            .or_default();
        let revision = i32::try_from(list.len() + 1).unwrap_or(i32::MAX);
        let td = ObservedTaskDefinition {
            arn: format!(
                "arn:aws:ecs:{region}:{ACCOUNT}:task-definition/{}:{revision}",
                document.family
            ),
            family: document.family.clone(),
            revision,
            status: "ACTIVE".into(),
            spec_hash: tags
                .iter()
                .find(|t| t.key == TAG_SPEC_HASH)
                .map(|t| t.value.clone()),
        };
        list.push(td.clone());
        Ok(td)
    }

    async fn create_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
    ) -> Result<ObservedService> {
        self.record("CreateService");
        let cluster = self.check_cluster("CreateService", region, &document.cluster)?;
        let key = (
            region.to_owned(),
            cluster.clone(),
            document.service_name.clone(),
        );
        let mut state = self.state();
        if state.services.get(&key).is_some_and(|s| s.is_active()) {
            return Err(AwsError {
                kind: ErrorKind::Invalid,
                operation: "CreateService",
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
            status: "ACTIVE".into(),
            desired_count: document.desired_count,
            pending_count: document.desired_count,
            task_definition: task_definition.into(),
            launch_type: Some(document.launch_type.clone()),
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
        Ok(service)
    }

    async fn update_service(
        &self,
        region: &str,
        document: &ServiceDocument,
        task_definition: &str,
        _force_new_deployment: bool,
    ) -> Result<ObservedService> {
        self.record("UpdateService");
        let cluster = self.check_cluster("UpdateService", region, &document.cluster)?;
        let mut state = self.state();
        let service = state
            .services
            .get_mut(&(region.into(), cluster, document.service_name.clone()))
            .filter(|s| s.is_active())
            .ok_or_else(|| AwsError {
                kind: ErrorKind::NotFound,
                operation: "UpdateService",
                code: Some("ServiceNotFoundException".into()),
                message: "Service not found.".into(),
            })?;
        service.desired_count = document.desired_count;
        service.task_definition = task_definition.into();
        service.network = document
            .network_configuration
            .as_ref()
            .map(|n| n.awsvpc_configuration.clone());
        service.deployment_configuration = Some(document.deployment_configuration.clone());
        service.placement_strategy = Some(document.placement_strategy.clone());
        service.enable_execute_command = document.enable_execute_command;
        service.propagate_tags = Some(document.propagate_tags.clone());
        Ok(service.clone())
    }

    async fn tag_resource(&self, _region: &str, arn: &str, tags: &[Tag]) -> Result<()> {
        self.record("TagResource");
        let mut state = self.state();
        let service = state
            .services
            .values_mut()
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found("TagResource", format!("{arn} not found")))?;
        for t in tags {
            service.tags.insert(t.key.clone(), t.value.clone());
        }
        Ok(())
    }
}
