//! What both model-based strategies share: which architectures were told or are in flight,
//! and uniform draws that avoid them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use nas_core::{ArchId, Architecture, NasRng, Pending, Result, SearchSpace, Trial};

/// Uniform draws tried for an architecture not evaluated or in flight yet, before any draw
/// is accepted (the runner then reuses the stored result).
pub(crate) const UNSEEN_DRAWS: usize = 64;

/// The architectures a strategy has been told about or has in flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Seen {
    told: BTreeSet<ArchId>,
    pending: Pending,
}

impl Seen {
    /// True when `arch` was told or is in flight.
    pub(crate) fn contains(&self, arch: &Architecture) -> bool {
        let id = arch.id();
        self.told.contains(&id) || self.pending.contains(id)
    }

    /// Records a proposal.
    pub(crate) fn asked(&mut self, arch: &Architecture) {
        self.pending.push(arch.id());
    }

    /// Records a tell, refusing one without its ask (naming `strategy`).
    pub(crate) fn told(&mut self, trial: &Trial, strategy: &str) -> Result<()> {
        self.pending.take(trial, strategy)?;
        self.told.insert(trial.arch.id());
        Ok(())
    }

    /// A uniform draw among the architectures neither told nor in flight (after
    /// [`UNSEEN_DRAWS`] draws that all were, the last draw).
    pub(crate) fn draw_unseen(&self, space: &SearchSpace, rng: &mut NasRng) -> Architecture {
        space.sample_avoiding(rng, UNSEEN_DRAWS, |a| self.contains(a))
    }
}
