//! The IAM and Secrets Manager calls of the role checks, through aws-sdk-iam and
//! aws-sdk-secretsmanager.

use client::api::{decode_policy, ObservedRole};
use client::call;
use client::{ErrorKind, Operation, Result};
use plan::iam::trusted_services;

use super::SdkApi;
use crate::error::from_sdk;

impl SdkApi {
    pub(super) async fn get_role(
        &self,
        call::GetRole { name }: call::GetRole,
    ) -> Result<Option<ObservedRole>> {
        match self.iam.get_role().role_name(name).send().await {
            Ok(out) => Ok(out.role().map(|role| ObservedRole {
                arn: role.arn().to_owned(),
                trusted_services: role
                    .assume_role_policy_document()
                    .map(|document| trusted_services(&decode_policy(document)))
                    .unwrap_or_default(),
            })),
            Err(e) => {
                let error = from_sdk(Operation::GetRole, e);
                if error.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    pub(super) async fn list_role_policies(
        &self,
        call::ListRolePolicies { role }: call::ListRolePolicies,
    ) -> Result<Vec<String>> {
        let mut pages = self
            .iam
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Operation::ListRolePolicies, e))?;
            names.extend(page.policy_names().iter().cloned());
        }
        Ok(names)
    }

    pub(super) async fn get_role_policy(
        &self,
        call::GetRolePolicy { role, policy }: call::GetRolePolicy,
    ) -> Result<String> {
        let out = self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::GetRolePolicy, e))?;
        Ok(decode_policy(out.policy_document()))
    }

    pub(super) async fn list_attached_role_policies(
        &self,
        call::ListAttachedRolePolicies { role }: call::ListAttachedRolePolicies,
    ) -> Result<Vec<String>> {
        let mut pages = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk(Operation::ListAttachedRolePolicies, e))?;
            arns.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned)),
            );
        }
        Ok(arns)
    }

    pub(super) async fn policy_default_version(
        &self,
        call::PolicyDefaultVersion { arn }: call::PolicyDefaultVersion,
    ) -> Result<String> {
        let out = self
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::GetPolicy, e))?;
        Ok(out
            .policy()
            .and_then(|p| p.default_version_id())
            .unwrap_or("v1")
            .to_owned())
    }

    pub(super) async fn get_policy_version(
        &self,
        call::GetPolicyVersion { arn, version }: call::GetPolicyVersion,
    ) -> Result<String> {
        let out = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::GetPolicyVersion, e))?;
        Ok(out
            .policy_version()
            .and_then(|v| v.document())
            .map(decode_policy)
            .unwrap_or_default())
    }

    pub(super) async fn secret_kms_key(
        &self,
        call::SecretKmsKey { secret_arn }: call::SecretKmsKey,
    ) -> Result<Option<String>> {
        let out = self
            .secrets
            .describe_secret()
            .secret_id(secret_arn)
            .send()
            .await
            .map_err(|e| from_sdk(Operation::DescribeSecret, e))?;
        Ok(out
            .kms_key_id()
            .filter(|k| !k.ends_with("alias/aws/secretsmanager"))
            .map(str::to_owned))
    }
}
