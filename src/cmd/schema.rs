//! `schema`: the JSON Schema of DelegateGroup.

use std::io::Write as _;
use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(&spec::json_schema())?;
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(ExitCode::SUCCESS)
}
