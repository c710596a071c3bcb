//! `validate PATH...`: the files alone, no AWS.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::wiring::plural;

pub fn run(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let groups = match spec::load(paths) {
        Ok(groups) => groups,
        Err(diagnostics) => {
            let count = diagnostics.0.len();
            eprintln!("{diagnostics}");
            eprintln!("{count} error{}; nothing was applied", plural(count));
            return Ok(ExitCode::FAILURE);
        }
    };
    let files: BTreeSet<_> = groups.iter().map(|g| &g.file).collect();
    println!(
        "valid: {} group{} in {} file{}",
        groups.len(),
        plural(groups.len()),
        files.len(),
        plural(files.len()),
    );
    Ok(ExitCode::SUCCESS)
}
