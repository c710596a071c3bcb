//! An in-memory ECS for engine tests: services, task definition revisions and tags per region,
//! and a log of every call. Behaves like ECS where the engine depends on it (full ARNs, tags,
//! latest ACTIVE revision by family, typed not-found errors).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use spec::arn::cluster_name;
use spec::document::{RunTaskDocument, ServiceDocument, Tag, TaskDefinitionDocument};
use spec::render::TAG_SPEC_HASH;

use crate::api::{EcsApi, IamApi, ObservedRole, Page, RunTaskOutput, TaskFilter};
use crate::error::{AwsError, ErrorKind, Result};
use crate::operation::Operation;
use crate::provider::{ClientProvider, Target};

const ACCOUNT: &str = "123456789012";

#[derive(Debug, Default)]
struct State {
    clusters: HashSet<(String, String)>,
    /// (region, cluster name, service name) -> service.
    services: BTreeMap<(String, String, String), ObservedService>,
    /// (region, family) -> revisions in order.
    revisions: BTreeMap<(String, String), Vec<ObservedTaskDefinition>>,
    /// Task definition ARN -> (cpu, memory) of the task.
    sizes: BTreeMap<String, (i64, i64)>,
    /// (region, cluster name) -> tasks, with `started_by`.
    tasks: BTreeMap<(String, String), Vec<(ObservedTask, String)>>,
    /// (region, cluster name) -> container instances.
    instances: BTreeMap<(String, String), Vec<InstanceCapacity>>,
    /// Role name -> role.
    roles: BTreeMap<String, ObservedRole>,
    /// Inline policy documents by role name.
    role_policies: BTreeMap<String, Vec<String>>,
    /// Customer managed KMS keys of secrets, by secret ARN.
    secret_keys: BTreeMap<String, String>,
    next_task: u64,
    calls: Vec<String>,
    /// Calls of an operation still to answer with ThrottlingException.
    throttles: HashMap<Operation, usize>,
    /// Calls of an operation whose answer is still to be lost (after they took effect).
    lost: HashMap<Operation, usize>,
    /// RunTask answers by client token.
    ran: HashMap<String, RunTaskOutput>,
    /// CreateService answers by client token.
    created: HashMap<String, ObservedService>,
}

/// The fake. Clusters must be added before use, as on ECS. Clones share one account (two
/// engines, e.g. with different options, over the same ECS). As a [`ClientProvider`] it hands
/// out views of the same account, one per target region; the API calls act in the view's
/// region (us-east-1 unless asked for another).
#[derive(Debug, Clone)]
pub struct FakeEcs {
    state: Arc<Mutex<State>>,
    region: String,
}

impl Default for FakeEcs {
    fn default() -> Self {
        FakeEcs {
            state: Arc::default(),
            region: "us-east-1".into(),
        }
    }
}

impl ClientProvider for FakeEcs {
    type Api = FakeEcs;

    fn clients(&self, target: &Target) -> Arc<FakeEcs> {
        Arc::new(FakeEcs {
            state: Arc::clone(&self.state),
            region: target.region.clone(),
        })
    }
}

fn not_found(operation: Operation, what: String) -> AwsError {
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

    /// Answers the next `times` calls of `operation` with ThrottlingException (after logging
    /// them), as ECS does once its token bucket is empty.
    pub fn throttle(&self, operation: Operation, times: usize) {
        self.state().throttles.insert(operation, times);
    }

    /// Loses the answers of the next `times` calls of `operation` after they took effect (a
    /// dropped connection): the caller sees a transport error.
    pub fn lose_answers(&self, operation: Operation, times: usize) {
        self.state().lost.insert(operation, times);
    }

    /// `result`, unless its answer is to be lost.
    fn answer<T>(&self, operation: Operation, result: T) -> Result<T> {
        let mut state = self.state();
        match state.lost.get_mut(&operation) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(AwsError {
                    kind: ErrorKind::Transport,
                    operation,
                    code: None,
                    message: "connection closed before the answer".into(),
                })
            }
            _ => Ok(result),
        }
    }

    /// Forgets the call log.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// The write calls so far.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                !["Describe", "List", "Get"]
                    .iter()
                    .any(|read| c.starts_with(read))
            })
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

    /// Plays ECS's scheduler: every service runs its desired count in one completed deployment.
    pub fn settle(&self) {
        for service in self.state().services.values_mut() {
            service.running_count = service.desired_count;
            service.pending_count = 0;
            service.deployments = vec![plan::ObservedDeployment {
                id: "ecs-svc/settled".into(),
                status: "PRIMARY".into(),
                rollout_state: Some("COMPLETED".into()),
                task_definition: service.task_definition.clone(),
                desired_count: service.desired_count,
                running_count: service.desired_count,
                ..plan::ObservedDeployment::default()
            }];
        }
    }

    /// Records a task of `service` that stopped (e.g. crashed) with `reason`.
    pub fn add_stopped_service_task(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        reason: &str,
    ) {
        let mut state = self.state();
        state.next_task += 1;
        let task = ObservedTask {
            arn: format!(
                "arn:aws:ecs:{region}:{ACCOUNT}:task/{cluster}/{:032x}",
                state.next_task
            ),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            group: Some(format!("service:{service}")),
            stopped_reason: Some(reason.into()),
            stop_code: Some("EssentialContainerExited".into()),
            ..ObservedTask::default()
        };
        state
            .tasks
            .entry((region.into(), cluster.into()))
            .or_default()
            .push((task, format!("ecs-svc/{service}")));
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

    /// Adds a role trusting `services`.
    /// The role may read the delegate token (an inline policy allowing
    /// secretsmanager:GetSecretValue and ssm:GetParameters), as a working setup's does.
    pub fn add_role(&self, name: &str, services: &[&str]) {
        self.add_role_policy(
            name,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameters"],"Resource":"*"}]}"#,
        );
        self.state().roles.insert(
            name.into(),
            ObservedRole {
                arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
                trusted_services: services.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
    }

    /// Encrypts a secret with a customer managed KMS key.
    pub fn set_secret_kms_key(&self, secret_arn: &str, key: &str) {
        self.state()
            .secret_keys
            .insert(secret_arn.into(), key.into());
    }

    /// Adds an inline policy document to a role.
    pub fn add_role_policy(&self, role: &str, document: &str) {
        self.state()
            .role_policies
            .entry(role.into())
            .or_default()
            .push(document.into());
    }

    /// Registers a container instance with free CPU units and MiB.
    pub fn add_instance(&self, region: &str, cluster: &str, cpu: i64, memory: i64) {
        let mut state = self.state();
        let list = state
            .instances
            .entry((region.into(), cluster.into()))
            .or_default();
        let arn = format!(
            "arn:aws:ecs:{region}:{ACCOUNT}:container-instance/{cluster}/i-{}",
            list.len()
        );
        list.push(InstanceCapacity {
            arn,
            remaining_cpu: cpu,
            remaining_memory: memory,
        });
    }

    /// The tasks of a cluster.
    pub fn tasks(&self, region: &str, cluster: &str) -> Vec<ObservedTask> {
        self.state()
            .tasks
            .get(&(region.into(), cluster.into()))
            .map(|list| list.iter().map(|(t, _)| t.clone()).collect())
            .unwrap_or_default()
    }

    /// Changes a stored task (a crash, a stop by hand).
    pub fn edit_task(
        &self,
        region: &str,
        cluster: &str,
        arn: &str,
        edit: impl FnOnce(&mut ObservedTask),
    ) {
        if let Some((task, _)) = self
            .state()
            .tasks
            .get_mut(&(region.into(), cluster.into()))
            .and_then(|list| list.iter_mut().find(|(t, _)| t.arn == arn))
        {
            edit(task);
        }
    }

    /// Logs a call; fails it instead when a throttle was injected for its operation.
    fn record(&self, call: Operation) -> Result<()> {
        let mut state = self.state();
        state.calls.push(call.name().into());
        match state.throttles.get_mut(&call) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(AwsError::with_code(
                    call,
                    Some("ThrottlingException".into()),
                    "Rate exceeded",
                ))
            }
            _ => Ok(()),
        }
    }

    fn check_cluster(&self, operation: Operation, region: &str, cluster: &str) -> Result<String> {
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

// Deliberately the trait's signatures again: an implementation must state them.
#[async_trait]
impl EcsApi for FakeEcs {
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ObservedService>> {
        self.record(Operation::DescribeServices)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::DescribeServices, region, cluster)?;
        if names.len() > 10 {
            return Err(AwsError::invalid(
                Operation::DescribeServices,
                "at most 10 services",
            ));
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
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>> {
        self.record(Operation::DescribeTaskDefinition)?;
        let region = self.region.as_str();
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
        document: &TaskDefinitionDocument,
        tags: &[Tag],
    ) -> Result<ObservedTaskDefinition> {
        self.record(Operation::RegisterTaskDefinition)?;
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
            status: "ACTIVE".into(),
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

    async fn create_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<ObservedService> {
        self.record(Operation::CreateService)?;
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
        state
            .created
            .insert(client_token.to_owned(), service.clone());
        drop(state);
        self.answer(Operation::CreateService, service)
    }

    async fn update_service(
        &self,
        document: &ServiceDocument,
        task_definition: &str,
    ) -> Result<ObservedService> {
        self.record(Operation::UpdateService)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::UpdateService, region, &document.cluster)?;
        let mut state = self.state();
        let service = state
            .services
            .get_mut(&(region.into(), cluster, document.service_name.clone()))
            .filter(|s| s.is_active())
            .ok_or_else(|| AwsError {
                kind: ErrorKind::NotFound,
                operation: Operation::UpdateService,
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

    async fn tag_resource(&self, arn: &str, tags: &[Tag]) -> Result<()> {
        self.record(Operation::TagResource)?;
        let mut state = self.state();
        let service = state
            .services
            .values_mut()
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found(Operation::TagResource, format!("{arn} not found")))?;
        for t in tags {
            service.tags.insert(t.key.clone(), t.value.clone());
        }
        Ok(())
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.record(Operation::UntagResource)?;
        let mut state = self.state();
        let service = state
            .services
            .values_mut()
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found(Operation::UntagResource, format!("{arn} not found")))?;
        for key in keys {
            service.tags.remove(key);
        }
        Ok(())
    }

    async fn list_tasks_page(
        &self,
        cluster: &str,
        filter: &TaskFilter,
        next_token: Option<String>,
    ) -> Result<Page> {
        self.record(Operation::ListTasks)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::ListTasks, region, cluster)?;
        let state = self.state();
        let all = state
            .tasks
            .get(&(region.into(), cluster))
            .map(|list| {
                list.iter()
                    .filter(|(t, started_by)| match filter {
                        TaskFilter::StartedBy(s) => {
                            s == started_by && t.desired_status == "RUNNING"
                        }
                        TaskFilter::Family {
                            family,
                            desired_status,
                        } => {
                            t.desired_status == desired_status.as_str()
                                && spec::arn::task_definition_short(&t.task_definition)
                                    .split(':')
                                    .next()
                                    == Some(family.as_str())
                        }
                        TaskFilter::Service {
                            service_name,
                            desired_status,
                        } => {
                            t.desired_status == desired_status.as_str()
                                && t.group.as_deref() == Some(&format!("service:{service_name}"))
                        }
                    })
                    .map(|(t, _)| t.arn.clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok(page_of(all, next_token))
    }

    async fn describe_tasks(&self, cluster: &str, arns: &[String]) -> Result<Vec<ObservedTask>> {
        self.record(Operation::DescribeTasks)?;
        let region = self.region.as_str();
        if arns.len() > 100 {
            return Err(AwsError::invalid(
                Operation::DescribeTasks,
                "at most 100 tasks",
            ));
        }
        Ok(self
            .tasks(region, cluster_name(cluster))
            .into_iter()
            .filter(|t| arns.contains(&t.arn))
            .collect())
    }

    async fn run_task(
        &self,
        document: &RunTaskDocument,
        task_definition: &str,
        count: i32,
        tags: &[Tag],
        client_token: &str,
    ) -> Result<RunTaskOutput> {
        self.record(Operation::RunTask)?;
        if let Some(first) = self.state().ran.get(client_token).cloned() {
            return Ok(first);
        }
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::RunTask, region, &document.cluster)?;
        if count > 10 {
            return Err(AwsError::invalid(
                Operation::RunTask,
                "count must be 1 to 10",
            ));
        }
        let mut state = self.state();
        let (cpu, memory) = state.sizes.get(task_definition).copied().unwrap_or((0, 0));
        let key = (region.to_owned(), cluster.clone());
        let mut output = RunTaskOutput::default();
        for _ in 0..count {
            if document.launch_type == "EC2" {
                let slot = state.instances.get_mut(&key).and_then(|list| {
                    list.iter_mut()
                        .find(|i| i.remaining_cpu >= cpu && i.remaining_memory >= memory)
                });
                match slot {
                    Some(instance) => {
                        instance.remaining_cpu -= cpu;
                        instance.remaining_memory -= memory;
                    }
                    None => {
                        output.failures.push("RESOURCE:MEMORY".into());
                        continue;
                    }
                }
            }
            state.next_task += 1;
            let task = ObservedTask {
                arn: format!(
                    "arn:aws:ecs:{region}:{ACCOUNT}:task/{cluster}/{:032x}",
                    state.next_task
                ),
                task_definition: task_definition.into(),
                last_status: "RUNNING".into(),
                desired_status: "RUNNING".into(),
                group: Some(format!(
                    "family:{}",
                    spec::arn::last_segment(task_definition)
                )),
                tags: tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect(),
                created_at: i64::try_from(state.next_task).ok(),
                ..ObservedTask::default()
            };
            state
                .tasks
                .entry(key.clone())
                .or_default()
                .push((task.clone(), document.started_by.clone()));
            output.tasks.push(task);
        }
        state.ran.insert(client_token.to_owned(), output.clone());
        drop(state);
        self.answer(Operation::RunTask, output)
    }

    async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> Result<()> {
        self.record(Operation::StopTask)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::StopTask, region, cluster)?;
        let mut state = self.state();
        let task = state
            .tasks
            .get_mut(&(region.into(), cluster))
            .and_then(|list| list.iter_mut().find(|(t, _)| t.arn == arn))
            .ok_or_else(|| AwsError::invalid(Operation::StopTask, format!("no task {arn}")))?;
        task.0.desired_status = "STOPPED".into();
        task.0.last_status = "STOPPED".into();
        task.0.stopped_reason = Some(reason.into());
        Ok(())
    }

    async fn list_clusters_page(&self, next_token: Option<String>) -> Result<Page> {
        self.record(Operation::ListClusters)?;
        let region = self.region.as_str();
        let all = self
            .state()
            .clusters
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, c)| format!("arn:aws:ecs:{region}:{ACCOUNT}:cluster/{c}"))
            .collect();
        Ok(page_of(all, next_token))
    }

    async fn list_services_page(&self, cluster: &str, next_token: Option<String>) -> Result<Page> {
        self.record(Operation::ListServices)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::ListServices, region, cluster)?;
        let all = self
            .state()
            .services
            .iter()
            .filter(|((r, c, _), s)| *r == region && *c == cluster && s.status != "INACTIVE")
            .map(|(_, s)| s.arn.clone())
            .collect();
        Ok(page_of(all, next_token))
    }

    async fn scale_service(&self, cluster: &str, service: &str, count: i32) -> Result<()> {
        self.record(Operation::UpdateService)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::UpdateService, region, cluster)?;
        let mut state = self.state();
        let s = state
            .services
            .get_mut(&(region.into(), cluster, service.into()))
            .ok_or_else(|| AwsError::invalid(Operation::UpdateService, "no such service"))?;
        s.desired_count = count;
        Ok(())
    }

    async fn delete_service(&self, cluster: &str, service: &str) -> Result<()> {
        self.record(Operation::DeleteService)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::DeleteService, region, cluster)?;
        let mut state = self.state();
        let s = state
            .services
            .get_mut(&(region.into(), cluster, service.into()))
            .ok_or_else(|| AwsError::invalid(Operation::DeleteService, "no such service"))?;
        if s.desired_count > 0 {
            return Err(AwsError::invalid(
                Operation::DeleteService,
                "The service cannot be stopped while it is scaled above 0.",
            ));
        }
        s.status = "INACTIVE".into();
        Ok(())
    }

    async fn list_container_instances_page(
        &self,
        cluster: &str,
        next_token: Option<String>,
    ) -> Result<Page> {
        self.record(Operation::ListContainerInstances)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::ListContainerInstances, region, cluster)?;
        let all = self
            .state()
            .instances
            .get(&(region.into(), cluster))
            .map(|list| list.iter().map(|i| i.arn.clone()).collect())
            .unwrap_or_default();
        Ok(page_of(all, next_token))
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<InstanceCapacity>> {
        self.record(Operation::DescribeContainerInstances)?;
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::DescribeContainerInstances, region, cluster)?;
        Ok(self
            .state()
            .instances
            .get(&(region.into(), cluster))
            .map(|list| {
                list.iter()
                    .filter(|i| arns.contains(&i.arn))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl IamApi for FakeEcs {
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>> {
        self.record(Operation::GetRole)?;
        Ok(self.state().roles.get(name).cloned())
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>> {
        self.record(Operation::ListRolePolicies)?;
        let state = self.state();
        let count = state.role_policies.get(role).map_or(0, Vec::len);
        Ok((0..count).map(|i| format!("policy-{i}")).collect())
    }

    async fn get_role_policy(&self, role: &str, policy: &str) -> Result<String> {
        self.record(Operation::GetRolePolicy)?;
        let index: usize = policy
            .trim_start_matches("policy-")
            .parse()
            .unwrap_or(usize::MAX);
        self.state()
            .role_policies
            .get(role)
            .and_then(|list| list.get(index).cloned())
            .ok_or_else(|| not_found(Operation::GetRolePolicy, format!("{role}/{policy}")))
    }

    async fn list_attached_role_policies(&self, _role: &str) -> Result<Vec<String>> {
        self.record(Operation::ListAttachedRolePolicies)?;
        Ok(Vec::new())
    }

    async fn policy_default_version(&self, arn: &str) -> Result<String> {
        Err(not_found(Operation::GetPolicy, arn.to_owned()))
    }

    async fn get_policy_version(&self, arn: &str, _version: &str) -> Result<String> {
        Err(not_found(Operation::GetPolicyVersion, arn.to_owned()))
    }

    async fn secret_kms_key(&self, secret_arn: &str) -> Result<Option<String>> {
        self.record(Operation::DescribeSecret)?;
        Ok(self.state().secret_keys.get(secret_arn).cloned())
    }
}

/// Pages of 100, as ECS's listings (ListServices with maxResults 100, ListTasks) give them.
fn page_of(all: Vec<String>, next_token: Option<String>) -> Page {
    let start: usize = next_token.and_then(|t| t.parse().ok()).unwrap_or(0);
    let end = (start + 100).min(all.len());
    Page {
        items: all.get(start..end).unwrap_or_default().to_vec(),
        next_token: (end < all.len()).then(|| end.to_string()),
    }
}
