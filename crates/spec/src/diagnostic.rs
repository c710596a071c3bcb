//! Errors in DelegateGroup files, reported as `path:line:col: error: field: message`.

use std::fmt;
use std::path::PathBuf;

use crate::location::{FieldPath, Position};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file, as the user named it (or as found under a named directory).
    pub file: PathBuf,
    /// Where in the file; `None` when the file itself could not be read.
    pub position: Option<Position>,
    /// The field at fault, e.g. `spec.network.subnets`.
    pub field: FieldPath,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(position) = self.position {
            write!(f, ":{position}")?;
        }
        write!(f, ": error: ")?;
        if !self.field.as_str().is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a set of files; non-empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}
