//! Application Auto Scaling calls: the scalable target of an ECS service's desired count and
//! the controller's target-tracking policy on it.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use client::call;
use client::{Operation, Result};

use super::SdkApi;
use crate::error::answer;

const NAMESPACE: ServiceNamespace = ServiceNamespace::Ecs;
const DIMENSION: ScalableDimension = ScalableDimension::EcsServiceDesiredCount;

impl SdkApi {
    pub(super) async fn describe_scalable_target(
        &self,
        call::DescribeScalableTarget { resource_id }: call::DescribeScalableTarget,
    ) -> Result<Option<(i32, i32)>> {
        let request = self
            .scaling
            .describe_scalable_targets()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_ids(resource_id.clone());
        let out = answer(Operation::DescribeScalableTargets, request.send()).await?;
        Ok(out
            .scalable_targets()
            .iter()
            .find(|t| t.resource_id() == resource_id)
            .map(|t| (t.min_capacity(), t.max_capacity())))
    }

    pub(super) async fn describe_scaling_policy(
        &self,
        call::DescribeScalingPolicy {
            resource_id,
            policy_name,
        }: call::DescribeScalingPolicy,
    ) -> Result<Option<(String, f64)>> {
        let request = self
            .scaling
            .describe_scaling_policies()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .policy_names(policy_name.clone());
        let out = answer(Operation::DescribeScalingPolicies, request.send()).await?;
        Ok(out
            .scaling_policies()
            .iter()
            .find(|p| p.policy_name() == policy_name)
            .and_then(|p| p.target_tracking_scaling_policy_configuration())
            .map(|c| {
                let metric = c
                    .predefined_metric_specification()
                    .map(|m| m.predefined_metric_type().as_str().to_owned())
                    .unwrap_or_default();
                (metric, c.target_value())
            }))
    }

    pub(super) async fn register_scalable_target(
        &self,
        call::RegisterScalableTarget {
            resource_id,
            min,
            max,
        }: call::RegisterScalableTarget,
    ) -> Result<()> {
        let request = self
            .scaling
            .register_scalable_target()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .min_capacity(min)
            .max_capacity(max);
        answer(Operation::RegisterScalableTarget, request.send()).await?;
        Ok(())
    }

    pub(super) async fn put_scaling_policy(
        &self,
        call::PutScalingPolicy {
            resource_id,
            policy_name,
            metric,
            target,
        }: call::PutScalingPolicy,
    ) -> Result<()> {
        let specification = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::from(metric.as_str()))
            .build()
            .map_err(|e| client::AwsError::invalid(Operation::PutScalingPolicy, e.to_string()))?;
        let configuration = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(f64::from(target))
            .predefined_metric_specification(specification)
            .build()
            .map_err(|e| client::AwsError::invalid(Operation::PutScalingPolicy, e.to_string()))?;
        let request = self
            .scaling
            .put_scaling_policy()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .policy_name(policy_name)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(configuration);
        answer(Operation::PutScalingPolicy, request.send()).await?;
        Ok(())
    }

    pub(super) async fn deregister_scalable_target(
        &self,
        call::DeregisterScalableTarget { resource_id }: call::DeregisterScalableTarget,
    ) -> Result<()> {
        let request = self
            .scaling
            .deregister_scalable_target()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id);
        // Already gone (deregistered by hand, or an earlier attempt whose answer was lost): what
        // was wanted.
        match answer(Operation::DeregisterScalableTarget, request.send()).await {
            Err(e) if e.kind == client::ErrorKind::NotFound => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
