//! # nas-genetic
//!
//! Evolutionary search strategies for nas, both ask-tell [`nas_core::Strategy`]s:
//!
//! - [`GeneticAlgorithm`]: a generational GA on nas-core's fixed-length
//!   [`Encoding`](nas_core::Encoding): tournament or roulette selection, one-point or uniform
//!   crossover, per-gene mutation (a layer's kind, width, kernel, activation or rate; adding
//!   or removing a layer), elitism. Children are repaired into valid architectures, and an
//!   architecture already evaluated is never proposed again by the GA: its known fitness is
//!   reused.
//! - [`RegularizedEvolution`]: aging evolution (Real et al. 2019): tournament of S from the
//!   P most recent architectures, one mutation of the winner, the oldest member removed.
//!
//! Params come in as [`GaParams`] / [`EvolutionParams`] (from a config, every field
//! defaulted to its paper setting), are checked once into [`GaValidParams`] /
//! [`EvolutionValidParams`], and only checked params build a strategy. Strategies
//! serialize (RNG, space and state included), so a checkpointed run resumes with exactly
//! the proposals it would have made.
//!
//! ## Repair
//!
//! A child's genome expresses the layers before its first end gene. Repair walks them in
//! order and drops each layer that cannot follow the layers kept so far (a conv or pooling
//! layer after a dense one, a pooling or valid conv that would shrink the feature map below
//! 1x1, or a layer after which no valid depth can be reached); if fewer than the space's
//! `min_layers` remain, it appends layers drawn uniformly among those that keep the network
//! completable. Dropped layers' genes are kept hidden at the end of the genome.
//!
//! ```
//! use nas_core::testutil::{SyntheticEvaluator, toy_space};
//! use nas_core::{Budget, EvalRequest, Evaluator, History, RunSeeds, Strategy, Trial};
//! use nas_genetic::{EvolutionParams, GaParams, GeneticAlgorithm, RegularizedEvolution};
//!
//! let space = toy_space();
//! let seeds = RunSeeds::new(42, "ga", 0);
//! let params = GaParams { population: 10, ..GaParams::default() }.check()?;
//! let mut ga = GeneticAlgorithm::new(space.clone(), params, seeds.strategy_rng());
//! // Regularized evolution is built the same way:
//! let evo_params = EvolutionParams::default().check()?;
//! let _evolution = RegularizedEvolution::new(space.clone(), evo_params, seeds.strategy_rng());
//!
//! let evaluator = SyntheticEvaluator::default();
//! let mut history = History::new();
//! for index in 0..60 {
//!     let arch = ga.ask(&history)?;
//!     assert!(space.is_valid(&arch) && !history.contains(&arch));
//!     let seed = seeds.trial_seed(index);
//!     let request = EvalRequest { arch: &arch, budget: &Budget::default(), seed, test: false, fidelity: None };
//!     let eval = evaluator.evaluate(&request).expect("the toy evaluator never fails");
//!     let trial = Trial {
//!         strategy: "ga".into(),
//!         repetition: 0,
//!         index: index as u32,
//!         seed,
//!         arch,
//!         status: eval.status,
//!         reason: eval.reason,
//!         metrics: Some(eval.metrics),
//!         cached: false,
//!         fidelity: None,
//!         schedule: None,
//!     };
//!     history.push(trial.clone());
//!     ga.tell(&trial)?;
//! }
//! println!(
//!     "best after 60 trials and {} generations: {:.3}",
//!     ga.generations(),
//!     history.best_fitness().unwrap()
//! );
//! # Ok::<(), nas_core::Error>(())
//! ```

mod evolution;
mod ga;
mod genome;
mod params;

pub use evolution::RegularizedEvolution;
pub use ga::GeneticAlgorithm;
pub use params::{
    Crossover, EvolutionParams, EvolutionValidParams, GaParams, GaValidParams, Selection,
};
