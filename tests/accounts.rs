//! One controller, many accounts: groups that name their account by a role to assume, against
//! the local endpoint serving several accounts (its STS AssumeRole checks the role's trust).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{assert_has, condition, show, status_json, Moto, ACCOUNT};

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";
const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

/// A FARGATE group in `account` (`None`: the controller's own) and `region`.
fn group(
    name: &str,
    account: Option<(&str, Option<&str>)>,
    region: &str,
    subnet: &str,
    extra: &str,
) -> String {
    let mut fixture = plan::DesiredGroup::test(name)
        .count(1)
        .region(region)
        .fargate(subnet)
        .spec(extra);
    if let Some((id, external_id)) = account {
        fixture = fixture.in_account(id, external_id);
    }
    fixture.yaml()
}

/// Three target accounts and the controller's own, over two regions.
struct Fleet {
    moto: Moto,
    subnets: BTreeMap<&'static str, BTreeMap<String, String>>,
}

impl Fleet {
    async fn start() -> Fleet {
        let moto = Moto::with_clusters(&["c1"]);
        let mut subnets = BTreeMap::new();
        subnets.insert(A, moto.target_account(A, &[EAST, WEST], ACCOUNT, None));
        subnets.insert(B, moto.target_account(B, &[EAST], ACCOUNT, None));
        subnets.insert(
            C,
            moto.target_account(C, &[WEST], ACCOUNT, Some("edc-external-42")),
        );
        let (own_subnet, _) = moto.default_network().await;
        let fleet = Fleet { moto, subnets };
        // a-east and b-east run a service of the same name, in accounts A and B.
        let same_service = "  service: {name: delegates}";
        let c = Some((C, Some("edc-external-42")));
        for (name, account, region, extra) in [
            ("a-east", Some((A, None)), EAST, same_service),
            ("a-west", Some((A, None)), WEST, ""),
            ("b-east", Some((B, None)), EAST, same_service),
            ("b-other", Some((B, None)), EAST, ""),
            ("c-west", c, WEST, ""),
        ] {
            fleet.write(name, account, region, extra);
        }
        fleet.moto.write(
            "groups/own.yaml",
            &group("own", None, EAST, &own_subnet, ""),
        );
        fleet
    }

    /// `groups/NAME.yaml`.
    fn write(
        &self,
        name: &str,
        account: Option<(&'static str, Option<&str>)>,
        region: &str,
        extra: &str,
    ) {
        let id = account.map(|(id, _)| id).unwrap_or(ACCOUNT);
        let subnet = &self.subnets[id][region];
        self.moto.write(
            &format!("groups/{name}.yaml"),
            &group(name, account, region, subnet, extra),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_in_three_accounts_and_two_regions_land_only_where_their_files_say() {
    let fleet = Fleet::start().await;
    let moto = &fleet.moto;
    moto.run_ok(&["reconcile", "--once", "--wait", "90s", "groups"]);

    // Each account's own view: a service exists only where its file says.
    assert_eq!(moto.services_in(A, EAST), ["delegates"]);
    assert_eq!(moto.services_in(A, WEST), ["a-west"]);
    assert_eq!(moto.services_in(B, EAST), ["b-other", "delegates"]);
    assert!(moto.services_in(B, WEST).is_empty());
    assert_eq!(moto.services_in(C, WEST), ["c-west"]);
    assert!(moto.services_in(C, EAST).is_empty());
    assert_eq!(moto.services_in(ACCOUNT, EAST), ["own"]);
    assert!(moto.services_in(ACCOUNT, WEST).is_empty());

    // One AssumeRole per target (A east and west, B east, C west) for the whole run, however
    // many passes --wait made.
    let assumed = moto.query_requests("AssumeRole");
    assert_eq!(assumed.len(), 4, "{assumed:?}");
    // The role's external id was sent for C, and the session is named after the controller.
    assert!(
        assumed
            .iter()
            .any(|r| r.contains("ExternalId=edc-external-42")),
        "{assumed:?}"
    );
    assert!(assumed
        .iter()
        .all(|r| r.contains("RoleSessionName=ecs-delegate-controller")));

    // Status and plan carry the account and region.
    let status = status_json(moto, "groups");
    let by_name: BTreeMap<String, &Value> = status["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap().to_owned(), g))
        .collect();
    assert_eq!(by_name["a-west"]["account"], A);
    assert_eq!(by_name["a-west"]["region"], WEST);
    assert_eq!(by_name["own"]["account"], Value::Null);
    for g in by_name.values() {
        assert_eq!(condition(g, "Ready")["status"], "True", "{g}");
    }
    let table = moto.run(&["status", "groups"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert_has(&text, &format!("{C}/{WEST}"));
    assert_has(&text, &format!("self/{EAST}"));

    // A second pass writes nothing.
    moto.reset_calls();
    let again = moto.run_ok(&["reconcile", "--once", "groups"]);
    assert!(moto.writes().is_empty(), "{:?}", moto.writes());
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 changed, 6 in sync"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_whose_role_refuses_the_controller_stalls_only_its_groups() {
    let fleet = Fleet::start().await;
    let moto = &fleet.moto;
    // D's role trusts another account; E's wants an external id the group does not send.
    let d = "444444444444";
    let subnets = moto.target_account(d, &[EAST], "999999999999", None);
    moto.write(
        "groups/d.yaml",
        &group("d-east", Some((d, None)), EAST, &subnets[EAST], ""),
    );
    let out = moto.run(&["reconcile", "--once", "groups"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("d-east"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_has(line, "not authorized to perform: sts:AssumeRole");
    assert_has(&stdout, "6 changed, 0 in sync, 1 failed");
    assert!(moto.services_in(d, EAST).is_empty());
    assert_eq!(moto.services_in(C, WEST), ["c-west"]);

    let status = status_json(moto, "groups/d.yaml");
    let stalled = condition(&status["groups"][0], "Stalled");
    assert_eq!(stalled["reason"], "AssumeRoleFailed");
    assert!(stalled["message"]
        .as_str()
        .unwrap()
        .contains(&format!("arn:aws:iam::{d}:role/edc-target")));
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_across_accounts_removes_only_the_deleted_groups_service_in_its_own_account() {
    let fleet = Fleet::start().await;
    let moto = &fleet.moto;
    moto.reconciled("groups");
    // b-east and a-east both run a service named "delegates", in accounts B and A.
    moto.remove("groups/b-east.yaml");
    let out = moto.run_ok(&["reconcile", "--once", "--prune", "groups"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "b-east (c1 in {B}/{EAST}): deleted service delegates"
        )),
        "{}",
        show(&out)
    );
    assert_eq!(moto.services_in(B, EAST), ["b-other"]);
    assert_eq!(moto.services_in(A, EAST), ["delegates"]);
    assert_eq!(moto.services_in(A, WEST), ["a-west"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_must_live_in_its_roles_account() {
    let moto = Moto::start();
    let yaml = group("x", Some((A, None)), EAST, "subnet-1", "").replace(
        &format!("arn:aws:iam::{A}:role/ecsTaskExecutionRole"),
        &format!("arn:aws:iam::{B}:role/ecsTaskExecutionRole"),
    );
    moto.write("x.yaml", &yaml);
    let out = moto.run(&["validate", "x.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(&err, &format!(
            "x.yaml:9:5: error: spec.roles.execution: is in account {B}, but spec.account.roleArn is in {A}"
        ));
    let bad = group("y", Some((A, None)), EAST, "subnet-1", "")
        .replace("role/edc-target", "user/edc-target");
    moto.write("y.yaml", &bad);
    let out = moto.run(&["validate", "y.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(&err, "error: spec.account.roleArn:");
    assert!(moto.calls().is_empty(), "validation never calls AWS");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_reads_a_service_of_another_account_and_writes_its_account() {
    let fleet = Fleet::start().await;
    let moto = &fleet.moto;
    moto.reconciled("groups/a-west.yaml");
    let role = format!("arn:aws:iam::{A}:role/edc-target");
    let import = [
        "import",
        "--cluster",
        "c1",
        "--service",
        "a-west",
        "--region",
        WEST,
    ];
    let out = moto.run_ok(&[&import[..], &["--account-role-arn", &role]].concat());
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert_has(&yaml, &format!("roleArn: {role}"));
    assert_has(&yaml, &format!("region: {WEST}"));
    // The imported group validates: its ARNs are in the role's account.
    moto.write("imported/a-west.yaml", &yaml);
    let policy = moto.adoption_policy(&["c1"]);
    moto.run_ok(&["validate", "imported/a-west.yaml", "--policy", &policy]);

    // Not in the controller's own account.
    let own = moto.run(&import);
    assert!(!own.status.success(), "{}", show(&own));
}
