//! Proposals asked but not yet told: the bookkeeping every strategy needs to refuse a
//! tell without its ask.

use serde::{Deserialize, Serialize};

use crate::architecture::ArchId;
use crate::error::{Error, Result};
use crate::trial::Trial;

/// The ids of a strategy's outstanding proposals, in the order they were asked (a
/// multiset: the same architecture may be in flight twice). It serializes as the list of
/// ids, so a strategy checkpoint holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pending(Vec<ArchId>);

impl Pending {
    /// Records a proposal.
    pub fn push(&mut self, id: ArchId) {
        self.0.push(id);
    }

    /// True when a proposal of this architecture is outstanding.
    pub fn contains(&self, id: ArchId) -> bool {
        self.0.contains(&id)
    }

    /// Number of outstanding proposals.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes the oldest outstanding proposal of the trial's architecture.
    ///
    /// # Errors
    /// [`Error::Strategy`] naming `strategy`, the trial and its architecture when none is
    /// outstanding (a tell without its ask, or a second tell).
    pub fn take(&mut self, trial: &Trial, strategy: &str) -> Result<()> {
        let id = trial.arch.id();
        let i = self.0.iter().position(|&p| p == id).ok_or_else(|| {
            Error::Strategy(format!(
                "{strategy} was told trial {} of `{}`, which it has no outstanding proposal for",
                trial.index, trial.arch
            ))
        })?;
        self.0.remove(i);
        Ok(())
    }
}
