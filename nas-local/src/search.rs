//! Local search: hill climbing over the space's one-edit neighbourhood, with restarts.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use nas_core::{
    ArchId, Architecture, History, NasRng, Pending, Result, SearchSpace, Strategy, Trial,
};

use crate::params::{Improvement, LocalSearchValidParams};

/// Uniform draws tried for an architecture not evaluated or in flight yet, before any draw
/// is accepted (the runner then reuses the stored result).
const UNSEEN_DRAWS: usize = 64;

/// What local search is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Phase {
    /// Drawing `draws` random architectures; the next climb starts from the best of them.
    Init {
        /// Random architectures this phase draws (`num_init` or `restart_init`).
        draws: usize,
    },
    /// Climbing from `center`.
    Climb {
        /// The current architecture.
        center: Architecture,
        /// Its fitness.
        fitness: f64,
        /// Its neighbours not yet visited, in the random order they are visited (from the
        /// end).
        queue: Vec<Architecture>,
    },
}

/// Local search (White, Nolen & Savani, "Exploring the loss landscape in neural
/// architecture search", UAI 2021): hill climbing over the space's one-edit neighbourhood
/// ([`SearchSpace::neighbours`]: for cells one edge's operation changed, for macro networks
/// one layer's block, for chains one option, kind, insertion or removal), restarted at
/// each local optimum.
///
/// 1. **Start**: `num_init` architectures drawn uniformly (without repeats); the climb
///    starts from the best.
/// 2. **Climb**: the current architecture's neighbours are visited in a uniformly random
///    order. With `improvement = "best"` every neighbour is evaluated, then the search
///    moves to the best one if it beats the current architecture (strictly); with
///    `"first"` it moves to the first neighbour that beats it. A neighbour evaluated
///    earlier in the run is not proposed again: its known result is used.
/// 3. **Restart**: at a local optimum (no neighbour beats the current architecture),
///    `restart_init` new random architectures are drawn and the next climb starts from the
///    best of them.
///
/// Diverged and failed trials never beat anything; a start batch in which nothing ranks is
/// drawn again. Random draws avoid architectures evaluated or in flight (64 draws, then
/// any).
///
/// Asks before the matching tells are fine: what needs a result in flight (the best of a
/// start batch, the end of a neighbourhood, a first improvement) waits for it; meanwhile a
/// start batch grows by extra random draws, and a climb whose neighbours are all proposed
/// proposes random architectures (which count only as known results).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalSearch {
    space: SearchSpace,
    params: LocalSearchValidParams,
    rng: NasRng,
    phase: Phase,
    /// The architectures of the current phase's start batch or neighbourhood that were
    /// proposed or known, in order.
    round: Vec<Architecture>,
    /// Fitness of every architecture told (None: it does not rank).
    results: BTreeMap<ArchId, Option<f64>>,
    pending: Pending,
    /// Moves to a better neighbour so far.
    moves: u64,
    /// Local optima reached so far (each followed by a restart).
    restarts: u64,
}

impl LocalSearch {
    /// Local search over `space`, drawing from `rng` (the run's
    /// [`nas_core::RunSeeds::strategy_rng`]).
    pub fn new(space: SearchSpace, params: LocalSearchValidParams, rng: NasRng) -> Self {
        let draws = params.num_init;
        LocalSearch {
            space,
            params,
            rng,
            phase: Phase::Init { draws },
            round: Vec::new(),
            results: BTreeMap::new(),
            pending: Pending::default(),
            moves: 0,
            restarts: 0,
        }
    }

    /// The checked params.
    pub fn params(&self) -> &LocalSearchValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The architecture the current climb is at, with its fitness (None while a start
    /// batch is drawn).
    pub fn current(&self) -> Option<(&Architecture, f64)> {
        match &self.phase {
            Phase::Climb {
                center, fitness, ..
            } => Some((center, *fitness)),
            Phase::Init { .. } => None,
        }
    }

    /// Moves to a better neighbour so far.
    pub fn moves(&self) -> u64 {
        self.moves
    }

    /// Local optima reached so far (each one restarts the search).
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    fn known(&self, arch: &Architecture) -> Option<Option<f64>> {
        self.results.get(&arch.id()).copied()
    }

    /// A uniform draw among the architectures neither told nor in flight (after 64 draws
    /// that all were, the last draw).
    fn draw_unseen(&mut self) -> Architecture {
        let (results, pending) = (&self.results, &self.pending);
        self.space
            .sample_avoiding(&mut self.rng, UNSEEN_DRAWS, |a| {
                results.contains_key(&a.id()) || pending.contains(a.id())
            })
    }

    /// The best ranked architecture of the round that is told (the earliest on ties).
    fn best_of_round(&self) -> Option<(Architecture, f64)> {
        let mut best: Option<(Architecture, f64)> = None;
        for arch in &self.round {
            if let Some(Some(f)) = self.known(arch)
                && best.as_ref().is_none_or(|(_, b)| f > *b)
            {
                best = Some((arch.clone(), f));
            }
        }
        best
    }

    /// True when every architecture of the round is told.
    fn round_told(&self) -> bool {
        self.round.iter().all(|a| self.known(a).is_some())
    }

    /// Starts climbing from `center`: its neighbours, shuffled.
    fn climb_from(&mut self, center: Architecture, fitness: f64) -> Result<()> {
        let mut queue = self.space.neighbours(&center)?;
        queue.shuffle(&mut self.rng);
        self.round.clear();
        self.phase = Phase::Climb {
            center,
            fitness,
            queue,
        };
        Ok(())
    }

    /// A local optimum (or a start batch where nothing ranked): draw a new start batch.
    fn restart(&mut self) {
        self.round.clear();
        self.phase = Phase::Init {
            draws: self.params.restart_init,
        };
    }

    /// The next proposal, taking every transition the told results allow first.
    fn propose(&mut self) -> Result<Architecture> {
        loop {
            match &mut self.phase {
                Phase::Init { draws } => {
                    let draws = *draws;
                    if self.round.len() < draws || !self.round_told() {
                        // A start draw, or (results in flight) an extra one for the batch.
                        let arch = self.draw_unseen();
                        self.round.push(arch.clone());
                        return Ok(arch);
                    }
                    match self.best_of_round() {
                        Some((center, fitness)) => self.climb_from(center, fitness)?,
                        None => self.restart(),
                    }
                }
                Phase::Climb { fitness, .. } => {
                    let fitness = *fitness;
                    let first = self.params.improvement == Improvement::First;
                    if first
                        && let Some((better, f)) =
                            self.best_of_round().filter(|(_, f)| *f > fitness)
                    {
                        self.moves += 1;
                        self.climb_from(better, f)?;
                        continue;
                    }
                    let Phase::Climb { queue, .. } = &mut self.phase else {
                        unreachable!("climbing")
                    };
                    if let Some(next) = queue.pop() {
                        let told = self.known(&next);
                        let in_flight = told.is_none() && self.pending.contains(next.id());
                        self.round.push(next.clone());
                        if told.is_some() || in_flight {
                            // Evaluated before (its result counts) or proposed elsewhere
                            // (its result will): not proposed again.
                            continue;
                        }
                        return Ok(next);
                    }
                    if !self.round_told() {
                        // Every neighbour is proposed; results are in flight.
                        return Ok(self.draw_unseen());
                    }
                    match self.best_of_round().filter(|(_, f)| *f > fitness) {
                        Some((better, f)) => {
                            self.moves += 1;
                            self.climb_from(better, f)?;
                        }
                        None => {
                            self.restarts += 1;
                            self.restart();
                        }
                    }
                }
            }
        }
    }
}

impl Strategy for LocalSearch {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        let arch = self.propose()?;
        self.pending.push(arch.id());
        Ok(arch)
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.pending.take(trial, "local search")?;
        self.results
            .entry(trial.arch.id())
            .or_insert_with(|| trial.fitness());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::LocalSearchParams;
    use nas_core::rng_from_seed;
    use nas_core::testutil::told;
    use nas_core::testutil::{synthetic_fitness, toy_cell_space};

    /// Runs `n` sequential asks and tells with the noise-free synthetic fitness.
    fn run(search: &mut LocalSearch, n: u32) -> Vec<Architecture> {
        let history = History::new();
        (0..n)
            .map(|i| {
                let arch = search.ask(&history).unwrap();
                search
                    .tell(&told(
                        "local-search",
                        &arch,
                        i,
                        Some(synthetic_fitness(&arch)),
                    ))
                    .unwrap();
                arch
            })
            .collect()
    }

    /// The fittest architecture, the earliest on ties.
    fn earliest_best(archs: &[Architecture]) -> &Architecture {
        let mut best = &archs[0];
        for a in archs {
            if synthetic_fitness(a) > synthetic_fitness(best) {
                best = a;
            }
        }
        best
    }

    #[test]
    fn best_improvement_evaluates_the_whole_neighbourhood_then_moves_to_its_best() {
        let space = toy_cell_space();
        let params = LocalSearchParams::default().check().unwrap();
        let mut ls = LocalSearch::new(space.clone(), params, rng_from_seed(3));
        let proposals = run(&mut ls, 10 + 24);
        let start = earliest_best(&proposals[..10]).clone();
        let mut neighbours = space.neighbours(&start).unwrap();
        let mut visited = proposals[10..].to_vec();
        assert_ne!(visited, neighbours, "visited in random order");
        neighbours.sort();
        visited.sort();
        assert_eq!(
            visited, neighbours,
            "every neighbour of the best start, once"
        );
        // The next proposal is a neighbour of the best neighbour.
        let best = earliest_best(&proposals[10..]);
        assert!(synthetic_fitness(best) > synthetic_fitness(&start));
        let next = run(&mut ls, 1).remove(0);
        assert!(space.neighbours(best).unwrap().contains(&next), "{next}");
        assert_eq!(ls.current().unwrap().0, best);
        assert_eq!(ls.moves(), 1);
    }

    #[test]
    fn first_improvement_moves_at_once_and_restarts_at_local_optima() {
        let space = toy_cell_space();
        let params = LocalSearchParams::naszilla().check().unwrap();
        let mut ls = LocalSearch::new(space.clone(), params, rng_from_seed(4));
        let proposals = run(&mut ls, 400);
        assert!(
            ls.moves() > 3 && ls.restarts() >= 1,
            "{} {}",
            ls.moves(),
            ls.restarts()
        );
        let mut ids: Vec<ArchId> = proposals.iter().map(Architecture::id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), proposals.len(), "no architecture proposed twice");
        // On the noise-free toy landscape every climb ends at the optimum or near it.
        let best = proposals
            .iter()
            .map(synthetic_fitness)
            .fold(f64::MIN, f64::max);
        assert!((best - 0.98).abs() < 1e-12, "{best}");
    }
}
