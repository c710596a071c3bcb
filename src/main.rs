//! ecs-delegate-controller: reconciles Harness Delegate fleets on AWS ECS from DelegateGroup files.

mod cli;
mod run;
mod status_table;
mod wait;

fn main() -> std::process::ExitCode {
    cli::Cli::parse_and_run()
}
