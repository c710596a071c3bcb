//! Application Auto Scaling calls: the scalable target of an ECS service's desired count and
//! the controller's target-tracking policy on it.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use client::call;
use client::{Operation, Result};

use super::SdkApi;
use crate::error::{answer, every_page};

const NAMESPACE: ServiceNamespace = ServiceNamespace::Ecs;
const DIMENSION: ScalableDimension = ScalableDimension::EcsServiceDesiredCount;

/// Pages of DescribeScalingPolicies read at most.
const MAX_PAGES: usize = 500;

impl SdkApi {
    pub(super) async fn describe_scalable_targets(
        &self,
        call::DescribeScalableTargets { resource_ids }: call::DescribeScalableTargets,
    ) -> Result<Vec<(String, i32, i32)>> {
        let request = self
            .scaling
            .describe_scalable_targets()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .set_resource_ids(Some(resource_ids))
            // At most 50 ids are asked: one page holds them.
            .max_results(50);
        let out = answer(Operation::DescribeScalableTargets, request.send()).await?;
        Ok(out
            .scalable_targets()
            .iter()
            .map(|t| {
                (
                    t.resource_id().to_owned(),
                    t.min_capacity(),
                    t.max_capacity(),
                )
            })
            .collect())
    }

    pub(super) async fn describe_scaling_policies(
        &self,
        call::DescribeScalingPolicies { policy_name }: call::DescribeScalingPolicies,
    ) -> Result<Vec<(String, String, f64)>> {
        // No ScalableDimension: "If you specify a scalable dimension, you must also specify a
        // resource ID" (DescribeScalingPolicies), and this asks for every service's; the
        // dimension is checked on each answer instead. MaxResults "can be between 1 and 10".
        let mut stream = self
            .scaling
            .describe_scaling_policies()
            .service_namespace(NAMESPACE)
            .policy_names(policy_name.clone())
            .max_results(10)
            .into_paginator()
            .send();
        // A bound on what an answer can make us read (a next token forever): 5000 policies.
        let mut pages = Vec::new();
        while pages.len() < MAX_PAGES {
            match stream.next().await {
                Some(page) => pages.push(page),
                None => break,
            }
        }
        let pages = every_page(Operation::DescribeScalingPolicies, pages)?;
        Ok(pages
            .iter()
            .flat_map(|page| page.scaling_policies())
            .filter(|p| p.policy_name() == policy_name && p.scalable_dimension() == &DIMENSION)
            .filter_map(|p| {
                let c = p.target_tracking_scaling_policy_configuration()?;
                let metric = c
                    .predefined_metric_specification()
                    .map(|m| m.predefined_metric_type().as_str().to_owned())
                    .unwrap_or_default();
                Some((p.resource_id().to_owned(), metric, c.target_value()))
            })
            .collect())
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
