//! The fake's IAM and Secrets Manager calls.

use super::{not_found, FakeAws};
use crate::api::ObservedRole;
use crate::call;
use crate::error::Result;
use crate::operation::Operation;

impl FakeAws {
    pub(super) fn get_role(
        &self,
        call::GetRole { name }: &call::GetRole,
    ) -> Result<Option<ObservedRole>> {
        Ok(self.state().roles.get(name).cloned())
    }

    pub(super) fn list_role_policies(
        &self,
        call::ListRolePolicies { role }: &call::ListRolePolicies,
    ) -> Result<Vec<String>> {
        let state = self.state();
        let count = state.role_policies.get(role).map_or(0, Vec::len);
        Ok((0..count).map(|i| format!("policy-{i}")).collect())
    }

    pub(super) fn get_role_policy(
        &self,
        call::GetRolePolicy { role, policy }: &call::GetRolePolicy,
    ) -> Result<String> {
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

    pub(super) fn list_attached_role_policies(
        &self,
        call::ListAttachedRolePolicies { role: _ }: &call::ListAttachedRolePolicies,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    pub(super) fn policy_default_version(
        &self,
        call::PolicyDefaultVersion { arn }: &call::PolicyDefaultVersion,
    ) -> Result<String> {
        Err(not_found(Operation::GetPolicy, arn.to_owned()))
    }

    pub(super) fn get_policy_version(
        &self,
        call::GetPolicyVersion { arn, version: _ }: &call::GetPolicyVersion,
    ) -> Result<String> {
        Err(not_found(Operation::GetPolicyVersion, arn.to_owned()))
    }

    pub(super) fn secret_kms_key(
        &self,
        call::SecretKmsKey { secret_arn }: &call::SecretKmsKey,
    ) -> Result<Option<String>> {
        Ok(self.state().secret_keys.get(secret_arn).cloned())
    }
}
