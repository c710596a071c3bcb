//! `import` as pure functions: Harness's downloaded task spec to a group (the token never
//! copied), and a live service to a group that renders it exactly and plans only the adoption.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::Path;

use ecs_delegate_plan as plan;
use plan::{plan_group, DesiredGroup, ObservedGroup, ObservedService, ObservedTaskDefinition};
use serde_json::Value;
use spec::import::{import, to_yaml, ImportSource};
use spec::Mode;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo().join(path)).unwrap()).unwrap()
}

#[test]
fn a_harness_task_spec_becomes_a_group_without_its_token() {
    let td = read_json("tests/fixtures/ecs-task-spec.json");
    let service = read_json("tests/fixtures/service-spec-for-awsvpc-mode.json");
    let imported = import(&ImportSource {
        task_definition: &td,
        service: Some(&service),
        name: None,
        cluster: None,
        exact: false,
    })
    .unwrap();
    let yaml = to_yaml(&imported, "ecs-task-spec.json");
    assert!(!yaml.contains("NjU0MzIxZmFrZXRva2VuZm9ydGVzdHM="), "{yaml}");
    assert!(
        imported.warnings.iter().any(|w| w.contains("token")),
        "{:?}",
        imported.warnings
    );
    insta::assert_snapshot!("harness_task_spec", yaml);
}

/// Harness's FirstGen download: the template's locations become `spec.delegate.firstgen`, the
/// profile id and group id are kept, the plain-text account secret is not, and the group renders
/// back every variable of the template.
#[test]
fn a_firstgen_download_imports_and_renders_every_template_variable() {
    let td = read_json("tests/fixtures/firstgen/ecs-task-spec.json");
    let imported = import(&ImportSource {
        task_definition: &td,
        service: None,
        name: None,
        cluster: Some("delegates"),
        exact: false,
    })
    .unwrap();
    let yaml = to_yaml(&imported, "ecs-task-spec.json");
    assert!(!yaml.contains("2f6b0988b6fb3370073c3d0505baee59"), "{yaml}");
    let group = &imported.group;
    assert_eq!(group.metadata.name, "ecs-fg");
    assert_eq!(group.spec.delegate.flavor, spec::Flavor::Firstgen);
    assert_eq!(
        group.spec.profile.as_deref(),
        Some("QFWin33JRlKWKBzpzE5A9A")
    );
    let download = group.spec.delegate.firstgen.as_ref().unwrap();
    assert_eq!(
        download.watcher_storage_url,
        "https://app.harness.io/public/prod/premium/watchers"
    );
    assert_eq!(download.watcher_check_location, "current.version");
    assert_eq!(download.delegate_check_location, "delegateprod.txt");
    assert_eq!(download.delegate_group_id, "nEwOdYpSRqS1VsO1lmzBxw");
    assert!(download.use_cdn);
    assert!(
        group.spec.delegate.env.is_empty(),
        "the template's defaults are not copied: {:?}",
        group.spec.delegate.env
    );
    insta::assert_snapshot!("firstgen_task_spec", yaml);

    // With the token's placeholder replaced, the group is valid and renders every variable of
    // Harness's template, with the template's values (the secret as a secret).
    let yaml = yaml.replace(
        "REPLACE-ME: the ARN of the secret holding the delegate token",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:account-secret",
    );
    let yaml = yaml.replace(
        "REPLACE-ME: the ARN of the task execution role",
        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
    );
    let group = spec::parse_group(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let rendered = DesiredGroup::new(group, "us-east-1").unwrap().rendered;
    let container = &rendered.task_definition.container_definitions[0];
    let rendered_env: std::collections::BTreeMap<&str, &str> = container
        .environment
        .iter()
        .map(|kv| (kv.name.as_str(), kv.value.as_str()))
        .collect();
    for var in td["containerDefinitions"][0]["environment"]
        .as_array()
        .unwrap()
    {
        let (name, value) = (
            var["name"].as_str().unwrap(),
            var["value"].as_str().unwrap(),
        );
        if name == "ACCOUNT_SECRET" {
            assert_eq!(container.secrets[0].name, "ACCOUNT_SECRET");
            continue;
        }
        assert_eq!(rendered_env.get(name), Some(&value), "{name}");
    }
    assert_eq!(
        rendered_env["DELEGATE_NAME"], "ecs-fg",
        "what delegateList lists"
    );
}

/// A service someone made by hand, exactly as `d` would render it, without ownership tags.
fn hand_made(d: &DesiredGroup) -> (ObservedService, ObservedTaskDefinition) {
    let doc = d.rendered.service.clone().unwrap();
    let arn = format!(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:7",
        d.rendered.task_definition.family
    );
    let service = ObservedService {
        name: doc.service_name.clone(),
        arn: format!(
            "arn:aws:ecs:us-east-1:123456789012:service/{}/{}",
            d.cluster(),
            doc.service_name
        ),
        status: "ACTIVE".into(),
        desired_count: doc.desired_count,
        task_definition: arn.clone(),
        // Neither: the cluster's default strategy, EC2 on a cluster without one.
        launch_type: doc.launch_type.clone().or_else(|| {
            doc.capacity_provider_strategy
                .is_empty()
                .then(|| "EC2".into())
        }),
        capacity_provider_strategy: doc.capacity_provider_strategy.clone(),
        network: doc.network_configuration.map(|n| n.awsvpc_configuration),
        deployment_configuration: Some(doc.deployment_configuration.clone()),
        enable_execute_command: doc.enable_execute_command,
        propagate_tags: Some(doc.propagate_tags.clone()),
        ..ObservedService::default()
    };
    let revision = ObservedTaskDefinition {
        arn,
        family: d.rendered.task_definition.family.clone(),
        revision: 7,
        status: "ACTIVE".into(),
        spec_hash: None,
        document_hash: Some(spec::hash::spec_hash(&d.rendered.task_definition)),
        unsupported: Vec::new(),
        document: None,
    };
    (service, revision)
}

#[test]
fn every_example_service_is_adopted_exactly_with_only_the_ownership_tags_to_add() {
    let dir = repo().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut adopted = 0;
    for loaded in spec::load(&files).unwrap() {
        if loaded.group.spec.mode != Mode::Service {
            continue;
        }
        let original = DesiredGroup::new(loaded.group, "us-east-1").unwrap();
        let (service, revision) = hand_made(&original);
        let (td, service_json) = plan::adopt::live_documents(
            &service,
            original.cluster(),
            &original.rendered.task_definition,
        )
        .unwrap();
        let imported = import(&ImportSource {
            task_definition: &td,
            service: Some(&service_json),
            name: Some(original.name()),
            cluster: None,
            exact: true,
        })
        .unwrap_or_else(|e| panic!("{}: {e}", original.name()));
        let group = DesiredGroup::new(imported.group, "us-east-1").unwrap();
        assert_eq!(
            group.rendered.task_definition,
            original.rendered.task_definition,
            "{}: the imported group renders the live task definition exactly",
            original.name()
        );
        let plan = plan_group(
            &group,
            &ObservedGroup {
                service: Some(service),
                service_task_definition: Some(revision),
                ..ObservedGroup::default()
            },
            &plan::PlanOptions {
                controller_id: "default".into(),
                allow_replace: false,
            },
        );
        assert!(plan.error.is_none(), "{plan:?}");
        assert_eq!(plan.actions.len(), 1, "{plan:?}");
        assert!(
            plan.actions[0].is_tags_only(),
            "{}: only the adoption: {plan:?}",
            original.name()
        );
        adopted += 1;
    }
    assert_eq!(adopted, 5, "every service-mode example");
}
