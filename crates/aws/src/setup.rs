//! What a first run needs before any group is touched: credentials, resolved once, and when they
//! cannot be, one line naming what was tried and what to run.
//!
//! The classification rests on structured facts, not on the SDK's messages: the error's variant
//! (`CredentialsError`), and what the shared config files say of the selected profile (it exists;
//! it uses SSO; it runs a `credential_process`), read with aws-config's own profile parser.

use std::borrow::Cow;

use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials as _;

/// Why the controller cannot sign a request. Its message is one line with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupProblem {
    /// `--profile` or `AWS_PROFILE` names a profile that no shared file defines.
    #[error(
        "AWS profile {0:?} is not defined in ~/.aws/config or ~/.aws/credentials: list them with \
         `aws configure list-profiles`, or unset AWS_PROFILE"
    )]
    UnknownProfile(String),
    /// Nothing in the chain had credentials.
    #[error(
        "no AWS credentials found: tried the environment (AWS_ACCESS_KEY_ID), the shared files \
         (profile {0:?}), web identity, the ECS container and instance metadata; run \
         `aws configure`, `aws sso login`, or set AWS_PROFILE"
    )]
    NoCredentials(String),
    /// The selected profile signs in with IAM Identity Center and its session is gone.
    #[error(
        "the SSO session of AWS profile {0:?} has expired or was never started: run \
         `aws sso login --profile {0}`"
    )]
    SsoSession(String),
    /// The selected profile's `credential_process` failed.
    #[error("the credential_process of AWS profile {profile:?} failed: {message}")]
    CredentialProcess {
        /// The profile.
        profile: String,
        /// What the provider said.
        message: String,
    },
    /// Any other failure of the provider chain (a timeout, a refused role).
    #[error("AWS credentials could not be loaded: {0}")]
    Other(String),
}

/// What the shared files say of the selected profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    /// Not defined in any shared file.
    Missing,
    /// Signs in with IAM Identity Center (`sso_session` or `sso_start_url`).
    Sso,
    /// Runs a `credential_process`.
    Process,
    /// Anything else (keys, a role to assume, ...).
    Other,
}

/// The selected profile (`--profile`, else `AWS_PROFILE`, else `default`) and what the shared
/// files say of it; `explicit` when it was asked for by name.
pub async fn selected_profile(flag: Option<&str>) -> (String, bool, ProfileKind) {
    let from_env = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let explicit = flag.is_some() || from_env.is_some();
    let name = flag
        .map(str::to_owned)
        .or(from_env)
        .unwrap_or_else(|| "default".into());
    let set = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &aws_runtime::env_config::file::EnvConfigFiles::default(),
        Some(Cow::Owned(name.clone())),
    )
    .await;
    let kind = match set.as_ref().ok().and_then(|s| s.get_profile(&name)) {
        None => ProfileKind::Missing,
        Some(p) if p.get("sso_session").is_some() || p.get("sso_start_url").is_some() => {
            ProfileKind::Sso
        }
        Some(p) if p.get("credential_process").is_some() => ProfileKind::Process,
        Some(_) => ProfileKind::Other,
    };
    (name, explicit, kind)
}

/// The one-line problem for a failed credentials load.
pub fn classify(
    error: &CredentialsError,
    profile: &str,
    explicit: bool,
    kind: ProfileKind,
) -> SetupProblem {
    match (kind, error) {
        (ProfileKind::Missing, _) if explicit => SetupProblem::UnknownProfile(profile.into()),
        (_, CredentialsError::CredentialsNotLoaded(_)) if kind != ProfileKind::Sso => {
            SetupProblem::NoCredentials(profile.into())
        }
        (ProfileKind::Sso, _) => SetupProblem::SsoSession(profile.into()),
        (ProfileKind::Process, _) => SetupProblem::CredentialProcess {
            profile: profile.into(),
            message: aws_sdk_ecs::error::DisplayErrorContext(error).to_string(),
        },
        _ => SetupProblem::Other(aws_sdk_ecs::error::DisplayErrorContext(error).to_string()),
    }
}

/// Loads credentials once through `config`'s chain (as every call will), before anything else.
///
/// # Errors
/// What is missing and what to run.
pub async fn check_credentials(
    config: &SdkConfig,
    profile_flag: Option<&str>,
) -> Result<(), SetupProblem> {
    let (profile, explicit, kind) = selected_profile(profile_flag).await;
    if explicit && kind == ProfileKind::Missing {
        return Err(SetupProblem::UnknownProfile(profile));
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(SetupProblem::NoCredentials(profile));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(e) => Err(classify(&e, &profile, explicit, kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_named_by_what_the_profile_is() {
        // What the chain gives when its last provider, instance metadata, found nothing (the
        // case the SDK logged as raw WARN lines): summarised as no credentials.
        let not_loaded = CredentialsError::not_loaded(
            "failed to load credentials from IMDS: the IMDS endpoint could not be reached",
        );
        let failed = CredentialsError::provider_error("the token is expired");
        assert_eq!(
            classify(&not_loaded, "nosuch", true, ProfileKind::Missing),
            SetupProblem::UnknownProfile("nosuch".into())
        );
        assert_eq!(
            classify(&not_loaded, "default", false, ProfileKind::Missing),
            SetupProblem::NoCredentials("default".into())
        );
        assert_eq!(
            classify(&failed, "work", true, ProfileKind::Sso),
            SetupProblem::SsoSession("work".into())
        );
        assert!(matches!(
            classify(&failed, "p", true, ProfileKind::Process),
            SetupProblem::CredentialProcess { .. }
        ));
        let line = SetupProblem::SsoSession("work".into()).to_string();
        assert!(line.ends_with("run `aws sso login --profile work`") && !line.contains('\n'));
    }
}
