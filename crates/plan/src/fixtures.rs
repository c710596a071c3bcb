//! Test groups, chainable: `DesiredGroup::test("d1").cluster("c2").count(3).fargate().build()`.
//! One fixture for every crate's tests and the end-to-end tests (as YAML), instead of copies of
//! the same document. Behind the `fixtures` feature: never in the binary.

use crate::desired::DesiredGroup;

/// The account of every fixture ARN.
pub const ACCOUNT: &str = "123456789012";

/// A DelegateGroup being built for a test.
#[derive(Debug, Clone)]
pub struct GroupFixture {
    name: String,
    cluster: String,
    count: Option<i64>,
    image: String,
    execution_role: String,
    region: String,
    manager_url: String,
    flavor: &'static str,
    account: String,
    spec_lines: Vec<String>,
    version: Option<String>,
}

impl DesiredGroup {
    /// A fixture: a NextGen EC2 service group named `name` in cluster `c1`, 2 delegates.
    pub fn test(name: &str) -> GroupFixture {
        GroupFixture {
            name: name.into(),
            cluster: "c1".into(),
            count: Some(2),
            image: "harness/delegate:24.10.84200".into(),
            execution_role: format!("arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"),
            region: "us-east-1".into(),
            manager_url: "https://app.harness.io/gratis".into(),
            flavor: "nextgen",
            account: ACCOUNT.into(),
            spec_lines: Vec::new(),
            version: None,
        }
    }
}

impl GroupFixture {
    /// `spec.delegate.managerUrl` (a local fake Harness in the end-to-end tests).
    pub fn manager_url(mut self, url: &str) -> Self {
        self.manager_url = url.into();
        self
    }

    /// In another account, reached through its role `edc-target` (with `external_id` when
    /// given): the execution role and token ARNs are that account's.
    pub fn in_account(mut self, account: &str, external_id: Option<&str>) -> Self {
        self.execution_role = self.execution_role.replace(&self.account, account);
        self.account = account.into();
        let external = external_id.map_or(String::new(), |e| format!(", externalId: {e}"));
        self.spec(&format!(
            "  account: {{roleArn: \"arn:aws:iam::{account}:role/edc-target\"{external}}}"
        ))
    }

    /// `spec.region`.
    pub fn region(self, region: &str) -> Self {
        self.spec(&format!("  region: {region}"))
    }

    /// A FirstGen delegate (`spec.delegate.flavor: firstgen`).
    pub fn firstgen(mut self) -> Self {
        self.flavor = "firstgen";
        self
    }

    /// `spec.cluster`.
    pub fn cluster(mut self, cluster: &str) -> Self {
        self.cluster = cluster.into();
        self
    }

    /// `spec.count`.
    pub fn count(mut self, count: i64) -> Self {
        self.count = Some(count);
        self
    }

    /// No `spec.count`: someone else owns the count.
    pub fn no_count(mut self) -> Self {
        self.count = None;
        self
    }

    /// `spec.delegate.version` (set `image` to the repository alone).
    pub fn version(mut self, version: &str) -> Self {
        self.version = Some(version.into());
        self
    }

    /// `spec.delegate.image`.
    pub fn image(mut self, image: &str) -> Self {
        self.image = image.into();
        self
    }

    /// `spec.roles.execution`.
    pub fn execution_role(mut self, arn: &str) -> Self {
        self.execution_role = arn.into();
        self
    }

    /// `mode: tasks`.
    pub fn tasks_mode(self) -> Self {
        self.spec("  mode: tasks")
    }

    /// FARGATE with awsvpc in `subnet` (and 1 vCPU, 4 GiB, a pair FARGATE offers).
    pub fn fargate(self, subnet: &str) -> Self {
        self.spec("  launchType: FARGATE")
            .spec(&format!("  network: {{subnets: [{subnet}]}}"))
            .spec("  resources: {cpu: 1024, memory: 4096}")
    }

    /// Any further lines under `spec:`, indented by two spaces, e.g. `  suspend: true`.
    pub fn spec(mut self, lines: &str) -> Self {
        self.spec_lines.extend(
            lines
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned),
        );
        self
    }

    /// The document, as a user would write it.
    pub fn yaml(&self) -> String {
        let mut extra = String::new();
        for line in &self.spec_lines {
            extra.push_str(line);
            extra.push('\n');
        }
        format!(
            r#"apiVersion: ecs-delegate-controller.io/v1alpha1
kind: DelegateGroup
metadata:
  name: {name}
spec:
  cluster: {cluster}
{count}  roles:
    execution: {role}
{extra}  delegate:
{flavor}    image: {image}
    accountId: abc123
    managerUrl: {manager_url}
    token: {{secretArn: "arn:aws:secretsmanager:us-east-1:{account}:secret:delegate-token"}}
{version}{firstgen}"#,
            account = self.account,
            name = self.name,
            cluster = self.cluster,
            count = self
                .count
                .map_or(String::new(), |c| format!("  count: {c}\n")),
            role = self.execution_role,
            image = self.image,
            flavor = if self.flavor == "firstgen" {
                "    flavor: firstgen\n"
            } else {
                ""
            },
            manager_url = self.manager_url,
            version = self
                .version
                .as_ref()
                .map_or(String::new(), |v| format!("    version: {v}\n")),
            firstgen = if self.flavor == "firstgen" {
                FIRSTGEN_DOWNLOAD
            } else {
                ""
            },
        )
    }

    /// The group, validated and rendered for us-east-1 (or its `spec.region`).
    ///
    /// # Panics
    /// When the fixture is not a valid group: a test that builds an invalid one is wrong.
    pub fn build(&self) -> DesiredGroup {
        let yaml = self.yaml();
        let group = spec::parse_group(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        DesiredGroup::new(group, &self.region).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }
}

/// The locations Harness's FirstGen download gives a SaaS account (Harness's Docker delegate
/// docs show the same values).
pub const FIRSTGEN_DOWNLOAD: &str = "    firstgen:
      watcherStorageUrl: https://app.harness.io/public/prod/premium/watchers
      watcherCheckLocation: current.version
      delegateStorageUrl: https://app.harness.io
      delegateCheckLocation: delegateprod.txt
      useCdn: true
      cdnUrl: https://app.harness.io
      remoteWatcherUrlCdn: https://app.harness.io/public/shared/watchers/builds
      jreVersion: 11.0.19
";
