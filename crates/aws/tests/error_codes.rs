//! Every error code aws-sdk-ecs models has a decided kind: a new one in an SDK update fails
//! this test until it is classified. The codes are read from the SDK crate's source (one file
//! per modelled error), at the version Cargo.lock pins.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use client::error::classify;
use client::{ErrorKind, Operation};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `ClusterNotFoundException` for every `src/types/error/_cluster_not_found_exception.rs`.
fn modelled_codes(package: &str) -> Vec<String> {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains(&format!("name = \"{package}\"\n")))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"),
        PathBuf::from,
    );
    let registry = cargo_home.join("registry/src");
    let dir = std::fs::read_dir(&registry)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .join(format!("{package}-{version}/src/types/error"))
        })
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("{package} {version} not found under {}", registry.display()));
    let mut codes: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_prefix('_')?.strip_suffix(".rs").map(str::to_owned))
        .map(|snake| {
            snake
                .split('_')
                .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
                .collect()
        })
        .collect();
    codes.sort();
    codes
}

#[test]
fn every_ecs_error_code_the_sdk_models_is_classified_on_purpose() {
    use ErrorKind::*;
    let expected: BTreeMap<&str, ErrorKind> = BTreeMap::from([
        ("AccessDeniedException", AccessDenied),
        ("AttributeLimitExceededException", Invalid),
        ("BlockedException", AccessDenied),
        ("ClientException", Invalid),
        ("ClusterContainsCapacityProviderException", Conflict),
        ("ClusterContainsContainerInstancesException", Conflict),
        ("ClusterContainsServicesException", Conflict),
        ("ClusterContainsTasksException", Conflict),
        ("ClusterNotFoundException", NotFound),
        ("ConflictException", Conflict),
        ("DaemonNotActiveException", Conflict),
        ("DaemonNotFoundException", NotFound),
        ("GatewayNotFoundException", Invalid),
        ("InvalidParameterException", Invalid),
        ("LimitExceededException", Invalid),
        ("MissingVersionException", Invalid),
        ("NamespaceNotFoundException", Invalid),
        ("NoUpdateAvailableException", Invalid),
        ("PlatformTaskDefinitionIncompatibilityException", Invalid),
        ("PlatformUnknownException", Invalid),
        ("ResourceInUseException", Conflict),
        ("ResourceNotFoundException", NotFound),
        // ECS's own failure (HTTP 5xx): worth another try.
        ("ServerException", Other),
        ("ServiceDeploymentNotFoundException", NotFound),
        ("ServiceNotActiveException", Conflict),
        ("ServiceNotFoundException", NotFound),
        ("TargetNotConnectedException", Invalid),
        ("TargetNotFoundException", Invalid),
        ("TaskSetNotFoundException", NotFound),
        ("UnsupportedFeatureException", Invalid),
        ("UpdateInProgressException", Conflict),
    ]);
    let modelled = modelled_codes("aws-sdk-ecs");
    let listed: Vec<&str> = expected.keys().copied().collect();
    assert_eq!(
        modelled, listed,
        "the SDK's ECS error codes (left) and this table (right) must list the same codes"
    );
    for (code, kind) in &expected {
        assert_eq!(
            classify(Operation::UpdateService, Some(code), "any message"),
            *kind,
            "{code}"
        );
    }
}
