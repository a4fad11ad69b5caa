//! Error categories of the runner: bad input (exit code 2) versus everything else (1).

use std::fmt;
use std::path::{Path, PathBuf};

/// Input the user can fix: a config, a data directory, an output directory, a journal
/// from another experiment. The binary exits with code 2 on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// The file or directory at fault, if any.
    pub path: Option<PathBuf>,
    /// Line and column (1-based) in that file, if known.
    pub position: Option<(usize, usize)>,
    /// Dotted path of the config field at fault, if any (e.g. `training.batch_size`).
    pub field: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl BadInput {
    /// A message without location.
    pub fn new(message: impl Into<String>) -> Self {
        BadInput {
            path: None,
            position: None,
            field: None,
            message: message.into(),
        }
    }

    /// A message about a file or directory.
    pub fn at(path: &Path, message: impl Into<String>) -> Self {
        BadInput {
            path: Some(path.to_path_buf()),
            ..BadInput::new(message)
        }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}", path.display())?;
            if let Some((line, col)) = self.position {
                write!(f, ":{line}:{col}")?;
            }
            f.write_str(": ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for BadInput {}

/// True when an error (or any error it wraps) is [`BadInput`].
pub fn is_bad_input(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<BadInput>().is_some())
}
