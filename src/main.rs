//! ecs-delegate-controller: reconciles Harness Delegate fleets on AWS ECS from DelegateGroup files.
//!
//! A thin binary: `cli` parses, `cmd` runs one module per command, `wiring` builds what they
//! share, `status_table` prints. Every decision is in the library crates.

mod cli;
mod cmd;
mod memory;
mod status_table;
mod wiring;

fn main() -> std::process::ExitCode {
    // Before any thread exists: the allocator's settings hold for the whole process.
    memory::settle();
    cli::Cli::parse_and_run()
}
