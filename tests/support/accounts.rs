//! The accounts of a test: roles and their policies in the controller's account, a second
//! account reached by AssumeRole, and the operator's policy files.

use super::*;

impl Moto {
    /// Adds an inline policy to a role.
    pub fn put_role_policy(&self, role: &str, name: &str, document: &str) {
        let body = format!(
            "Action=PutRolePolicy&Version=2010-05-08&RoleName={}&PolicyName={}&PolicyDocument={}",
            form_encode(role),
            form_encode(name),
            form_encode(document)
        );
        let response = self.query("iam", &body);
        assert!(
            response.contains("PutRolePolicyResponse"),
            "PutRolePolicy failed: {response}"
        );
    }

    /// Creates an IAM role with a trust policy (IAM's query API, as any SDK sends it).
    pub fn create_role(&self, name: &str, trust_policy: &str) {
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={}&AssumeRolePolicyDocument={}",
            form_encode(name),
            form_encode(trust_policy)
        );
        let response = self.query("iam", &body);
        assert!(
            response.contains("<CreateRoleResult>"),
            "CreateRole failed: {response}"
        );
    }

    /// An account the controller reaches through the role `edc-target` (trusting `trusted`'s
    /// root, with `external_id` as its condition when given), holding the delegate roles and
    /// cluster `c1` in each of `regions`: each region's default subnet, by region. Made with
    /// moto's `x-moto-account-id`, as that account's own administrator would.
    pub fn target_account(
        &self,
        account: &str,
        regions: &[&str],
        trusted: &str,
        external_id: Option<&str>,
    ) -> std::collections::BTreeMap<String, String> {
        let python = venv().join("bin/python");
        let script = r#"
import json, sys, boto3
url, account, regions, trusted, external = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4], sys.argv[5]
def client(name, region="us-east-1"):
    c = boto3.client(name, endpoint_url=url, region_name=region, aws_access_key_id="test", aws_secret_access_key="test")
    c.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
    return c
iam = client("iam")
statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{trusted}:root"}, "Action": "sts:AssumeRole"}
if external:
    statement["Condition"] = {"StringEquals": {"sts:ExternalId": external}}
iam.create_role(RoleName="edc-target", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
ecs_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
read = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "ssm:GetParameters"], "Resource": "*"}]}
for role in ["ecsTaskExecutionRole", "delegate-task"]:
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ecs_trust))
    iam.put_role_policy(RoleName=role, PolicyName="read-delegate-token", PolicyDocument=json.dumps(read))
subnets = {}
for region in regions:
    client("ecs", region).create_cluster(clusterName="c1")
    subnets[region] = client("ec2", region).describe_subnets()["Subnets"][0]["SubnetId"]
print(json.dumps(subnets))
"#;
        let output = Command::new(python)
            .args([
                "-c",
                script,
                &self.url,
                account,
                &regions.join(","),
                trusted,
                external_id.unwrap_or(""),
            ])
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "setting up account {account} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("subnets by region")
    }

    /// An ECS JSON call in another account and region (moto's `x-moto-account-id`).
    pub fn ecs_call_in(&self, account: &str, region: &str, operation: &str, body: &str) -> String {
        let headers = [
            (
                "X-Amz-Target",
                format!("AmazonEC2ContainerServiceV20141113.{operation}"),
            ),
            ("Content-Type", "application/x-amz-json-1.1".into()),
            (
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/{region}/ecs/aws4_request, SignedHeaders=host, Signature=x"
                ),
            ),
            ("x-moto-account-id", account.into()),
        ];
        request(self.port, "POST", "/", &headers, body)
            .expect("ECS call")
            .1
    }

    /// The ACTIVE services of cluster `c1` in an account and region (at most 10), by name.
    pub fn services_in(&self, account: &str, region: &str) -> Vec<String> {
        let listed: serde_json::Value = serde_json::from_str(&self.ecs_call_in(
            account,
            region,
            "ListServices",
            r#"{"cluster":"c1","maxResults":100}"#,
        ))
        .expect("ListServices answers JSON");
        let arns = listed["serviceArns"].clone();
        if arns.as_array().is_none_or(Vec::is_empty) {
            return Vec::new();
        }
        let described: serde_json::Value = serde_json::from_str(&self.ecs_call_in(
            account,
            region,
            "DescribeServices",
            &serde_json::json!({"cluster": "c1", "services": arns}).to_string(),
        ))
        .expect("DescribeServices answers JSON");
        let mut names: Vec<String> = described["services"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["status"] == "ACTIVE")
                    .filter_map(|s| s["serviceName"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Writes the operator's policy (`body` after apiVersion and kind) beside the group files,
    /// which tests pass by name so that the policy stays outside them; returns its path.
    pub fn operator_policy(&self, body: &str) -> String {
        // One file per body: a test may hold several policies at once.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(body, &mut hasher);
        let name = format!(
            "operator-policy-{:016x}.yaml",
            std::hash::Hasher::finish(&hasher)
        );
        let path = self.write(
            &name,
            &format!(
                "apiVersion: ecs-delegate-controller.io/v1alpha1\nkind: GuardrailPolicy\n{body}"
            ),
        );
        path.display().to_string()
    }

    /// The operator's policy allowing adoption in `clusters`.
    pub fn adoption_policy(&self, clusters: &[&str]) -> String {
        self.operator_policy(&format!(
            "adoption: {{clusters: [{}]}}\n",
            clusters.join(", ")
        ))
    }
}
