//! The history of a run: its trials in order, the best so far, and which architectures
//! have been seen.

use std::collections::HashMap;

use crate::architecture::{ArchId, Architecture};
use crate::trial::Trial;

/// Append-only record of a run's trials.
#[derive(Debug, Clone, Default)]
pub struct History {
    trials: Vec<Trial>,
    first_by_arch: HashMap<ArchId, usize>,
    /// The first trial of each (architecture, fidelity); fidelity None: the run's budget.
    first_at: HashMap<(ArchId, Option<u32>), usize>,
    best: Option<usize>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Appends a finished trial.
    pub fn push(&mut self, trial: Trial) {
        let i = self.trials.len();
        self.first_by_arch.entry(trial.arch.id()).or_insert(i);
        let epochs = trial.fidelity.as_ref().map(|f| f.epochs);
        self.first_at.entry((trial.arch.id(), epochs)).or_insert(i);
        if let Some(f) = trial.fitness() {
            // Strictly better only: ties keep the earlier trial.
            let better = match self.best {
                None => true,
                Some(b) => f > self.trials[b].fitness().expect("best is ranked"),
            };
            if better {
                self.best = Some(i);
            }
        }
        self.trials.push(trial);
    }

    /// Every trial, in order.
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// Number of trials.
    pub fn len(&self) -> usize {
        self.trials.len()
    }

    /// True before the first trial.
    pub fn is_empty(&self) -> bool {
        self.trials.is_empty()
    }

    /// The best ranked trial (highest finite validation accuracy among `ok` trials; the
    /// earliest on ties). Diverged, failed and killed trials and NaN scores never rank.
    pub fn best(&self) -> Option<&Trial> {
        self.best.map(|b| &self.trials[b])
    }

    /// Fitness of [`History::best`].
    pub fn best_fitness(&self) -> Option<f64> {
        self.best().and_then(Trial::fitness)
    }

    /// The first trial of an architecture, if it was evaluated.
    pub fn lookup(&self, arch: &Architecture) -> Option<&Trial> {
        self.first_by_arch.get(&arch.id()).map(|&i| &self.trials[i])
    }

    /// The first trial of an architecture at a fidelity (`epochs`; None: at the run's
    /// budget, as single-fidelity strategies propose), if it was evaluated so.
    pub fn lookup_at(&self, arch: &Architecture, epochs: Option<u32>) -> Option<&Trial> {
        self.first_at
            .get(&(arch.id(), epochs))
            .map(|&i| &self.trials[i])
    }

    /// True when the architecture was evaluated in this run.
    pub fn contains(&self, arch: &Architecture) -> bool {
        self.first_by_arch.contains_key(&arch.id())
    }

    /// Number of distinct architectures evaluated.
    pub fn distinct(&self) -> usize {
        self.first_by_arch.len()
    }

    /// Best fitness after each trial (None until a trial ranks). The best of a run with
    /// fidelities is its best validation accuracy at any fidelity (Li et al. 2018's
    /// "smallest intermediate loss seen so far").
    pub fn best_so_far(&self) -> Vec<Option<f64>> {
        let mut best: Option<f64> = None;
        self.trials
            .iter()
            .map(|t| {
                if let Some(f) = t.fitness() {
                    best = Some(best.map_or(f, |b| b.max(f)));
                }
                best
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::{Metrics, Status};

    fn trial(index: u32, arch: &str, status: Status, val: f64) -> Trial {
        Trial {
            strategy: "t".into(),
            repetition: 0,
            index,
            seed: 0,
            arch: arch.parse().unwrap(),
            status,
            reason: None,
            metrics: Some(Metrics {
                val_acc: Some(val),
                ..Metrics::default()
            }),
            cached: false,
            fidelity: None,
            schedule: None,
        }
    }

    #[test]
    fn nan_inf_and_unranked_statuses_never_become_best() {
        let mut h = History::new();
        h.push(trial(0, "maxpool2", Status::Ok, f64::NAN));
        assert!(h.best().is_none());
        h.push(trial(1, "dense8-relu", Status::Ok, 0.5));
        h.push(trial(2, "dense16-relu", Status::Diverged, 0.9));
        h.push(trial(3, "dense32-relu", Status::Ok, f64::INFINITY));
        h.push(trial(4, "dense64-relu", Status::Failed, 0.95));
        h.push(trial(5, "dense65-relu", Status::Ok, 0.5));
        assert_eq!(h.best().unwrap().index, 1, "ties keep the earlier trial");
        h.push(trial(6, "dense8-relu", Status::Ok, 0.7));
        assert_eq!(h.best().unwrap().index, 6);
        assert_eq!(
            h.best_so_far(),
            vec![
                None,
                Some(0.5),
                Some(0.5),
                Some(0.5),
                Some(0.5),
                Some(0.5),
                Some(0.7)
            ]
        );
        assert_eq!(h.lookup(&"dense8-relu".parse().unwrap()).unwrap().index, 1);
        assert_eq!(h.distinct(), 6);
    }
}
