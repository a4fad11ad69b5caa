//! A generational genetic algorithm on the fixed-length encoding.

use std::collections::BTreeMap;

use rand::Rng;
use rand::seq::index;
use serde::{Deserialize, Serialize};

use nas_core::{
    ArchId, Architecture, Genetics, History, NasRng, Pending, Result, SearchSpace, Strategy, Trial,
};

use crate::genome::{self, Genome};
use crate::params::{Crossover, GaValidParams, Selection};

/// Children bred in a row inside one ask whose architecture was already evaluated
/// before the GA proposes a random immigrant instead.
const MAX_KNOWN_CHILDREN: usize = 200;

/// Uniform draws tried for an immigrant that was not evaluated yet.
const IMMIGRANT_DRAWS: usize = 64;

/// What the GA knows of a member's fitness.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Fitness {
    /// Proposed, not told yet.
    Awaiting,
    /// Told (or already known): the validation accuracy, or None for a trial that does not
    /// rank (diverged, failed), which is never preferred over a ranked one.
    Known(Option<f64>),
}

impl Fitness {
    /// The value selection compares: unranked and unknown members come last.
    fn score(self) -> f64 {
        match self {
            Fitness::Known(Some(f)) => f,
            _ => f64::NEG_INFINITY,
        }
    }
}

/// A member of a generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Member {
    genome: Genome,
    arch: Architecture,
    fitness: Fitness,
}

/// A generational genetic algorithm over the space's fixed-length encoding
/// ([`nas_core::Encoding`]), with the space's genetic operators ([`nas_core::Genetics`]).
///
/// - **Generation 0**: `population` architectures drawn uniformly from the space.
/// - **Each next generation**: the `elitism` best members are copied unchanged; every other
///   member is a child: two parents are selected (tournament or roulette), recombined with
///   probability `crossover_rate` (one-point or uniform crossover; else the child copies the
///   first parent), then mutated decision by decision with probability `mutation_rate`
///   (cells and macro networks: each gene to a different value; chains: a layer's kind,
///   each of its options, its removal, an insertion at each place).
/// - **Validity**: a child is repaired, never rejected: every genome of a cell or macro
///   space is an architecture; in a chain, layers that cannot follow the layers before them
///   are dropped, and a network left shorter than `min_layers` is completed with uniformly
///   drawn layers (see the crate docs). If that ever fails, the child is replaced by a
///   uniform draw from the space.
/// - **No fitness is computed twice**: a child whose architecture was already evaluated in the
///   run (told, or found in the [`History`]) joins the generation with that fitness and costs
///   no proposal; a child identical to a proposal in flight waits for its result. Only new
///   architectures are proposed, so a generation of `population` members may cost fewer
///   proposals than its size, and several generations may complete inside one ask.
/// - **A converged population or an exhausted space**: after 200 children in a row that were
///   all already evaluated, the GA proposes an immigrant, a uniform draw not yet evaluated
///   (after 64 draws that all were, any draw: the runner then reuses the stored result), and
///   the immigrant joins the generation being built.
///
/// Asks before the matching tells are fine: a generation that already has `population`
/// members but still awaits results grows with extra children of the same parents, and
/// becomes the next population whole when every result is in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneticAlgorithm {
    space: SearchSpace,
    params: GaValidParams,
    rng: NasRng,
    /// The current parents (empty before generation 0 is complete).
    population: Vec<Member>,
    /// The generation being built.
    offspring: Vec<Member>,
    /// Fitness of every architecture told, by id.
    known: BTreeMap<ArchId, Option<f64>>,
    pending: Pending,
    /// Completed generations (generation 0 included).
    generations: u64,
}

impl GeneticAlgorithm {
    /// A GA over `space`, drawing from `rng` (the run's
    /// [`nas_core::RunSeeds::strategy_rng`]).
    pub fn new(space: SearchSpace, params: GaValidParams, rng: NasRng) -> Self {
        GeneticAlgorithm {
            space,
            params,
            rng,
            population: Vec::new(),
            offspring: Vec::new(),
            known: BTreeMap::new(),
            pending: Pending::default(),
            generations: 0,
        }
    }

    /// The checked params.
    pub fn params(&self) -> &GaValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Number of completed generations (generation 0, the random one, included).
    pub fn generations(&self) -> u64 {
        self.generations
    }

    /// The current parents with their fitness (None: unranked), best first.
    pub fn population(&self) -> Vec<(&Architecture, Option<f64>)> {
        let mut members: Vec<&Member> = self.population.iter().collect();
        members.sort_by(|a, b| b.fitness.score().total_cmp(&a.fitness.score()));
        members
            .into_iter()
            .map(|m| {
                let f = match m.fitness {
                    Fitness::Known(f) => f,
                    Fitness::Awaiting => None,
                };
                (&m.arch, f)
            })
            .collect()
    }

    /// Makes the generation being built the population once it is full and evaluated.
    fn advance_if_complete(&mut self) {
        let complete = self.offspring.len() >= self.params.population
            && self
                .offspring
                .iter()
                .all(|m| m.fitness != Fitness::Awaiting);
        if !complete {
            return;
        }
        self.population = std::mem::take(&mut self.offspring);
        self.generations += 1;
        let mut order: Vec<usize> = (0..self.population.len()).collect();
        // Stable: among equal fitnesses the earlier member is the elite.
        order.sort_by(|&a, &b| {
            let (fa, fb) = (self.population[a].fitness, self.population[b].fitness);
            fb.score().total_cmp(&fa.score())
        });
        self.offspring = order
            .into_iter()
            .take(self.params.elitism)
            .map(|i| self.population[i].clone())
            .collect();
    }

    /// Index of a parent in the population.
    fn select(&mut self) -> usize {
        let n = self.population.len();
        match self.params.selection {
            Selection::Tournament => {
                let k = self.params.tournament_size.min(n);
                let mut best: Option<usize> = None;
                for i in index::sample(&mut self.rng, n, k) {
                    let better = best.is_none_or(|b| {
                        self.population[i].fitness.score() > self.population[b].fitness.score()
                    });
                    if better {
                        best = Some(i);
                    }
                }
                best.expect("a tournament of at least one member")
            }
            Selection::Roulette => {
                let scores: Vec<f64> = self.population.iter().map(|m| m.fitness.score()).collect();
                let low = scores
                    .iter()
                    .copied()
                    .filter(|s| s.is_finite())
                    .fold(f64::INFINITY, f64::min);
                let weights: Vec<f64> = scores
                    .iter()
                    .map(|&s| if s.is_finite() { s - low } else { 0.0 })
                    .collect();
                let total: f64 = weights.iter().sum();
                if total <= 0.0 {
                    // Every ranked member ties (or none ranks): uniform among the ranked,
                    // or among all.
                    let ranked: Vec<usize> = (0..n).filter(|&i| scores[i].is_finite()).collect();
                    let pool = if ranked.is_empty() {
                        (0..n).collect()
                    } else {
                        ranked
                    };
                    return pool[self.rng.random_range(0..pool.len())];
                }
                let mut spin = self.rng.random::<f64>() * total;
                for (i, w) in weights.iter().enumerate() {
                    if spin < *w {
                        return i;
                    }
                    spin -= w;
                }
                // Rounding left the spin past the last slice: the last weighted member.
                weights
                    .iter()
                    .rposition(|&w| w > 0.0)
                    .expect("a positive total weight")
            }
        }
    }

    /// A new child of the current population: selection, crossover, mutation, repair.
    fn breed(&mut self, genetics: &Genetics<'_>) -> (Genome, Architecture) {
        let a = self.select();
        let mut genome = if self.rng.random_bool(self.params.crossover_rate) {
            let b = self.select();
            let (ga, gb) = (&self.population[a].genome, &self.population[b].genome);
            match self.params.crossover {
                Crossover::OnePoint => genome::one_point(ga, gb, &mut self.rng),
                Crossover::Uniform => genome::uniform(ga, gb, &mut self.rng),
            }
        } else {
            self.population[a].genome.clone()
        };
        genome = genetics.mutate(&genome, self.params.mutation_rate, &mut self.rng);
        match genetics.repair(&genome, &mut self.rng) {
            Some(child) => child,
            None => self.random(genetics),
        }
    }

    /// A uniform draw from the space with its genome.
    fn random(&mut self, genetics: &Genetics<'_>) -> (Genome, Architecture) {
        let arch = self.space.sample(&mut self.rng);
        (genetics.genome_of(&arch, &mut self.rng), arch)
    }

    /// What is known of an architecture's fitness without evaluating it.
    fn lookup(&self, arch: &Architecture, history: &History) -> Option<Fitness> {
        let id = arch.id();
        if let Some(&f) = self.known.get(&id) {
            return Some(Fitness::Known(f));
        }
        if let Some(trial) = history.lookup(arch) {
            return Some(Fitness::Known(trial.fitness()));
        }
        self.pending.contains(id).then_some(Fitness::Awaiting)
    }

    fn propose(&mut self, genome: Genome, arch: Architecture) -> Architecture {
        self.pending.push(arch.id());
        self.offspring.push(Member {
            genome,
            arch: arch.clone(),
            fitness: Fitness::Awaiting,
        });
        arch
    }
}

impl Strategy for GeneticAlgorithm {
    fn ask(&mut self, history: &History) -> Result<Architecture> {
        let space = self.space.clone();
        let genetics = space.genetics();
        for _ in 0..MAX_KNOWN_CHILDREN {
            self.advance_if_complete();
            let (genome, arch) = if self.population.is_empty() {
                self.random(&genetics)
            } else {
                self.breed(&genetics)
            };
            match self.lookup(&arch, history) {
                Some(fitness) => self.offspring.push(Member {
                    genome,
                    arch,
                    fitness,
                }),
                None => return Ok(self.propose(genome, arch)),
            }
        }
        let mut immigrant = self.random(&genetics);
        for _ in 1..IMMIGRANT_DRAWS {
            if self.lookup(&immigrant.1, history).is_none() {
                break;
            }
            immigrant = self.random(&genetics);
        }
        Ok(self.propose(immigrant.0, immigrant.1))
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.pending.take(trial, "the genetic algorithm")?;
        let id = trial.arch.id();
        let fitness = *self.known.entry(id).or_insert(trial.fitness());
        for m in &mut self.offspring {
            if m.fitness == Fitness::Awaiting && m.arch.id() == id {
                m.fitness = Fitness::Known(fitness);
            }
        }
        self.advance_if_complete();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::GaParams;
    use nas_core::rng_from_seed;
    use nas_core::testutil::told;
    use nas_core::testutil::toy_space;

    #[test]
    fn generations_advance_and_elites_survive() {
        let params = GaParams {
            population: 4,
            ..GaParams::default()
        }
        .check()
        .unwrap();
        let mut ga = GeneticAlgorithm::new(toy_space(), params, rng_from_seed(1));
        let history = History::new();
        let mut best = (0.0, Architecture::default());
        for i in 0..4 {
            let arch = ga.ask(&history).unwrap();
            let f = 0.5 + 0.1 * f64::from(i);
            if f > best.0 {
                best = (f, arch.clone());
            }
            ga.tell(&told("ga", &arch, i, Some(f))).unwrap();
        }
        assert_eq!(ga.generations(), 1);
        assert_eq!(ga.population()[0].0, &best.1);
        // The elite is in the next generation already, with its fitness.
        assert_eq!(ga.offspring.len(), 1);
        assert_eq!(ga.offspring[0].arch, best.1);
        assert_eq!(ga.offspring[0].fitness, Fitness::Known(Some(best.0)));
    }

    #[test]
    fn unranked_members_are_never_selected_over_ranked_ones() {
        let params = GaParams {
            population: 4,
            tournament_size: 4,
            ..GaParams::default()
        }
        .check()
        .unwrap();
        let mut ga = GeneticAlgorithm::new(toy_space(), params, rng_from_seed(2));
        let history = History::new();
        let mut ranked = None;
        for i in 0..4 {
            let arch = ga.ask(&history).unwrap();
            let f = (i == 2).then_some(0.4);
            if f.is_some() {
                ranked = Some(arch.clone());
            }
            ga.tell(&told("ga", &arch, i, f)).unwrap();
        }
        let ranked = ranked.unwrap();
        let winner = ga.population.iter().position(|m| m.arch == ranked).unwrap();
        for _ in 0..20 {
            assert_eq!(ga.select(), winner);
        }
        let mut roulette = ga.clone();
        roulette.params = GaParams {
            population: 4,
            selection: Selection::Roulette,
            ..GaParams::default()
        }
        .check()
        .unwrap();
        for _ in 0..20 {
            assert_eq!(roulette.select(), winner);
        }
    }

    #[test]
    fn roulette_prefers_the_fitter() {
        let params = GaParams {
            population: 3,
            selection: Selection::Roulette,
            ..GaParams::default()
        }
        .check()
        .unwrap();
        let mut ga = GeneticAlgorithm::new(toy_space(), params, rng_from_seed(3));
        let history = History::new();
        for (i, f) in [0.5, 0.6, 0.8].into_iter().enumerate() {
            let arch = ga.ask(&history).unwrap();
            ga.tell(&told("ga", &arch, i as u32, Some(f))).unwrap();
        }
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            counts[ga.select()] += 1;
        }
        // Weights 0, 0.1, 0.3 (fitness minus the lowest).
        assert_eq!(counts[0], 0);
        assert!(counts[2] > 2 * counts[1], "{counts:?}");
    }
}
