//! The IAM and Secrets Manager calls of the role checks, through aws-sdk-iam and
//! aws-sdk-secretsmanager.

use client::api::{decode_policy, ObservedRole};
use client::call;
use client::{Operation, Result};
use plan::iam::trusted_services;

use super::SdkApi;
use crate::error::{answer, every_page, found};

impl SdkApi {
    pub(super) async fn get_role(
        &self,
        call::GetRole { name }: call::GetRole,
    ) -> Result<Option<ObservedRole>> {
        let request = self.iam.get_role().role_name(name);
        let out = found(answer(Operation::GetRole, request.send()).await)?;
        Ok(out.as_ref().and_then(|out| out.role()).map(|role| {
            let trust = role.assume_role_policy_document();
            ObservedRole {
                arn: role.arn().to_owned(),
                trusted_services: trust
                    .map(|document| trusted_services(&decode_policy(document)))
                    .unwrap_or_default(),
            }
        }))
    }

    pub(super) async fn list_role_policies(
        &self,
        call::ListRolePolicies { role }: call::ListRolePolicies,
    ) -> Result<Vec<String>> {
        let pages = self
            .iam
            .list_role_policies()
            .role_name(role)
            .into_paginator();
        let pages = every_page(Operation::ListRolePolicies, pages.send().collect().await)?;
        Ok(pages
            .iter()
            .flat_map(|p| p.policy_names().to_vec())
            .collect())
    }

    pub(super) async fn get_role_policy(
        &self,
        call::GetRolePolicy { role, policy }: call::GetRolePolicy,
    ) -> Result<String> {
        let request = self.iam.get_role_policy().role_name(role);
        let request = request.policy_name(policy);
        let out = answer(Operation::GetRolePolicy, request.send()).await?;
        Ok(decode_policy(out.policy_document()))
    }

    pub(super) async fn list_attached_role_policies(
        &self,
        call::ListAttachedRolePolicies { role }: call::ListAttachedRolePolicies,
    ) -> Result<Vec<String>> {
        let request = self.iam.list_attached_role_policies().role_name(role);
        let answer = request.into_paginator().send().collect().await;
        let pages = every_page(Operation::ListAttachedRolePolicies, answer)?;
        let attached = pages.iter().flat_map(|p| p.attached_policies());
        Ok(attached
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect())
    }

    pub(super) async fn policy_default_version(
        &self,
        call::PolicyDefaultVersion { arn }: call::PolicyDefaultVersion,
    ) -> Result<String> {
        let request = self.iam.get_policy().policy_arn(arn);
        let out = answer(Operation::GetPolicy, request.send()).await?;
        let version = out.policy().and_then(|p| p.default_version_id());
        Ok(version.unwrap_or("v1").to_owned())
    }

    pub(super) async fn get_policy_version(
        &self,
        call::GetPolicyVersion { arn, version }: call::GetPolicyVersion,
    ) -> Result<String> {
        let request = self.iam.get_policy_version().policy_arn(arn);
        let request = request.version_id(version);
        let out = answer(Operation::GetPolicyVersion, request.send()).await?;
        let document = out.policy_version().and_then(|v| v.document());
        Ok(document.map(decode_policy).unwrap_or_default())
    }

    pub(super) async fn secret_kms_key(
        &self,
        call::SecretKmsKey { secret_arn }: call::SecretKmsKey,
    ) -> Result<Option<String>> {
        let request = self.secrets.describe_secret().secret_id(secret_arn);
        let out = answer(Operation::DescribeSecret, request.send()).await?;
        let key = out.kms_key_id();
        Ok(key
            .filter(|k| !k.ends_with("alias/aws/secretsmanager"))
            .map(str::to_owned))
    }
}
