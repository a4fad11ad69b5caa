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
    /// A multi-fidelity trial ([`crate::fidelity`]): its scores after this many epochs
    /// instead of after `budget.epochs` (a training evaluator trains that many epochs, a
    /// table answers the value its learning curve recorded after them). None: the
    /// budget's.
    pub fidelity: Option<u32>,
}

impl<'a> EvalRequest<'a> {
    /// Training `arch` under `budget` from trial seed `seed`, scored on the validation
    /// split only, at the budget's epochs.
    pub fn new(arch: &'a Architecture, budget: &'a Budget, seed: u64) -> Self {
        EvalRequest {
            arch,
            budget,
            seed,
            test: false,
            fidelity: None,
        }
    }

    /// Also scored on the test set.
    pub fn with_test(self, test: bool) -> Self {
        EvalRequest { test, ..self }
    }

    /// At `epochs` epochs instead of the budget's (None: the budget's).
    pub fn with_fidelity(self, epochs: Option<u32>) -> Self {
        EvalRequest {
            fidelity: epochs,
            ..self
        }
    }

    /// The epochs this request's scores are after: the fidelity, or the budget's.
    pub fn epochs(&self) -> u32 {
        self.fidelity.unwrap_or(self.budget.epochs)
    }
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

    /// True when a trial that continues an earlier training of the same architecture and
    /// seed ([`crate::Proposal::continuing`]) costs only its new epochs: a table answers
    /// it from the learning curve it recorded (the training seconds between the two
    /// epochs), or an evaluator keeps its trainings' state. The default, false: a
    /// continued trial is trained from scratch to its fidelity, with the same seed, and
    /// costs the whole training.
    fn continues(&self) -> bool {
        false
    }
}
