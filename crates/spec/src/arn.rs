//! Amazon Resource Names: the one parser every crate uses.
//!
//! `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` (AWS General Reference, "Amazon Resource Names
//! (ARNs)"). The resource part keeps its own separators (`role/path/name`,
//! `service/cluster/name`, `task-definition/family:3`, `secret:name-AbCdEf`).

/// A parsed ARN, borrowing the text it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// `ecs`, `iam`, `secretsmanager`, `ssm`, ...
    pub service: &'a str,
    /// Empty for global services (IAM).
    pub region: &'a str,
    /// 12 digits (checked by [`Arn::parse`]).
    pub account: &'a str,
    /// Everything after the account.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses `text`; `None` unless it has the six parts, a partition `aws[-a-z]*` and a
    /// 12-digit account.
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        let partition_ok = arn
            .partition
            .strip_prefix("aws")
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        let account_ok = arn.account.len() == 12 && arn.account.chars().all(|c| c.is_ascii_digit());
        (partition_ok && account_ok).then_some(arn)
    }

    /// The resource after `kind` and its separator (`/` or `:`), e.g. `role` -> `path/name`.
    pub fn resource_of(&self, kind: &str) -> Option<&'a str> {
        let rest = self.resource.strip_prefix(kind)?;
        rest.strip_prefix('/')
            .or_else(|| rest.strip_prefix(':'))
            .filter(|r| !r.is_empty())
    }

    /// An IAM role ARN (`arn:aws:iam::ACCOUNT:role/[PATH/]NAME`).
    pub fn is_role(&self) -> bool {
        self.service == "iam"
            && self.region.is_empty()
            && self.resource_of("role").is_some_and(|r| !r.ends_with('/'))
    }

    /// A Secrets Manager secret or an SSM parameter ARN (what ECS injects as a container secret).
    pub fn is_secret(&self) -> bool {
        !self.region.is_empty()
            && match self.service {
                "secretsmanager" => self.resource_of("secret").is_some(),
                "ssm" => self.resource_of("parameter").is_some(),
                _ => false,
            }
    }
}

/// The last path segment of an ARN's resource: a role's name (`role/path/name` -> `name`), a
/// task's id, a service's name; the input itself when it is not an ARN with a path.
pub fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The name of an IAM role, from its ARN.
pub fn role_name(arn: &str) -> &str {
    last_segment(arn)
}

/// A cluster's name, whether written as a name or an ARN.
pub fn cluster_name(cluster: &str) -> &str {
    cluster
        .rsplit_once(":cluster/")
        .map_or(cluster, |(_, name)| name)
}

/// `(cluster, service)` of a service ARN in the long format (`service/CLUSTER/NAME`); `None`
/// for the old format without the cluster.
pub fn service_cluster_and_name(service_arn: &str) -> Option<(&str, &str)> {
    Arn::parse(service_arn)?
        .resource_of("service")?
        .split_once('/')
}

/// `family:revision` of a task definition ARN (or the input unchanged).
pub fn task_definition_short(arn: &str) -> &str {
    arn.rsplit_once(":task-definition/")
        .map_or(arn, |(_, rest)| rest)
}

/// The region of an ARN, if it is one and names a region.
pub fn region(arn: &str) -> Option<&str> {
    Arn::parse(arn).map(|a| a.region).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let role = Arn::parse("arn:aws:iam::123456789012:role/ecsTaskExecutionRole").unwrap();
        assert!(role.is_role() && !role.is_secret());
        assert!(
            Arn::parse("arn:aws-us-gov:iam::123456789012:role/path/name")
                .unwrap()
                .is_role()
        );
        assert_eq!(Arn::parse("arn:aws:iam::12345678901:role/x"), None);
        assert!(!Arn::parse("arn:aws:iam::123456789012:user/x")
            .unwrap()
            .is_role());
        assert!(
            Arn::parse("arn:aws:secretsmanager:us-west-1:123456789012:secret:tok")
                .unwrap()
                .is_secret()
        );
        assert!(
            Arn::parse("arn:aws:ssm:us-west-1:123456789012:parameter/harness/tok")
                .unwrap()
                .is_secret()
        );
        assert_eq!(Arn::parse("my-token-value"), None);
    }

    #[test]
    fn parts() {
        assert_eq!(
            cluster_name("arn:aws:ecs:us-east-1:123456789012:cluster/prod"),
            "prod"
        );
        assert_eq!(cluster_name("prod"), "prod");
        assert_eq!(
            service_cluster_and_name("arn:aws:ecs:us-east-1:123456789012:service/spike/d1"),
            Some(("spike", "d1"))
        );
        assert_eq!(
            service_cluster_and_name("arn:aws:ecs:us-east-1:123456789012:service/d1"),
            None
        );
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/path/to/exec"),
            "exec"
        );
        assert_eq!(
            task_definition_short("arn:aws:ecs:us-east-1:123456789012:task-definition/d1:3"),
            "d1:3"
        );
        assert_eq!(
            region("arn:aws:ecs:eu-west-1:123456789012:task-definition/d1:3"),
            Some("eu-west-1")
        );
        assert_eq!(region("arn:aws:iam::123456789012:role/x"), None);
    }
}
