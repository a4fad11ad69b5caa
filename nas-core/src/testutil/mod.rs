//! Test utilities for strategies (feature `test-utils`): a toy search space and a cheap
//! synthetic evaluator, so that strategies can be tested, compared and benchmarked without
//! training anything, and the tests every strategy crate runs against them.
//!
//! - [`toy`]: a toy space of each kind (chain, NAS-Bench-201 cell, NAS-Bench-Macro) and
//!   the [`SyntheticEvaluator`], whose fitness has a known optimum and a learnable
//!   structure in each; a [`tiny_space`] of 6 architectures.
//! - [`harness`]: the runner's ask-evaluate-tell loop, in small ([`Run`], [`run`]).
//! - [`checks`]: the runner's contract as generic assertions over a closure that builds a
//!   strategy from its seeds (same seed, same proposals; a restored checkpoint continues
//!   identically; asks in flight; failed trials; a tell without its ask).
//! - [`builders`]: a told [`Trial`](crate::Trial) and [`assert_rejects`] for params
//!   checks.
//! - [`learning`]: "does this strategy beat random search" over 30 seeds x 150
//!   evaluations ([`compare_with_random`]).
//!
//! ```
//! use nas_core::RunSeeds;
//! use nas_core::testutil::{Run, UniformBaseline, toy_space};
//!
//! let seeds = RunSeeds::new(1, "example", 0);
//! let mut strategy = UniformBaseline::new(toy_space(), seeds);
//! let mut run = Run::toy(seeds);
//! let proposals = run.steps(&mut strategy, 10);
//! assert_eq!(proposals.len(), run.history().len());
//! assert!(run.best() > 0.0);
//! ```

pub mod builders;
pub mod checks;
pub mod harness;
pub mod learning;
pub mod toy;

pub use builders::{assert_rejects, told};
pub use checks::{
    assert_accepts_asks_in_flight, assert_rejects_tell_without_ask, assert_restore_continues,
    assert_same_proposals, assert_survives_diverged_and_failed,
};
pub use harness::{Run, run};
pub use learning::{UniformBaseline, compare_with_random, final_bests};
pub use toy::{
    SyntheticEvaluator, TOY_CLASSES, TOY_INPUT, learning_gap, synthetic_fitness, tiny_space,
    toy_cell_optimum, toy_cell_space, toy_macro_optimum, toy_macro_space, toy_optimum, toy_params,
    toy_space, toy_spaces,
};
