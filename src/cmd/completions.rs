//! `completions bash|zsh|fish`.

use std::process::ExitCode;

use crate::cli::{Cli, CompletionShell};

pub fn run(shell: CompletionShell) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "ecs-delegate-controller",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}
