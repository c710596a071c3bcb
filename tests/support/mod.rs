//! Shared helpers of the end-to-end tests: the binary, the repository, the moto virtualenv.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

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
