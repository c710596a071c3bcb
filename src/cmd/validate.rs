//! `validate PATH...`: the files alone, no AWS.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::GlobalArgs;
use crate::wiring::plural;

pub fn run(global: &GlobalArgs, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let policy = crate::wiring::policy(global, paths)?;
    let groups = match spec::load_with_policy(paths, &policy) {
        Ok(groups) => groups,
        Err(diagnostics) => {
            let count = diagnostics.0.len();
            eprintln!("{diagnostics}");
            eprintln!("{count} error{}; nothing was applied", plural(count));
            return Ok(ExitCode::FAILURE);
        }
    };
    // With the Harness check configured, a group whose manager URL the key may not go to is
    // reconciled but never checked: say so before it is applied.
    if global.harness_api_key_secret.is_some() || !global.harness_origins.is_empty() {
        let origins = crate::wiring::harness_origins(global)?;
        for loaded in &groups {
            let url = &loaded.group.spec.delegate.manager_url;
            if !origins.allows_str(url) {
                let field = spec::FieldPath::new("spec.delegate.managerUrl");
                eprintln!(
                    "{}:{}: warning: {field}: the Harness API key is not sent to {url:?} (not among --harness-origin {}); this group's connection will not be checked",
                    loaded.file.display(),
                    loaded.index.locate(&field),
                    origins.as_slice().join(",")
                );
            }
        }
    }
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
