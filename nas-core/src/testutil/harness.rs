//! The runner's loop, in small: ask, evaluate with the synthetic evaluator (or reuse the
//! stored result of a repeat, as the runner does), push to the history, tell.

use crate::architecture::Architecture;
use crate::evaluator::{Budget, EvalRequest, Evaluator};
use crate::history::History;
use crate::seed::RunSeeds;
use crate::space::SearchSpace;
use crate::strategy::Strategy;
use crate::trial::{Status, Trial};

use super::toy::{SyntheticEvaluator, toy_space};

/// One run: a space, its seeds, an evaluator and the history so far.
#[derive(Debug, Clone)]
pub struct Run {
    /// The space every proposal must be in.
    pub space: SearchSpace,
    /// The run's seeds; trial `i` is evaluated with `seeds.trial_seed(i)`.
    pub seeds: RunSeeds,
    /// The evaluator of new architectures.
    pub evaluator: SyntheticEvaluator,
    /// The finished trials, in order.
    pub history: History,
}

impl Run {
    /// A run on the toy space with the default synthetic evaluator.
    pub fn toy(seeds: RunSeeds) -> Self {
        Run::new(toy_space(), seeds, SyntheticEvaluator::default())
    }

    /// A run on `space` with `evaluator` and an empty history.
    pub fn new(space: SearchSpace, seeds: RunSeeds, evaluator: SyntheticEvaluator) -> Self {
        Run {
            space,
            seeds,
            evaluator,
            history: History::new(),
        }
    }

    /// The trial the runner would record for `arch` as the next trial (not pushed).
    pub fn evaluate(&self, arch: Architecture) -> Trial {
        let index = self.history.len() as u32;
        let seed = self.seeds.trial_seed(u64::from(index));
        let mut trial = Trial {
            strategy: "test".into(),
            repetition: 0,
            index,
            seed,
            arch,
            status: Status::Ok,
            reason: None,
            metrics: None,
            cached: false,
        };
        if let Some(earlier) = self.history.lookup(&trial.arch) {
            trial.status = earlier.status;
            trial.reason = earlier.reason.clone();
            trial.metrics = earlier.metrics.clone();
            trial.cached = true;
            return trial;
        }
        let request = EvalRequest {
            arch: &trial.arch,
            budget: &Budget::default(),
            seed,
            test: false,
        };
        trial.record(self.evaluator.evaluate(&request));
        trial
    }

    /// One ask, evaluation and tell; returns the proposal.
    ///
    /// # Panics
    /// When the strategy's ask or tell fails, or it proposes outside the space.
    pub fn step(&mut self, strategy: &mut dyn Strategy) -> Architecture {
        let arch = strategy.ask(&self.history).expect("ask");
        if let Err(e) = self.space.contains(&arch) {
            panic!("proposal outside the space: {e}");
        }
        let trial = self.evaluate(arch.clone());
        self.history.push(trial.clone());
        strategy.tell(&trial).expect("tell");
        arch
    }

    /// `n` steps; returns the proposals.
    pub fn steps(&mut self, strategy: &mut dyn Strategy, n: usize) -> Vec<Architecture> {
        (0..n).map(|_| self.step(strategy)).collect()
    }

    /// Best fitness so far (0 before any ranked trial).
    pub fn best(&self) -> f64 {
        self.history.best_fitness().unwrap_or(0.0)
    }
}

/// `evals` steps of `strategy` on the toy space with the default synthetic evaluator and
/// `seeds`; returns the history.
pub fn run(strategy: &mut dyn Strategy, seeds: RunSeeds, evals: usize) -> History {
    let mut run = Run::toy(seeds);
    run.steps(strategy, evals);
    run.history
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::UniformBaseline;

    #[test]
    fn a_repeat_reuses_the_first_result() {
        let seeds = RunSeeds::new(1, "h", 0);
        let mut run = Run::toy(seeds);
        let arch: Architecture = "dense16-relu".parse().unwrap();
        let first = run.evaluate(arch.clone());
        run.history.push(first.clone());
        let again = run.evaluate(arch);
        assert!(!first.cached && again.cached);
        assert_eq!((again.index, again.metrics), (1, first.metrics));
    }

    #[test]
    fn run_returns_every_trial_in_order() {
        let seeds = RunSeeds::new(1, "h", 0);
        let history = run(&mut UniformBaseline::new(toy_space(), seeds), seeds, 20);
        let indices: Vec<u32> = history.trials().iter().map(|t| t.index).collect();
        assert_eq!(indices, (0..20).collect::<Vec<_>>());
    }
}
