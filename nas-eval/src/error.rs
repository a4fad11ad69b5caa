//! The one error type of nas-eval's training side.

use thiserror::Error;

/// Everything that can go wrong building or training a network.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The architecture cannot be built on the data set's input shape.
    #[error("architecture `{arch}` cannot be built on input {input}: {reason}")]
    Build {
        /// Canonical text of the architecture.
        arch: String,
        /// The input shape, e.g. `1x28x28`.
        input: String,
        /// Why not.
        reason: String,
    },
    /// A training parameter is out of range (see [`TrainParams`](crate::TrainParams)).
    #[error(transparent)]
    Param(#[from] nas_core::Error),
    /// The data given to the evaluator do not fit together (empty split, index out of
    /// range, label above the classes...).
    #[error("data: {0}")]
    Data(String),
    /// The budget asks for something impossible (no epoch, a training subset larger than
    /// the training split...).
    #[error("budget: {0}")]
    Budget(String),
    /// The worker threads of a trial could not be started.
    #[error("cannot start {threads} threads: {reason}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// The system's answer.
        reason: String,
    },
    /// `NAS_SIMD` names an unknown kernel family, or one this CPU cannot run.
    #[error("NAS_SIMD={value}: {reason}")]
    Simd {
        /// The value of `NAS_SIMD`.
        value: String,
        /// What is wrong with it and what is allowed.
        reason: String,
    },
    /// The data set could not be read or split.
    #[error(transparent)]
    Dataset(#[from] crate::data::DataError),
    /// The candle reference backend failed.
    #[error("candle backend: {0}")]
    Candle(#[from] candle_core::Error),
    /// The trial would need more memory than a trial may use (see [`crate::memory`]):
    /// refused before anything was allocated.
    #[error(
        "needs an estimated {estimate} of memory to train ({details}), above the limit of {limit} ({why})"
    )]
    Memory {
        /// The estimate, for people.
        estimate: String,
        /// What it counts.
        details: String,
        /// The limit, for people.
        limit: String,
        /// Where the limit comes from.
        why: String,
    },
    /// The configured `max_memory` is more than this machine can give a trial.
    #[error(
        "max_memory = \"{limit}\" is more than this machine can give a trial ({budget}: {why}); lower it, or run where more memory is free"
    )]
    MemoryLimit {
        /// The configured limit.
        limit: String,
        /// What the machine can give, for people.
        budget: String,
        /// How that was found.
        why: String,
    },
}

/// Result alias of nas-eval's training side.
pub type Result<T, E = Error> = std::result::Result<T, E>;
