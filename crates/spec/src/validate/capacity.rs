//! `spec.capacityProviderStrategy` as CreateService and RunTask accept it (the botocore model's
//! CapacityProviderStrategyItem and the API reference's sentences).

use super::Report;
use crate::types::DelegateGroupSpec;

/// "A capacity provider strategy can contain a maximum of 20 capacity providers."
const MAX_PROVIDERS: usize = 20;
/// CapacityProviderStrategyItemWeight: 0 to 1,000; CapacityProviderStrategyItemBase: 0 to 100,000.
const MAX_WEIGHT: i32 = 1000;
const MAX_BASE: i32 = 100_000;

pub(super) fn check_capacity(spec: &DelegateGroupSpec, err: &mut Report<'_>) {
    let strategy = &spec.capacity_provider_strategy;
    if strategy.is_empty() {
        return;
    }
    let field = "spec.capacityProviderStrategy";
    if let Some(launch_type) = spec.launch_type {
        // CreateService: "If a capacityProviderStrategy is specified, the launchType parameter
        // must be omitted."
        err(
            "spec.launchType",
            format!(
                "{} and capacityProviderStrategy are alternatives (ECS: \"If a \
                 capacityProviderStrategy is specified, the launchType parameter must be \
                 omitted\"); remove one",
                launch_type.as_str()
            ),
        );
    }
    if strategy.len() > MAX_PROVIDERS {
        err(
            field,
            format!(
                "at most {MAX_PROVIDERS} capacity providers, got {}",
                strategy.len()
            ),
        );
    }
    for (i, item) in strategy.iter().enumerate() {
        let at = |member: &str| format!("{field}[{i}].{member}");
        let name = &item.capacity_provider;
        if name.trim().is_empty() || name.len() > 255 {
            err(
                &at("capacityProvider"),
                "must be a capacity provider's name (1 to 255 characters)".into(),
            );
        }
        if strategy[..i].iter().any(|o| o.capacity_provider == *name) {
            err(&at("capacityProvider"), format!("{name} is listed twice"));
        }
        if let Some(weight) = item.weight.filter(|w| !(0..=MAX_WEIGHT).contains(w)) {
            err(
                &at("weight"),
                format!("must be between 0 and {MAX_WEIGHT}, got {weight}"),
            );
        }
        if let Some(base) = item.base.filter(|b| !(0..=MAX_BASE).contains(b)) {
            err(
                &at("base"),
                format!("must be between 0 and {MAX_BASE}, got {base}"),
            );
        }
    }
    if strategy.iter().filter(|i| i.base.is_some()).count() > 1 {
        // "Only one capacity provider in a strategy can have a base defined."
        err(
            field,
            "only one capacity provider may have a base (ECS: \"Only one capacity provider in a \
             strategy can have a base defined\")"
                .into(),
        );
    }
    if strategy.len() > 1 && strategy.iter().all(|i| i.weight.unwrap_or(0) == 0) {
        // "If you specify multiple capacity providers in a strategy that all have a weight of
        // 0, any RunTask or CreateService actions using the capacity provider strategy will fail."
        err(
            field,
            "at least one capacity provider needs a weight above 0, or no task is placed".into(),
        );
    }
    let fargate = strategy.iter().filter(|i| i.is_fargate()).count();
    if fargate != 0 && fargate != strategy.len() {
        // One task definition is built for FARGATE or for EC2 (requiresCompatibilities): its
        // tasks cannot go to both kinds of provider.
        err(
            field,
            "mixes Fargate providers (FARGATE, FARGATE_SPOT) with Auto Scaling group providers; \
             the delegate's task definition is built for one or the other"
                .into(),
        );
    }
}
