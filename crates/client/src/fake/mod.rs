//! An in-memory ECS for engine tests: services, task definition revisions and tags per region,
//! and a log of every call. Behaves like ECS where the engine depends on it (full ARNs, tags,
//! latest ACTIVE revision by family, typed not-found errors).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use plan::{InstanceCapacity, ObservedService, ObservedTask, ObservedTaskDefinition};
use spec::arn::cluster_name;

use crate::api::{AwsApi, ObservedRole, Page, RunTaskOutput};
use crate::call::{Answer, Request};
use crate::error::{AwsError, ErrorKind, Result};
use crate::operation::Operation;
use crate::provider::{ClientProvider, Target};

mod ecs_calls;
mod iam_calls;
mod task_calls;

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
    /// Scalable targets by resource id: (min, max).
    scalable_targets: BTreeMap<String, (i32, i32)>,
    /// Scaling policies by (resource id, name): (metric, target).
    scaling_policies: BTreeMap<(String, String), (String, f64)>,
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
pub struct FakeAws {
    state: Arc<Mutex<State>>,
    region: String,
}

impl Default for FakeAws {
    fn default() -> Self {
        FakeAws {
            state: Arc::default(),
            region: "us-east-1".into(),
        }
    }
}

impl ClientProvider for FakeAws {
    type Api = FakeAws;

    fn clients(&self, target: &Target) -> Arc<FakeAws> {
        Arc::new(FakeAws {
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

impl FakeAws {
    /// An empty account.
    pub fn new() -> Self {
        FakeAws::default()
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

    /// `result`, unless its answer is to be lost (the call took effect all the same).
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
            .filter(|c| Operation::from_name(c).is_some_and(Operation::is_write))
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
                status: plan::DeploymentStatus::Primary,
                rollout_state: Some(plan::RolloutState::Completed),
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
            last_status: plan::TaskStatus::Stopped,
            desired_status: plan::TaskStatus::Stopped,
            group: Some(format!("service:{service}")),
            stopped_reason: Some(reason.into()),
            stop_code: Some(plan::StopCode::EssentialContainerExited),
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
            .and_then(|list| list.iter_mut().find(|(t, _)| t.arn == *arn))
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
        self.state().check_cluster(operation, region, cluster)
    }
}

impl State {
    /// The name of `cluster` (a name or an ARN) if it exists in `region`, as ECS checks it.
    fn check_cluster(&self, operation: Operation, region: &str, cluster: &str) -> Result<String> {
        let name = cluster_name(cluster).to_owned();
        if self.clusters.contains(&(region.into(), name.clone())) {
            Ok(name)
        } else {
            Err(not_found(operation, format!("cluster {cluster} not found")))
        }
    }
}

#[async_trait]
impl AwsApi for FakeAws {
    async fn call(&self, request: Request) -> Result<Answer> {
        let operation = request.operation();
        self.record(operation)?;
        let answer = match request {
            Request::DescribeServices(c) => Answer::DescribeServices(self.describe_services(&c)?),
            Request::DescribeTaskDefinition(c) => {
                Answer::DescribeTaskDefinition(self.describe_task_definition(&c)?)
            }
            Request::RegisterTaskDefinition(c) => {
                Answer::RegisterTaskDefinition(self.register_task_definition(&c)?)
            }
            Request::CreateService(c) => Answer::CreateService(self.create_service(&c)?),
            Request::UpdateService(c) => Answer::UpdateService(self.update_service(&c)?),
            Request::ScaleService(c) => Answer::ScaleService(self.scale_service(&c)?),
            Request::DeleteService(c) => Answer::DeleteService(self.delete_service(&c)?),
            Request::TagResource(c) => Answer::TagResource(self.tag_resource(&c)?),
            Request::UntagResource(c) => Answer::UntagResource(self.untag_resource(&c)?),
            Request::ListTasks(c) => Answer::ListTasks(self.list_tasks_page(&c)?),
            Request::DescribeTasks(c) => Answer::DescribeTasks(self.describe_tasks(&c)?),
            Request::RunTask(c) => Answer::RunTask(self.run_task(&c)?),
            Request::StopTask(c) => Answer::StopTask(self.stop_task(&c)?),
            Request::ListClusters(c) => Answer::ListClusters(self.list_clusters_page(&c)?),
            Request::ListServices(c) => Answer::ListServices(self.list_services_page(&c)?),
            Request::ListContainerInstances(c) => {
                Answer::ListContainerInstances(self.list_container_instances_page(&c)?)
            }
            Request::DescribeContainerInstances(c) => {
                Answer::DescribeContainerInstances(self.describe_container_instances(&c)?)
            }
            // The fake keeps no service deployment history: no rollback is ever recorded there
            // (its rollbacks show as FAILED deployments, set by the tests).
            Request::ListServiceDeployments(_) => Answer::ListServiceDeployments(Vec::new()),
            Request::DescribeServiceDeployments(_) => {
                Answer::DescribeServiceDeployments(Vec::new())
            }
            Request::DescribeServiceRevisions(_) => Answer::DescribeServiceRevisions(Vec::new()),
            Request::GetRole(c) => Answer::GetRole(self.get_role(&c)?),
            Request::ListRolePolicies(c) => Answer::ListRolePolicies(self.list_role_policies(&c)?),
            Request::GetRolePolicy(c) => Answer::GetRolePolicy(self.get_role_policy(&c)?),
            Request::ListAttachedRolePolicies(c) => {
                Answer::ListAttachedRolePolicies(self.list_attached_role_policies(&c)?)
            }
            Request::PolicyDefaultVersion(c) => {
                Answer::PolicyDefaultVersion(self.policy_default_version(&c)?)
            }
            Request::GetPolicyVersion(c) => Answer::GetPolicyVersion(self.get_policy_version(&c)?),
            Request::SecretKmsKey(c) => Answer::SecretKmsKey(self.secret_kms_key(&c)?),
            Request::DescribeScalableTargets(c) => {
                let state = self.state();
                Answer::DescribeScalableTargets(
                    c.resource_ids
                        .iter()
                        .filter_map(|id| {
                            let (min, max) = state.scalable_targets.get(id)?;
                            Some((id.clone(), *min, *max))
                        })
                        .collect(),
                )
            }
            Request::DescribeScalingPolicies(c) => Answer::DescribeScalingPolicies(
                self.state()
                    .scaling_policies
                    .iter()
                    .filter(|((_, name), _)| *name == c.policy_name)
                    .map(|((id, _), (metric, target))| (id.clone(), metric.clone(), *target))
                    .collect(),
            ),
            Request::RegisterScalableTarget(c) => {
                self.state()
                    .scalable_targets
                    .insert(c.resource_id, (c.min, c.max));
                Answer::RegisterScalableTarget(())
            }
            Request::PutScalingPolicy(c) => {
                self.state().scaling_policies.insert(
                    (c.resource_id, c.policy_name),
                    (c.metric, f64::from(c.target)),
                );
                Answer::PutScalingPolicy(())
            }
            Request::DeregisterScalableTarget(c) => {
                let mut state = self.state();
                state.scalable_targets.remove(&c.resource_id);
                state
                    .scaling_policies
                    .retain(|(resource, _), _| *resource != c.resource_id);
                Answer::DeregisterScalableTarget(())
            }
        };
        self.answer(operation, answer)
    }
}

/// Pages of 100, as ECS's listings (ListServices with maxResults 100, ListTasks) give them.
fn page_of(all: Vec<String>, next_token: Option<&str>) -> Page {
    let start: usize = next_token.and_then(|t| t.parse().ok()).unwrap_or(0);
    let end = (start + 100).min(all.len());
    Page {
        items: all.get(start..end).unwrap_or_default().to_vec(),
        next_token: (end < all.len()).then(|| end.to_string()),
    }
}
