//! The tabulation plan: every architecture of the space, K training seeds each, in
//! chunks that are the unit of work, resume and sharding.

use anyhow::Result;
use nas_core::{Architecture, Budget, History, Limits, SearchSpace, Strategy, Trial, derive_seed};

use crate::config::Config;
use crate::runner::{Plan, Unit};

/// The seed of architecture `arch` under training seed `k`: independent of the chunking,
/// so a table does not depend on how it was cut into work.
pub fn tabulate_trial_seed(experiment_seed: u64, k: u32, arch: &Architecture) -> u64 {
    derive_seed(experiment_seed, &format!("tabulate/{k}/{arch}"), 0)
}

/// Tabulating a whole space.
pub struct TabulatePlan<'a> {
    /// The experiment (seed, budget).
    pub config: &'a Config,
    /// Every architecture, in the space's canonical enumeration order.
    pub archs: Vec<Architecture>,
}

impl TabulatePlan<'_> {
    fn chunk(&self) -> usize {
        self.config.tabulate.chunk as usize
    }

    fn chunks(&self) -> usize {
        self.archs.len().div_ceil(self.chunk())
    }

    /// The chunk of a unit (its strategy name is `chunk<j>`).
    fn chunk_of(unit: &Unit) -> usize {
        unit.strategy_index
    }

    fn slice(&self, unit: &Unit) -> &[Architecture] {
        let j = Self::chunk_of(unit);
        let start = j * self.chunk();
        &self.archs[start..(start + self.chunk()).min(self.archs.len())]
    }
}

/// Proposes a fixed list of architectures in order.
struct Enumerate {
    archs: Vec<Architecture>,
    next: usize,
}

impl Strategy for Enumerate {
    fn ask(&mut self, _history: &History) -> nas_core::Result<Architecture> {
        let arch = self.archs.get(self.next).cloned().ok_or_else(|| {
            nas_core::Error::Strategy("every architecture of the chunk was proposed".into())
        })?;
        self.next += 1;
        Ok(arch)
    }

    fn tell(&mut self, _trial: &Trial) -> nas_core::Result<()> {
        Ok(())
    }
}

impl Plan for TabulatePlan<'_> {
    fn units(&self) -> Vec<Unit> {
        let seeds = self.config.tabulate.seeds;
        (0..self.chunks())
            .flat_map(|j| (0..seeds).map(move |k| (j, k)))
            .enumerate()
            .map(|(index, (j, k))| Unit {
                index,
                strategy_index: j,
                strategy: format!("chunk{j:05}"),
                repetition: k,
            })
            .collect()
    }

    fn strategy(&self, unit: &Unit) -> Result<Box<dyn Strategy>> {
        Ok(Box::new(Enumerate {
            archs: self.slice(unit).to_vec(),
            next: 0,
        }))
    }

    fn limits(&self, unit: &Unit) -> Limits {
        Limits::evaluations(self.slice(unit).len() as u32)
    }

    fn trial_seed(&self, unit: &Unit, _index: u32, arch: &Architecture) -> u64 {
        tabulate_trial_seed(self.config.experiment.seed, unit.repetition, arch)
    }

    fn budget(&self) -> &Budget {
        &self.config.budget
    }

    fn test_every_trial(&self) -> bool {
        true
    }

    fn final_test(&self) -> bool {
        false
    }
}

/// Every architecture of the space, or why the space is too large to tabulate.
pub fn architectures(space: &SearchSpace, limit: u64) -> Result<Vec<Architecture>, String> {
    let n = space.count_architectures();
    if n > u128::from(limit) {
        return Err(format!(
            "the space holds {n} architectures, above the limit of {limit}: shrink the space or raise tabulate.max_architectures (each architecture is trained tabulate.seeds times)"
        ));
    }
    space
        .enumerate(u128::from(limit))
        .map_err(|e| e.to_string())
}
