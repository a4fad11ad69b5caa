//! # nas-local
//!
//! Local search for nas: hill climbing over the space's one-edit neighbourhood with random
//! restarts, after White, Nolen & Savani, "Exploring the loss landscape in neural
//! architecture search" (UAI 2021), who found it state of the art on NAS-Bench-101 and
//! NAS-Bench-201. [`LocalSearch`] is an ask-tell [`nas_core::Strategy`] that uses nothing
//! of the space but nas-core's interface (uniform sampling and
//! [`neighbours`](nas_core::SearchSpace::neighbours)), so it searches chains, cells and
//! macro networks alike.
//!
//! Params come in as [`LocalSearchParams`] (from a config; the defaults are NASLib's
//! `LocalSearch`: the best of 10 random architectures, whole neighbourhoods, restarts from
//! one random architecture; [`LocalSearchParams::naszilla`] is the authors' own code:
//! first improvement, restarts from the best of 10), are checked once into
//! [`LocalSearchValidParams`], and only checked params build a [`LocalSearch`]. The
//! strategy serializes (RNG, space, current climb, known results, proposals in flight;
//! floats exactly), so a checkpointed run resumes with exactly the proposals it would have
//! made.
//!
//! ```
//! use nas_core::testutil::{SyntheticEvaluator, toy_cell_space};
//! use nas_core::{Budget, EvalRequest, Evaluator, History, RunSeeds, Strategy, Trial};
//! use nas_local::{LocalSearch, LocalSearchParams};
//!
//! let space = toy_cell_space();
//! let seeds = RunSeeds::new(42, "local-search", 0);
//! let params = LocalSearchParams::default().check()?;
//! let mut search = LocalSearch::new(space.clone(), params, seeds.strategy_rng());
//!
//! let evaluator = SyntheticEvaluator::default();
//! let mut history = History::new();
//! for index in 0..100 {
//!     let arch = search.ask(&history)?;
//!     assert!(space.is_valid(&arch) && !history.contains(&arch));
//!     let seed = seeds.trial_seed(index);
//!     let request = EvalRequest { arch: &arch, budget: &Budget::default(), seed, test: false, fidelity: None };
//!     let eval = evaluator.evaluate(&request).expect("the toy evaluator never fails");
//!     let trial = Trial {
//!         strategy: "local-search".into(),
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
//! println!(
//!     "best of 100: {:.3} after {} moves and {} restarts",
//!     history.best_fitness().unwrap(),
//!     search.moves(),
//!     search.restarts()
//! );
//! # Ok::<(), nas_core::Error>(())
//! ```

mod params;
mod search;

pub use params::{Improvement, LocalSearchParams, LocalSearchValidParams};
pub use search::LocalSearch;
