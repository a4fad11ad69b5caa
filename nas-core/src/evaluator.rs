//! The evaluator contract: train an architecture under a budget and score it.

use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;
use crate::trial::{Metrics, Status};

/// How much training a trial gets: the fidelity knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// Passes over the training subset (default 1).
    pub epochs: u32,
    /// Number of training images used (None: the whole training split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_subset: Option<u32>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            epochs: 1,
            train_subset: None,
        }
    }
}

/// One evaluation to perform.
#[derive(Debug, Clone, Copy)]
pub struct EvalRequest<'a> {
    /// The network to train.
    pub arch: &'a Architecture,
    /// How much to train it.
    pub budget: &'a Budget,
    /// The trial seed: weight init, batch order and dropout derive from it alone.
    pub seed: u64,
    /// Also score on the test set (final evaluation of a chosen architecture only).
    pub test: bool,
}

/// The result of an evaluation that ran to an end.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// [`Status::Ok`] or [`Status::Diverged`].
    pub status: Status,
    /// For a diverged trial: where and how (e.g. "loss NaN at epoch 1, step 37").
    pub reason: Option<String>,
    /// What was measured (scores are None for a diverged trial).
    pub metrics: Metrics,
}

/// An error an evaluator can return; the trial is recorded as `failed` with its message.
pub type EvalError = Box<dyn std::error::Error + Send + Sync>;

/// Something that scores architectures: trains them on data, looks them up in a table, or
/// computes a formula. Implementations must be deterministic in (arch, budget, seed).
pub trait Evaluator: Send + Sync {
    /// Evaluates one architecture.
    fn evaluate(&self, request: &EvalRequest<'_>) -> Result<Evaluation, EvalError>;
}
