//! ASHA: asynchronous successive halving.

use serde::{Deserialize, Serialize};

use nas_core::{
    Architecture, Error, History, NasRng, Proposal, Result, SearchSpace, Strategy, Trial,
};

use crate::params::AshaValidParams;
use crate::rungs::Rungs;
use crate::{fidelity_of, rank};

/// A trial told at a rung.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Result_ {
    arch: Architecture,
    trial: u32,
    fitness: Option<f64>,
    /// Proposed for the next rung already.
    promoted: bool,
}

/// ASHA (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020,
/// Algorithm 2, early-stopping rate s = 0): whenever a worker is free, look at the rungs
/// from the second highest down; in rung k, the trials among the best ⌊|rung k| / η⌋ of
/// those told there (by validation accuracy; failed trials never go on; ties go to the
/// earlier trial) that were not promoted yet are promotable, and the best of them is
/// proposed at rung k + 1. When no rung has one, a new architecture drawn uniformly from
/// the space starts at the lowest rung (the grace period, `min_epochs`). It never waits,
/// so no worker idles; promotions may be wrong early on, which the paper accepts for the
/// throughput.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Asha {
    params: AshaValidParams,
    space: SearchSpace,
    rungs: Rungs,
    /// The trials told at each rung, in the order they were told.
    told: Vec<Vec<Result_>>,
    rng: NasRng,
}

impl Asha {
    /// ASHA over `space` for a run whose per-trial budget is `budget_epochs`, drawing
    /// from `rng` (the run's strategy stream).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when the params do not fit the budget.
    pub fn new(
        space: SearchSpace,
        params: AshaValidParams,
        budget_epochs: u32,
        rng: NasRng,
    ) -> Result<Self> {
        let rungs = params.rungs(budget_epochs)?;
        Ok(Asha {
            told: vec![Vec::new(); rungs.s_max() + 1],
            params,
            space,
            rungs,
            rng,
        })
    }

    /// The checked params.
    pub fn params(&self) -> &AshaValidParams {
        &self.params
    }

    /// The rungs.
    pub fn rungs(&self) -> &Rungs {
        &self.rungs
    }

    /// Trials told at each rung so far.
    pub fn rung_sizes(&self) -> Vec<usize> {
        self.told.iter().map(Vec::len).collect()
    }

    fn promotion(&mut self) -> Option<Proposal> {
        let eta = self.rungs.eta() as usize;
        for k in (0..self.rungs.s_max()).rev() {
            let rung = &self.told[k];
            let scores: Vec<(u32, Option<f64>)> =
                rung.iter().map(|r| (r.trial, r.fitness)).collect();
            let best = rank(&scores)
                .into_iter()
                .take(rung.len() / eta)
                .find(|&i| !rung[i].promoted);
            if let Some(i) = best {
                let r = &mut self.told[k][i];
                r.promoted = true;
                let epochs = self.rungs.epochs(k + 1);
                return Some(if self.params.continue_trainings {
                    Proposal::continuing(r.arch.clone(), r.trial, epochs)
                } else {
                    Proposal::at(r.arch.clone(), epochs)
                });
            }
        }
        None
    }
}

impl Strategy for Asha {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        Err(Error::Strategy(
            "asha proposes fidelities: call `propose`, not `ask`".into(),
        ))
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        let epochs = fidelity_of(trial, "asha")?;
        let k = self
            .rungs
            .all()
            .iter()
            .position(|&e| e == epochs)
            .ok_or_else(|| {
                Error::Strategy(format!(
                    "asha did not propose trial {} at {epochs} epochs (its rungs: {:?})",
                    trial.index,
                    self.rungs.all()
                ))
            })?;
        self.told[k].push(Result_ {
            arch: trial.arch.clone(),
            trial: trial.index,
            fitness: trial.fitness(),
            promoted: false,
        });
        Ok(())
    }

    fn propose(&mut self, _history: &History) -> Result<Option<Proposal>> {
        if let Some(p) = self.promotion() {
            return Ok(Some(p));
        }
        let arch = self.space.sample(&mut self.rng);
        Ok(Some(Proposal::at(arch, self.rungs.epochs(0))))
    }
}
