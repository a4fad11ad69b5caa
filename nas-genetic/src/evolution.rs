//! Regularized (aging) evolution, Real et al. (2019).

use std::collections::VecDeque;

use rand::seq::index;
use serde::{Deserialize, Serialize};

use nas_core::{Architecture, History, NasRng, Pending, Result, SearchSpace, Strategy, Trial};

use crate::params::EvolutionValidParams;

/// A member of the population: an evaluated architecture and its fitness (None: the trial
/// does not rank, and loses every tournament against a ranked member).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Member {
    arch: Architecture,
    fitness: Option<f64>,
}

impl Member {
    fn score(&self) -> f64 {
        self.fitness.unwrap_or(f64::NEG_INFINITY)
    }
}

/// Regularized evolution (Real, Aggarwal, Huang & Le 2019, Algorithm 1), also called aging
/// evolution.
///
/// The first `population` (P) proposals are uniform draws from the space. From then on,
/// each proposal draws `sample_size` (S) members of the population uniformly without
/// replacement, takes the fittest (the earliest drawn on ties) as the parent, and proposes
/// one mutation of it ([`nas_core::SearchSpace::mutate`]: one decision changed to a
/// different value, as NAS-Bench-201's REA does for cells; for chains alter one option,
/// change one layer's kind, or insert or remove one layer; always a different architecture
/// of the space). Each told
/// trial joins the population, and the oldest member leaves once it holds more than P:
/// members die of age, not of low fitness, which is the regularization.
///
/// As in the paper, children are not deduplicated: a child identical to an architecture
/// evaluated earlier is proposed, and the runner reuses the stored result (it still counts
/// against the budget), and the copy joins the population as a new, younger member.
///
/// Asks before the matching tells are fine: until the first result is in, proposals are
/// uniform draws; after that, tournaments use the members told so far (fewer than S while
/// the population is smaller than S).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegularizedEvolution {
    space: SearchSpace,
    params: EvolutionValidParams,
    rng: NasRng,
    /// Oldest first.
    population: VecDeque<Member>,
    pending: Pending,
    /// Proposals made.
    asked: u64,
}

impl RegularizedEvolution {
    /// Regularized evolution over `space`, drawing from `rng` (the run's
    /// [`nas_core::RunSeeds::strategy_rng`]).
    pub fn new(space: SearchSpace, params: EvolutionValidParams, rng: NasRng) -> Self {
        RegularizedEvolution {
            space,
            params,
            rng,
            population: VecDeque::new(),
            pending: Pending::default(),
            asked: 0,
        }
    }

    /// The checked params.
    pub fn params(&self) -> &EvolutionValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The population, oldest first, with fitness (None: unranked).
    pub fn population(&self) -> impl Iterator<Item = (&Architecture, Option<f64>)> {
        self.population.iter().map(|m| (&m.arch, m.fitness))
    }

    /// The fittest of S members drawn without replacement.
    fn tournament(&mut self) -> &Architecture {
        let n = self.population.len();
        let s = self.params.sample_size.min(n);
        let mut best: Option<usize> = None;
        for i in index::sample(&mut self.rng, n, s) {
            if best.is_none_or(|b| self.population[i].score() > self.population[b].score()) {
                best = Some(i);
            }
        }
        &self.population[best.expect("a non-empty population")].arch
    }
}

impl Strategy for RegularizedEvolution {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        let initial = self.asked < self.params.population as u64;
        let arch = if initial || self.population.is_empty() {
            self.space.sample(&mut self.rng)
        } else {
            let parent = self.tournament().clone();
            self.space.mutate(&parent, &mut self.rng)
        };
        self.asked += 1;
        self.pending.push(arch.id());
        Ok(arch)
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.pending.take(trial, "regularized evolution")?;
        self.population.push_back(Member {
            arch: trial.arch.clone(),
            fitness: trial.fitness(),
        });
        if self.population.len() > self.params.population {
            self.population.pop_front();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::EvolutionParams;
    use nas_core::rng_from_seed;
    use nas_core::testutil::told;
    use nas_core::testutil::toy_space;

    #[test]
    fn the_oldest_member_dies_and_children_are_mutants_of_the_population() {
        let params = EvolutionParams {
            population: 3,
            sample_size: 3,
        }
        .check()
        .unwrap();
        let space = toy_space();
        let mut evo = RegularizedEvolution::new(space.clone(), params, rng_from_seed(1));
        let history = History::new();
        let mut told_archs = Vec::new();
        for i in 0..3 {
            let arch = evo.ask(&history).unwrap();
            evo.tell(&told("evolution", &arch, i, Some(0.5 + 0.1 * f64::from(i))))
                .unwrap();
            told_archs.push(arch);
        }
        // S = P: the parent is always the fittest, the third.
        let child = evo.ask(&history).unwrap();
        assert_ne!(child, told_archs[2]);
        assert!(space.is_valid(&child));
        evo.tell(&told("evolution", &child, 3, Some(0.1))).unwrap();
        let members: Vec<&Architecture> = evo.population().map(|(a, _)| a).collect();
        assert_eq!(members, vec![&told_archs[1], &told_archs[2], &child]);
    }
}
