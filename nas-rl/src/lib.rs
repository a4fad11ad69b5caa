//! # nas-rl
//!
//! Reinforcement-learning search strategies for nas, both ask-tell
//! [`nas_core::Strategy`]s in plain Rust (no autodiff, no candle):
//!
//! - [`Reinforce`]: a REINFORCE controller (Williams 1992; Zoph & Le 2017; the NAS-Bench-201
//!   baseline): a categorical policy over the decisions of nas-core's fixed-length
//!   [`Encoding`](nas_core::Encoding), masked so that every sample is valid, rewarded by
//!   validation accuracy against an exponential-moving-average baseline, trained by Adam,
//!   with an optional entropy bonus.
//! - [`QLearning`]: tabular Q-learning over layer sequences after MetaQNN (Baker et al.
//!   2017): states (depth, last layer), actions "next layer" or "terminate", α = 0.01,
//!   γ = 1, experience replay, ε-greedy exploration on MetaQNN's schedule scaled to the
//!   run's budget, or Boltzmann exploration.
//!
//! Params come in as [`ReinforceParams`] / [`QLearningParams`] (from a config, every field
//! defaulted to its paper setting), are checked once into [`ReinforceValidParams`] /
//! [`QLearningValidParams`], and only checked params build a strategy. Q-learning also takes
//! the run's evaluation budget, which its ε schedule is scaled to. Strategies serialize
//! (RNG, space, policy or Q table, replay memory; floats exactly), so a checkpointed run
//! resumes with exactly the proposals it would have made.
//!
//! Diverged and failed trials are rewarded 0, the worst accuracy.
//!
//! ```
//! use nas_core::testutil::{SyntheticEvaluator, toy_space};
//! use nas_core::{Budget, EvalRequest, Evaluator, History, RunSeeds, Strategy, Trial};
//! use nas_rl::{QLearning, QLearningParams, Reinforce, ReinforceParams};
//!
//! let space = toy_space();
//! let budget = 60;
//! let seeds = RunSeeds::new(42, "reinforce", 0);
//! let params = ReinforceParams::default().check()?;
//! let mut controller = Reinforce::new(space.clone(), params, seeds.strategy_rng());
//! // Q-learning is built the same way, with the run's budget:
//! let q_params = QLearningParams::default().check()?;
//! let _q = QLearning::new(space.clone(), q_params, budget, seeds.strategy_rng())?;
//!
//! let evaluator = SyntheticEvaluator::default();
//! let mut history = History::new();
//! for index in 0..budget as u64 {
//!     let arch = controller.ask(&history)?;
//!     assert!(space.is_valid(&arch));
//!     let seed = seeds.trial_seed(index);
//!     let request = EvalRequest { arch: &arch, budget: &Budget::default(), seed, test: false, fidelity: None };
//!     let eval = evaluator.evaluate(&request).expect("the toy evaluator never fails");
//!     let trial = Trial {
//!         strategy: "reinforce".into(),
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
//!     controller.tell(&trial)?;
//! }
//! println!(
//!     "best of {budget}: {:.3}; the policy's mode is now {}",
//!     history.best_fitness().unwrap(),
//!     controller.mode()?
//! );
//! # Ok::<(), nas_core::Error>(())
//! ```

mod params;
mod policy;
mod qlearning;
mod reinforce;

pub use params::{
    EpsilonStep, Exploration, QLearningParams, QLearningValidParams, RandomAction, ReinforceParams,
    ReinforceValidParams, metaqnn_schedule,
};
pub use qlearning::QLearning;
pub use reinforce::Reinforce;
