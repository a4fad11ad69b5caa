//! # nas-random
//!
//! Random search for nas: every proposal is a uniform draw over the valid architectures
//! of the search space (each of the space's architectures is equally likely, whatever its
//! depth), optionally without repeats. It is the baseline every other strategy of nas is
//! compared against, and it implements the same ask-tell [`nas_core::Strategy`] contract.
//!
//! Params come in as [`RandomParams`] (from a config), are checked once into
//! [`RandomValidParams`], and only checked params build a [`RandomSearch`]. The strategy
//! serializes (RNG, space and pending proposals included), so a checkpointed run resumes
//! with exactly the proposals it would have made.
//!
//! ```
//! use nas_core::testutil::{SyntheticEvaluator, toy_space};
//! use nas_core::{Budget, EvalRequest, Evaluator, History, RunSeeds, Strategy, Trial};
//! use nas_random::{RandomParams, RandomSearch};
//!
//! let space = toy_space();
//! let params = RandomParams { no_repeat: true }.check()?;
//! let seeds = RunSeeds::new(42, "random", 0);
//! let mut search = RandomSearch::new(space.clone(), params, seeds.strategy_rng());
//!
//! let evaluator = SyntheticEvaluator::default();
//! let mut history = History::new();
//! for index in 0..20 {
//!     let arch = search.ask(&history)?;
//!     assert!(space.is_valid(&arch) && !history.contains(&arch));
//!     let seed = seeds.trial_seed(index);
//!     let request = EvalRequest { arch: &arch, budget: &Budget::default(), seed, test: false, fidelity: None };
//!     let eval = evaluator.evaluate(&request).expect("the toy evaluator never fails");
//!     let trial = Trial {
//!         strategy: "random".into(),
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
//!     search.tell(&trial)?;
//! }
//! println!("best of 20: {:.3}", history.best_fitness().unwrap());
//! # Ok::<(), nas_core::Error>(())
//! ```

mod params;
mod search;

pub use params::{RandomParams, RandomValidParams};
pub use search::RandomSearch;
