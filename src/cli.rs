//! The command line: argument types (clap derive) and the dispatch to each command.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Reconciles Harness Delegate fleets on AWS ECS from DelegateGroup YAML files.
#[derive(Debug, Parser)]
#[command(name = "ecs-delegate-controller", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check DelegateGroup files without touching AWS: exit 0 when valid, 1 with every error
    /// (file:line:col) on stderr otherwise.
    Validate {
        /// Files, or directories searched recursively for *.yaml and *.yml.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Print the JSON Schema of DelegateGroup, for editors
    /// (`# yaml-language-server: $schema=...`) and linters.
    Schema,
}

impl Cli {
    /// Parses the process arguments and runs the command.
    pub fn parse_and_run() -> ExitCode {
        Cli::parse().run()
    }

    fn run(self) -> ExitCode {
        match self.command {
            Command::Validate { paths } => validate(&paths),
            Command::Schema => schema(),
        }
    }
}

fn validate(paths: &[PathBuf]) -> ExitCode {
    match spec::load(paths) {
        Ok(groups) => {
            let files: std::collections::BTreeSet<_> = groups.iter().map(|g| &g.file).collect();
            println!(
                "valid: {} group{} in {} file{}",
                groups.len(),
                plural(groups.len()),
                files.len(),
                plural(files.len()),
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            let count = diagnostics.0.len();
            eprintln!("{diagnostics}");
            eprintln!("{count} error{}; nothing was applied", plural(count));
            ExitCode::FAILURE
        }
    }
}

fn schema() -> ExitCode {
    let text = serde_json::to_string_pretty(&spec::json_schema()).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
