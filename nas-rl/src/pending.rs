//! Proposals asked but not yet told.

use serde::{Deserialize, Serialize};

use nas_core::{ArchId, Error, Result, Trial};

/// The ids of outstanding proposals, in the order they were asked (a multiset: the same
/// architecture may be in flight twice).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Pending(Vec<ArchId>);

impl Pending {
    pub(crate) fn push(&mut self, id: ArchId) {
        self.0.push(id);
    }

    pub(crate) fn contains(&self, id: ArchId) -> bool {
        self.0.contains(&id)
    }

    /// Removes the oldest outstanding proposal of the trial's architecture; an error names
    /// the trial when there is none (a tell without its ask, or a second tell).
    pub(crate) fn take(&mut self, trial: &Trial, strategy: &str) -> Result<()> {
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
