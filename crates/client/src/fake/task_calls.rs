//! The fake's ECS calls of tasks and container instances.

use plan::{InstanceCapacity, ObservedTask, TaskStatus};
use spec::arn::cluster_name;

use super::{page_of, FakeAws, ACCOUNT};
use crate::api::{Page, RunTaskOutput, TaskFilter};
use crate::call;
use crate::error::{AwsError, Result};
use crate::operation::Operation;

impl FakeAws {
    pub(super) fn list_tasks_page(
        &self,
        call::ListTasks {
            cluster,
            filter,
            next_token,
        }: &call::ListTasks,
    ) -> Result<Page> {
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::ListTasks, region, cluster)?;
        let state = self.state();
        let all = state
            .tasks
            .get(&(region.into(), cluster))
            .map(|list| {
                list.iter()
                    .filter(|(t, started_by)| match filter {
                        TaskFilter::StartedBy(s) => s == started_by && t.is_live(),
                        TaskFilter::Family {
                            family,
                            desired_status,
                        } => {
                            t.desired_status == desired_status.task_status()
                                && spec::arn::task_definition_short(&t.task_definition)
                                    .split(':')
                                    .next()
                                    == Some(family.as_str())
                        }
                        TaskFilter::Service {
                            service_name,
                            desired_status,
                        } => {
                            t.desired_status == desired_status.task_status()
                                && t.group.as_deref() == Some(&format!("service:{service_name}"))
                        }
                    })
                    .map(|(t, _)| t.arn.clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok(page_of(all, next_token.as_deref()))
    }

    pub(super) fn describe_tasks(
        &self,
        call::DescribeTasks { cluster, arns }: &call::DescribeTasks,
    ) -> Result<Vec<ObservedTask>> {
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

    pub(super) fn run_task(
        &self,
        call::RunTask {
            document,
            task_definition,
            count,
            tags,
            client_token,
        }: &call::RunTask,
    ) -> Result<RunTaskOutput> {
        if let Some(first) = self.state().ran.get(client_token).cloned() {
            return Ok(first);
        }
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::RunTask, region, &document.cluster)?;
        if *count > 10 {
            return Err(AwsError::invalid(
                Operation::RunTask,
                "count must be 1 to 10",
            ));
        }
        let mut state = self.state();
        let (cpu, memory) = state.sizes.get(task_definition).copied().unwrap_or((0, 0));
        let key = (region.to_owned(), cluster.clone());
        let mut output = RunTaskOutput::default();
        let on_instances = match &document.launch_type {
            Some(launch_type) => launch_type == "EC2",
            None => !document
                .capacity_provider_strategy
                .iter()
                .any(|i| i.is_fargate()),
        };
        for _ in 0..*count {
            if on_instances {
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
                last_status: TaskStatus::Running,
                desired_status: TaskStatus::Running,
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
        Ok(output)
    }

    pub(super) fn stop_task(
        &self,
        call::StopTask {
            cluster,
            arn,
            reason,
        }: &call::StopTask,
    ) -> Result<()> {
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::StopTask, region, cluster)?;
        let mut state = self.state();
        let task = state
            .tasks
            .get_mut(&(region.into(), cluster))
            .and_then(|list| list.iter_mut().find(|(t, _)| t.arn == *arn))
            .ok_or_else(|| AwsError::invalid(Operation::StopTask, format!("no task {arn}")))?;
        task.0.desired_status = TaskStatus::Stopped;
        task.0.last_status = TaskStatus::Stopped;
        task.0.stopped_reason = Some(reason.into());
        Ok(())
    }

    pub(super) fn list_container_instances_page(
        &self,
        call::ListContainerInstances {
            cluster,
            next_token,
        }: &call::ListContainerInstances,
    ) -> Result<Page> {
        let region = self.region.as_str();
        let cluster = self.check_cluster(Operation::ListContainerInstances, region, cluster)?;
        let all = self
            .state()
            .instances
            .get(&(region.into(), cluster))
            .map(|list| list.iter().map(|i| i.arn.clone()).collect())
            .unwrap_or_default();
        Ok(page_of(all, next_token.as_deref()))
    }

    pub(super) fn describe_container_instances(
        &self,
        call::DescribeContainerInstances { cluster, arns }: &call::DescribeContainerInstances,
    ) -> Result<Vec<InstanceCapacity>> {
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
