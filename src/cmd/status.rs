//! `status PATH...`: a pass that plans only, printed as each group's status.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use engine::{AlwaysOpen, Mode};
use plan::GroupStatus;

use crate::cli::{GlobalArgs, StatusFormat};
use crate::wiring::prepare;

pub async fn run(
    global: &GlobalArgs,
    paths: &[PathBuf],
    output: StatusFormat,
) -> anyhow::Result<ExitCode> {
    let Some((groups, scope, engine)) =
        prepare(global, paths, 8, false, true, crate::wiring::OnEmpty::Warn).await?
    else {
        return Ok(ExitCode::FAILURE);
    };
    let report = engine
        .pass(&scope, &groups, Mode::Plan, None, &AlwaysOpen)
        .await;
    let statuses: Vec<GroupStatus> = report.groups.into_iter().map(|g| g.status).collect();
    let text = match output {
        StatusFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({ "groups": statuses }))? + "\n"
        }
        StatusFormat::Table => crate::status_table::table(&statuses),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
