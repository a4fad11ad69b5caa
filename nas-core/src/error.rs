//! The one error type of nas-core.

use thiserror::Error;

/// Everything that can go wrong in nas-core.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of its allowed range.
    #[error("invalid value for `{field}`: {value} (allowed: {allowed})")]
    InvalidParam {
        /// Dotted path of the field, e.g. `space.conv2d.filters`.
        field: String,
        /// The rejected value, as written.
        value: String,
        /// What would have been accepted.
        allowed: String,
    },
    /// The text form of an architecture could not be parsed.
    #[error("cannot parse architecture `{text}`: {reason}")]
    ParseArchitecture {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An architecture is not a member of the search space (or not valid for its input).
    #[error("architecture `{arch}` is not in the search space: {reason}")]
    NotInSpace {
        /// Canonical text of the architecture.
        arch: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The search space holds no architecture that is valid for the input shape.
    #[error("the search space has no valid architecture for input {input}: {reason}")]
    EmptySpace {
        /// The input shape, e.g. `1x28x28`.
        input: String,
        /// Why nothing fits.
        reason: String,
    },
    /// An encoded genome does not fit the encoding.
    #[error("invalid genome: {0}")]
    Genome(String),
    /// A strategy was used against its contract (e.g. told a trial it never asked for).
    #[error("strategy error: {0}")]
    Strategy(String),
}

/// Result alias of nas-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidParam`].
    pub fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Error::InvalidParam {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}
