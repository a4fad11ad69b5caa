//! Multi-fidelity search: trials at a budget, continued trainings and simulated workers.
//!
//! A multi-fidelity strategy (successive halving, Hyperband, BOHB, ASHA) does not only say
//! which architecture to evaluate, but how much to train it: its [`Proposal`] carries a
//! fidelity, in epochs (the unit every nas evaluator declares: a training evaluator
//! trains that many epochs, a table answers the value recorded after that many epochs),
//! and may ask to *continue* a trial of the same architecture that it ran before at a
//! smaller fidelity, instead of training from scratch.
//!
//! The loop ([`crate::run`]) turns the proposal into a trial whose [`Fidelity`] records
//! what it got and what it cost: a trial that continues trial `j` from 3 to 9 epochs
//! reuses `j`'s training seed (so its network is the one an uninterrupted 9-epoch
//! training with that seed gives), and costs 6 epochs and the training seconds between
//! the two. Budgets (`max_train_epochs`, `max_train_seconds`), tables and plots count
//! that cost ([`crate::Trial::cost`]). That holds for an evaluator that
//! [continues trainings](crate::Evaluator::continues) (a table with learning curves
//! answers the continued trial from the recorded training); any other trains the trial
//! from scratch to its fidelity with the same seed, and the host records
//! `prior_epochs = 0`: it costs the whole training. (Keeping a real training's weights and
//! optimiser state to continue it is not implemented yet.)
//!
//! A strategy that does not know of fidelities never sees any of this: the default
//! [`crate::Strategy::propose`] asks for an architecture at the run's budget, and its
//! trials are recorded exactly as before (no `fidelity` field).
//!
//! With simulated workers ([`crate::RunState::simulated`]), each trial also records its
//! [`Schedule`]: which simulated worker ran it, and when it started and ended on the
//! simulated clock.

use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;

/// What a strategy proposes: an architecture, and for a multi-fidelity strategy the
/// fidelity to evaluate it at and the earlier trial to continue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The architecture.
    pub arch: Architecture,
    /// Epochs of training to evaluate it after (None: the run's per-trial budget, as a
    /// single-fidelity strategy asks).
    pub epochs: Option<u32>,
    /// Index of an earlier finished trial of the same architecture, at fewer epochs, whose
    /// training this one continues (with `epochs` set).
    pub continues: Option<u32>,
}

impl Proposal {
    /// `arch` at the run's budget (what a single-fidelity strategy proposes).
    pub fn new(arch: Architecture) -> Self {
        Proposal {
            arch,
            epochs: None,
            continues: None,
        }
    }

    /// `arch` trained from scratch for `epochs` epochs.
    pub fn at(arch: Architecture, epochs: u32) -> Self {
        Proposal {
            arch,
            epochs: Some(epochs),
            continues: None,
        }
    }

    /// Trial `trial` (of `arch`) trained on to `epochs` epochs in all.
    pub fn continuing(arch: Architecture, trial: u32, epochs: u32) -> Self {
        Proposal {
            arch,
            epochs: Some(epochs),
            continues: Some(trial),
        }
    }
}

/// The fidelity a trial of a multi-fidelity strategy got, and what it cost.
///
/// Its scores are those after `epochs` epochs of training. When it continued an earlier
/// training, `prior_epochs` and `prior_seconds` are what that training had already done
/// (and paid for): the trial's cost is its metrics' epochs and training seconds minus
/// them (see [`crate::Trial::cost`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Epochs of training asked for.
    pub epochs: u32,
    /// The trial whose training it continued (asked for by the strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<u32>,
    /// Epochs already trained before this trial (0: trained from scratch, also when the
    /// evaluator cannot continue a training and trained the whole budget again).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub prior_epochs: u32,
    /// Training seconds of those prior epochs (included in the trial's
    /// `metrics.train_seconds`, which counts the whole training of its network).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub prior_seconds: f64,
}

fn is_zero_u32(x: &u32) -> bool {
    *x == 0
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

/// When and where a trial ran on the simulated workers of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The simulated worker (0-based).
    pub worker: u32,
    /// Simulated seconds since the run started when the trial started.
    pub start: f64,
    /// Simulated seconds when it ended (start + its cost in training seconds).
    pub end: f64,
}
