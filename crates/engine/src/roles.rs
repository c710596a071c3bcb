//! Role checks before any write: the task and execution roles exist and trust ECS tasks. Only
//! groups whose plan writes are checked, so a converged fleet costs no IAM call; a role found
//! good is remembered for a while, a bad one is asked about again next time (it may be fixed).

use std::time::Duration;

use tokio::time::Instant;

use plan::iam::{evaluate, secret_read_action, Access};
use plan::{DesiredGroup, ObservedGroup, RoleProblem, SecretAccessProblem};

use crate::Engine;
use client::api::AwsApi;
use client::call;
use client::AwsError;
use client::{ClientProvider, Target};
use spec::arn::role_name;

/// How long a role found good is trusted without asking IAM again.
pub(crate) const ROLE_CACHE_TTL: Duration = Duration::from_secs(600);

impl<P: ClientProvider> Engine<P> {
    /// Observes the roles of a group (for one whose plan writes): the problems of its task
    /// and execution roles and, when they have none, whether the execution role can read the
    /// token, into `observed`. What a bad role means for the plan is `plan_group`'s to decide.
    pub(crate) async fn observe_roles(
        &self,
        d: &DesiredGroup,
        observed: &mut ObservedGroup,
    ) -> Result<(), AwsError> {
        let roles = [
            ("spec.roles.execution", Some(&d.group.spec.roles.execution)),
            ("spec.roles.task", d.group.spec.roles.task.as_ref()),
        ];
        let mut problems = Vec::new();
        for (field, arn) in roles {
            let Some(arn) = arn else { continue };
            problems.extend(self.role_problem(&d.target, field, arn).await?);
        }
        if problems.is_empty() {
            // The execution role exists and trusts ECS: can it read the token?
            let role = &d.group.spec.roles.execution;
            let secret = &d.group.spec.delegate.token.secret_arn;
            observed.secret_access = self.secret_access(&d.target, role, secret).await?;
        }
        observed.role_problems = problems;
        Ok(())
    }

    /// Whether the execution role's identity policies let it read the token (`plan::policy`),
    /// remembered per (role, token) like the role checks.
    async fn secret_access(
        &self,
        target: &Target,
        role: &str,
        secret: &str,
    ) -> Result<Option<SecretAccessProblem>, AwsError> {
        let key = format!("{role} {secret}");
        let cached = self
            .secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .filter(|(checked, _)| checked.elapsed() < ROLE_CACHE_TTL)
            .map(|(_, problem)| problem.clone());
        if let Some(problem) = cached {
            return Ok(problem);
        }
        let api = self.client(target);
        let documents = api.role_policies(role_name(role)).await?;
        let problem_with = |action: &str, resource: &str, access: Access| {
            (access != Access::Allowed).then(|| SecretAccessProblem {
                role: role.to_owned(),
                secret: secret.to_owned(),
                action: action.to_owned(),
                resource: resource.to_owned(),
                denied: access == Access::Denied,
            })
        };
        let action = secret_read_action(secret);
        let mut problem = problem_with(action, secret, evaluate(&documents, action, secret));
        if problem.is_none() && action.starts_with("secretsmanager:") {
            // A customer managed key: ECS decrypts with the execution role too.
            // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
            // Advisory: a secret this controller may not describe (or that is missing: ECS
            // will say so) only skips this part of the check.
            let secret_arn = secret.to_owned();
            match api.send(call::SecretKmsKey { secret_arn }).await {
                Ok(Some(key)) => {
                    if let Some(key_arn) = kms_key_arn(&key, secret) {
                        let access = evaluate(&documents, "kms:Decrypt", &key_arn);
                        problem = problem_with("kms:Decrypt", &key_arn, access);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(%secret, error = %e, "KMS key of the token not checked"),
            }
        }
        if let Some(p) = &problem {
            tracing::warn!(role = %p.role, secret = %p.secret, action = %p.action, "{p}");
        }
        self.secrets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (Instant::now(), problem.clone()));
        Ok(problem)
    }

    async fn role_problem(
        &self,
        target: &Target,
        field: &str,
        arn: &str,
    ) -> Result<Option<RoleProblem>, AwsError> {
        let name = role_name(arn);
        let fresh = self
            .roles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .is_some_and(|checked| checked.elapsed() < ROLE_CACHE_TTL);
        if fresh {
            return Ok(None);
        }
        let get_role = call::GetRole {
            name: name.to_owned(),
        };
        let problem = match self.client(target).send(get_role).await? {
            None => Some(RoleProblem::NotFound {
                field: field.into(),
                arn: arn.into(),
            }),
            Some(role) if !role.trusts_ecs_tasks() => Some(RoleProblem::TrustMissing {
                field: field.into(),
                arn: arn.into(),
                trusted: role.trusted_services,
            }),
            Some(_) => None,
        };
        if problem.is_none() {
            self.roles
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.to_owned(), Instant::now());
        }
        Ok(problem)
    }
}

/// The ARN of a secret's KMS key as DescribeSecret names it (an ARN or a key id; an alias names
/// no key a policy can be checked against, and is skipped).
fn kms_key_arn(key: &str, secret_arn: &str) -> Option<String> {
    if key.starts_with("arn:") {
        return (!key.contains(":alias/")).then(|| key.to_owned());
    }
    if key.starts_with("alias/") {
        return None;
    }
    let parts: Vec<&str> = secret_arn.split(':').collect();
    let (partition, region, account) = (parts.get(1)?, parts.get(3)?, parts.get(4)?);
    Some(format!("arn:{partition}:kms:{region}:{account}:key/{key}"))
}
