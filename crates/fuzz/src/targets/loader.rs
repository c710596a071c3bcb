//! A group file's bytes through the screen, the YAML parsers and validation: it ends, and every
//! problem it reports stands inside the file.

use std::path::Path;

/// Loads `data` as one file.
pub fn run(data: &[u8]) {
    let (groups, problems) = spec::load_bytes(Path::new("fuzz.yaml"), data);
    // Lines as YAML counts them: a break is CR LF, CR or LF.
    let lines = data
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count()
        + 1;
    for problem in &problems {
        if let Some(position) = problem.position {
            assert!(
                position.line >= 1 && position.line <= lines && position.col >= 1,
                "{problem} is outside a file of {lines} lines"
            );
        }
        assert!(!problem.message.is_empty());
    }
    if problems.is_empty() {
        assert!(
            spec::bytes::screen(data).is_ok(),
            "a refused file had no problem"
        );
    } else if spec::bytes::screen(data).is_err() {
        assert!(groups.is_empty(), "a refused file still gave groups");
    }
}
