//! The closed vocabulary of status: condition types, their status, and reasons. Each serializes
//! to the string the JSON of `status -o json` and `/status` has always carried.

use serde::Serialize;

/// A condition's type, Kubernetes style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ConditionType {
    /// The group runs as the files say.
    Ready,
    /// A deployment or a change is under way.
    Progressing,
    /// Running, but not as wanted (failed rollout, crash loop, capacity).
    Degraded,
    /// The controller cannot make progress without help (conflict, bad config, AWS errors).
    Stalled,
    /// The group's delegates are connected to Harness (only with the Harness check on).
    Connected,
    /// A connected delegate's version expires within the warning period (a warning; only
    /// present while it holds).
    ExpiringSoon,
    /// A connected delegate's version has expired (only present while it holds).
    Expired,
}

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ConditionStatus {
    /// It holds.
    True,
    /// It does not.
    False,
    /// Not known (Harness could not be read).
    Unknown,
}

impl From<bool> for ConditionStatus {
    fn from(holds: bool) -> Self {
        if holds {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// Why a condition is as it is; also the reason of a group's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Reason {
    /// The count runs in one completed deployment (tasks mode: on the desired revision).
    Converged,
    /// ECS is rolling out a change, or the live state differs from the files.
    DeploymentInProgress,
    /// No service yet.
    NotCreated,
    /// The circuit breaker failed a rollout.
    DeploymentFailed,
    /// ECS's circuit breaker rolled the deployment of the current spec back.
    RolledBack,
    /// The execution role cannot read the delegate token (its policies, or tasks stopping
    /// with ResourceInitializationError).
    SecretNotReadable,
    /// Tasks stop again and again, not by anyone's request.
    CrashLoop,
    /// EC2: the container instances cannot place the missing tasks (or ECS's service events
    /// say no capacity could place them).
    InsufficientCapacity,
    /// ECS's service events say an account quota stops the tasks from being placed (concurrent
    /// tasks or vCPUs, task size).
    QuotaExceeded,
    /// `spec.suspend: true`.
    Suspended,
    /// A task or execution role does not exist.
    RoleNotFound,
    /// A task or execution role does not trust ECS tasks.
    RoleTrustMissing,
    /// A service of the group's name that this controller does not manage.
    ConflictUnmanaged,
    /// The service deploys through CodeDeploy or an external controller, which UpdateService
    /// cannot drive.
    DeploymentControllerUnsupported,
    /// The service is DRAINING after a deletion.
    ServiceDraining,
    /// A change UpdateService cannot make, refused without `--allow-replace`.
    ReplaceRequired,
    /// The files are invalid; the last valid state is kept.
    ConfigError,
    /// An AWS call failed.
    ReconcileError,
    /// The role of the group's account (`spec.account`) could not be assumed.
    AssumeRoleFailed,
    /// At least the count of the group's delegates are connected to Harness.
    DelegatesConnected,
    /// Fewer delegates are connected than the count, within the grace period.
    WaitingForConnection,
    /// Fewer delegates are connected than the count after the grace period, though ECS runs
    /// the tasks.
    NotConnected,
    /// Harness could not be read (unreachable, 5xx, timeout, an answer not understood).
    HarnessUnreachable,
    /// Harness refused the API key.
    HarnessUnauthorized,
    /// The group's manager URL is not an origin the API key may be sent to.
    HarnessOriginNotAllowed,
    /// A connected delegate's version expires soon.
    VersionExpiringSoon,
    /// A connected delegate's version has expired.
    VersionExpired,
    /// `spec.delegate.version: auto` and Harness has not named a version yet.
    VersionUnknown,
    /// A change window holds the group's changes.
    HeldByWindow,
    /// An earlier rollout wave has not settled: the group's changes wait.
    HeldByWave,
    /// A group of an earlier wave failed: later waves wait for a new commit.
    WaveHalted,
}

impl Reason {
    /// The reason as it appears in JSON and text.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Converged => "Converged",
            Reason::DeploymentInProgress => "DeploymentInProgress",
            Reason::NotCreated => "NotCreated",
            Reason::DeploymentFailed => "DeploymentFailed",
            Reason::RolledBack => "RolledBack",
            Reason::CrashLoop => "CrashLoop",
            Reason::SecretNotReadable => "SecretNotReadable",
            Reason::InsufficientCapacity => "InsufficientCapacity",
            Reason::QuotaExceeded => "QuotaExceeded",
            Reason::Suspended => "Suspended",
            Reason::RoleNotFound => "RoleNotFound",
            Reason::RoleTrustMissing => "RoleTrustMissing",
            Reason::ConflictUnmanaged => "ConflictUnmanaged",
            Reason::DeploymentControllerUnsupported => "DeploymentControllerUnsupported",
            Reason::ServiceDraining => "ServiceDraining",
            Reason::ReplaceRequired => "ReplaceRequired",
            Reason::ConfigError => "ConfigError",
            Reason::ReconcileError => "ReconcileError",
            Reason::AssumeRoleFailed => "AssumeRoleFailed",
            Reason::DelegatesConnected => "DelegatesConnected",
            Reason::WaitingForConnection => "WaitingForConnection",
            Reason::NotConnected => "NotConnected",
            Reason::HarnessUnreachable => "HarnessUnreachable",
            Reason::HarnessUnauthorized => "HarnessUnauthorized",
            Reason::HarnessOriginNotAllowed => "HarnessOriginNotAllowed",
            Reason::VersionExpiringSoon => "VersionExpiringSoon",
            Reason::VersionExpired => "VersionExpired",
            Reason::VersionUnknown => "VersionUnknown",
            Reason::HeldByWindow => "HeldByWindow",
            Reason::HeldByWave => "HeldByWave",
            Reason::WaveHalted => "WaveHalted",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::fmt::Display for ConditionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_documented_strings() {
        assert_eq!(serde_json::to_value(ConditionType::Ready).unwrap(), "Ready");
        assert_eq!(
            serde_json::to_value(ConditionStatus::from(false)).unwrap(),
            "False"
        );
        for reason in [
            Reason::Converged,
            Reason::ConflictUnmanaged,
            Reason::ReplaceRequired,
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }
}
