//! Shared helpers of the end-to-end tests: the binary, the repository, and a moto server of the
//! test's own on a free loopback port, with its request recorder on so tests can count the API
//! calls a run made without trusting the binary's word.
#![allow(dead_code, unused_imports)]

mod accounts;
pub mod harness;
pub mod hook;
mod looping;
pub mod proxy;
mod recording;

pub use looping::Loop;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The controller binary built for this test run.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ecs-delegate-controller"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv with the pinned moto server (`make setup`); `MOTO_VENV` overrides.
pub fn venv() -> PathBuf {
    std::env::var_os("MOTO_VENV").map_or_else(|| repo().join(".venv"), PathBuf::from)
}

/// The account moto uses by default; the example ARNs use it too.
pub const ACCOUNT: &str = "123456789012";
/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// A moto server owned by one test; killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
    recording: PathBuf,
    /// A scratch directory for the test's files, removed on drop.
    pub dir: PathBuf,
}

/// What an execution role needs to read the delegate token (ECS fetches it before starting).
pub const READ_TOKEN: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameters"],"Resource":"*"}]}"#;

/// The trust policy of a role ECS tasks may assume.
pub const ECS_TASKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

impl Moto {
    /// Starts the local ECS endpoint (moto with ECS's behaviour, `scripts/ecs_behaviour.py`)
    /// with an account holding the roles the group fixtures name (`ecsTaskExecutionRole`,
    /// `delegate-task`). Tasks start at the first request after they were placed, so a service
    /// is steady one observation after its tasks were placed.
    pub fn start() -> Moto {
        Moto::start_with(&[("LOCALECS_START_SECONDS", "0".into())])
    }

    /// As `start`, with these clusters created.
    pub fn with_clusters(names: &[&str]) -> Moto {
        let moto = Moto::start();
        moto.create_clusters(names);
        moto
    }

    /// As `start`, with the endpoint's settings (`LOCALECS_*`, see `scripts/ecs_behaviour.py`).
    pub fn start_configured(settings: &[(&str, &str)]) -> Moto {
        let mut env = vec![("LOCALECS_START_SECONDS", "0".to_owned())];
        env.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Moto::start_with(&env)
    }

    /// Plain moto, without ECS's behaviour: services never run tasks, requests real ECS
    /// refuses are accepted. For the tests that want moto's raw behaviour.
    pub fn start_plain() -> Moto {
        Moto::start_with(&[("LOCALECS_PLAIN", "1".into())])
    }

    fn start_with(env: &[(&str, String)]) -> Moto {
        let python = venv().join("bin/python");
        assert!(
            venv().join("bin/moto_server").exists(),
            "{} has no moto server: run `make setup` (make test does it)",
            venv().display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("edc-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let recording = dir.join("moto-recording.jsonl");
        let child = Command::new(python)
            .arg(repo().join("scripts/localecs.py"))
            .args(["serve", "127.0.0.1", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "true")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the local ECS endpoint starts");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            recording,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while moto.http("GET", "/moto-api/", "").is_err() {
            assert!(
                Instant::now() < deadline,
                "the local ECS endpoint did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        for role in ["ecsTaskExecutionRole", "delegate-task"] {
            moto.create_role(role, ECS_TASKS_TRUST);
            moto.put_role_policy(role, "read-delegate-token", READ_TOKEN);
        }
        moto.reset_calls();
        moto
    }

    /// An ECS JSON call straight to the server (no SDK, no runtime): the response body.
    pub fn ecs_call(&self, operation: &str, body: &str) -> String {
        let headers = [
            (
                "X-Amz-Target",
                format!("AmazonEC2ContainerServiceV20141113.{operation}"),
            ),
            ("Content-Type", "application/x-amz-json-1.1".into()),
            ("Authorization", signed_as("ecs")),
        ];
        request(self.port, "POST", "/", &headers, body)
            .expect("ECS call")
            .1
    }

    /// A call to a JSON-protocol service (`X-Amz-Target: {target}`), signed as `service`:
    /// the response body.
    pub fn json_call(&self, service: &str, target: &str, body: &str) -> String {
        let headers = [
            ("X-Amz-Target", target.to_owned()),
            ("Content-Type", "application/x-amz-json-1.1".into()),
            ("Authorization", signed_as(service)),
        ];
        request(self.port, "POST", "/", &headers, body)
            .expect("JSON call")
            .1
    }

    /// The ACTIVE service `name` of `cluster` as DescribeServices answers it, if any.
    pub fn active_service(&self, cluster: &str, name: &str) -> Option<serde_json::Value> {
        let answer: serde_json::Value = serde_json::from_str(&self.ecs_call(
            "DescribeServices",
            &serde_json::json!({"cluster": cluster, "services": [name]}).to_string(),
        ))
        .ok()?;
        answer["services"]
            .as_array()?
            .iter()
            .find(|s| s["status"] == "ACTIVE")
            .cloned()
    }

    /// The desired count of the ACTIVE service `name` of `cluster`.
    pub fn desired(&self, cluster: &str, name: &str) -> Option<i64> {
        self.active_service(cluster, name)?["desiredCount"].as_i64()
    }

    /// A lease table as deploy/lease-table.json makes it (key `name`, on demand).
    pub fn create_lease_table(&self, table: &str) {
        let answer = self.json_call(
            "dynamodb",
            "DynamoDB_20120810.CreateTable",
            &serde_json::json!({
                "TableName": table,
                "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"
            })
            .to_string(),
        );
        assert_has(&answer, "TableDescription");
    }

    /// Waits up to `limit` for service `name`'s desired count to be `count`.
    pub fn reaches_desired(&self, cluster: &str, name: &str, count: i64, limit: Duration) -> bool {
        eventually(limit, || {
            (self.desired(cluster, name) == Some(count)).then_some(())
        })
        .is_some()
    }

    /// Creates ECS clusters.
    pub fn create_clusters(&self, names: &[&str]) {
        for name in names {
            let answer = self.ecs_call("CreateCluster", &format!(r#"{{"clusterName":"{name}"}}"#));
            assert!(
                answer.contains("clusterArn"),
                "CreateCluster {name}: {answer}"
            );
        }
    }

    /// A service as DescribeServices (with tags) reports it, if it exists.
    pub async fn service(&self, cluster: &str, name: &str) -> Option<aws_sdk_ecs::types::Service> {
        describe_service(&self.ecs().await, cluster, name).await
    }

    /// Registers a task definition by hand (one container, no tags): what users leave behind.
    pub async fn register_by_hand(
        &self,
        family: &str,
        container: &str,
        image: &str,
        memory: i32,
    ) -> String {
        let container = aws_sdk_ecs::types::ContainerDefinition::builder()
            .name(container)
            .image(image)
            .memory(memory)
            .build();
        let out = self
            .ecs()
            .await
            .register_task_definition()
            .family(family)
            .container_definitions(container)
            .send()
            .await
            .expect("RegisterTaskDefinition");
        out.task_definition()
            .and_then(|td| td.task_definition_arn())
            .expect("an ARN")
            .to_owned()
    }

    /// Registers an EC2 container instance in `cluster` (an instance from moto's EC2 first);
    /// moto gives each 4096 CPU units and 7482 MiB.
    pub fn register_container_instance(&self, cluster: &str) {
        self.register_container_instances(cluster, 1);
    }

    /// Registers `count` EC2 container instances in `cluster` (one Python run).
    pub fn register_container_instances(&self, cluster: &str, count: u32) {
        let python = venv().join("bin/python");
        let script = r#"
import json, sys, boto3
url, cluster, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
image = ec2.describe_images()["Images"][0]["ImageId"]
for instance in ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count)["Instances"]:
    doc = json.dumps({"instanceId": instance["InstanceId"], "region": "us-east-1"})
    ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=doc)
"#;
        let status = Command::new(python)
            .args(["-c", script, &self.url, cluster, &count.to_string()])
            .status()
            .expect("python runs");
        assert!(status.success(), "registering a container instance failed");
    }

    /// A request to moto's own API; the body of a 2xx answer.
    pub fn http(&self, method: &str, path: &str, body: &str) -> std::io::Result<String> {
        let headers = [("Content-Type", "application/json".to_owned())];
        let (code, answer) = request(self.port, method, path, &headers, body)?;
        if (200..300).contains(&code) {
            Ok(answer)
        } else {
            Err(std::io::Error::other(format!("HTTP {code}: {answer}")))
        }
    }

    /// The environment the binary and the SDK read: credentials, region, endpoint.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// Runs the binary against this server.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    /// Runs the binary against this server and asserts that it succeeded.
    #[track_caller]
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "{}", show(&out));
        out
    }

    /// `reconcile --once path`, which must succeed.
    #[track_caller]
    pub fn reconciled(&self, path: &str) -> Output {
        self.run_ok(&["reconcile", "--once", path])
    }

    /// The binary against this server, not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = binary();
        command.args(args).current_dir(&self.dir).envs(self.env());
        command.env_remove("AWS_PROFILE");
        command
    }

    /// Runs the binary through `proxy` instead of directly.
    pub fn run_via(&self, proxy: &proxy::Proxy, args: &[&str]) -> Output {
        self.command(args)
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .output()
            .expect("the binary runs")
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An SDK configuration pointing at this server.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await
    }

    /// An ECS client for reading state back.
    pub async fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk_config().await)
    }

    /// Writes a file into the scratch directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dirs");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Removes a file from the scratch directory.
    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.dir.join(name));
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The default VPC's first subnet and security group in moto's EC2 (awsvpc checks them).
    pub async fn default_network(&self) -> (String, String) {
        let body = self.ec2_query("Action=DescribeSubnets&Version=2016-11-15");
        let subnet = between(&body, "<subnetId>", "</subnetId>");
        let body = self.ec2_query("Action=DescribeSecurityGroups&Version=2016-11-15");
        let group = between(&body, "<groupId>", "</groupId>");
        (subnet, group)
    }

    fn ec2_query(&self, query: &str) -> String {
        self.query("ec2", query)
    }

    /// A POST to a query-protocol service (moto routes by the credential scope): the body.
    pub fn query(&self, service: &str, query: &str) -> String {
        let headers = [
            ("Authorization", signed_as(service)),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ];
        request(self.port, "POST", "/", &headers, query)
            .expect("query call")
            .1
    }
}

/// `application/x-www-form-urlencoded` encoding of a value.
pub fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn between(text: &str, start: &str, end: &str) -> String {
    text.split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(value, _)| value.to_owned())
        .unwrap_or_default()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A DelegateGroup document; `extra` lines are added under `spec:` (indent them by two spaces).
pub fn group_yaml(name: &str, cluster: &str, extra: &str) -> String {
    plan::DesiredGroup::test(name)
        .cluster(cluster)
        .spec(extra)
        .yaml()
}

/// `status -o json FILE`, parsed.
pub fn status_json(moto: &Moto, path: &str) -> serde_json::Value {
    let out = moto.run(&["status", "-o", "json", path]);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// A group's condition of `kind`, if it has one.
pub fn find_condition<'a>(
    group: &'a serde_json::Value,
    kind: &str,
) -> Option<&'a serde_json::Value> {
    group["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// A group's condition of `kind`.
pub fn condition<'a>(group: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    find_condition(group, kind).unwrap_or_else(|| panic!("no {kind} condition in {group}"))
}

/// stdout and stderr of a run, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A service as DescribeServices (with tags) reports it through `ecs`, if it exists.
pub async fn describe_service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> Option<aws_sdk_ecs::types::Service> {
    let request = ecs.describe_services().cluster(cluster).services(name);
    let request = request.include(aws_sdk_ecs::types::ServiceField::Tags);
    let out = request.send().await.expect("DescribeServices");
    out.services().first().cloned()
}

/// Asserts that `text` contains `needle`, showing the text when it does not.
#[track_caller]
pub fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not found in:\n{text}");
}

/// The element of JSON array `array` whose `key` is `value`.
#[track_caller]
pub fn find_in<'a>(array: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    let items = array.as_array().expect("an array");
    let found = items.iter().find(|item| item[key] == value);
    found.unwrap_or_else(|| panic!("no {key} = {value} in {array}"))
}

/// stdout then stderr of a run, as one text.
pub fn printed(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// A plain HTTP/1.0 GET to 127.0.0.1:`port`: (status code, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    request(port, "GET", path, &[], "")
}

/// The one raw HTTP/1.0 request of the test support: (status code, body).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(stream, "{head}Content-Length: {}\r\n\r\n{body}", body.len())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let answer = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((code, answer))
}

/// The response headers of a GET, lower-cased, one per line.
pub fn headers(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(h, _)| {
            h.to_ascii_lowercase().replace("\r\n", "\n")
        }))
}

/// An Authorization header moto accepts (it checks no signature, only the service scope).
fn signed_as(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
    )
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `check` every 50 ms until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
