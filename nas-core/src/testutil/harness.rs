//! The runner's loop, in small: [`crate::run::RunState::step`] (the very loop `nas run`
//! uses) with the synthetic evaluator, no journal and no limit but the number of steps.

use crate::architecture::Architecture;
use crate::evaluator::{Budget, EvalRequest, Evaluator};
use crate::history::History;
use crate::run::{Limits, RunState, Step, TrialHost};
use crate::seed::RunSeeds;
use crate::space::SearchSpace;
use crate::strategy::Strategy;
use crate::trial::Trial;

use super::toy::{SyntheticEvaluator, toy_space};

/// Strategy name and repetition of the harness's trials.
const STRATEGY: &str = "test";

/// One run: a space, its seeds, an evaluator and the history so far.
#[derive(Debug, Clone)]
pub struct Run {
    /// The space every proposal must be in.
    pub space: SearchSpace,
    /// The run's seeds; trial `i` is evaluated with `seeds.trial_seed(i)`.
    pub seeds: RunSeeds,
    /// The evaluator of new architectures.
    pub evaluator: SyntheticEvaluator,
    /// The finished trials and what they spent.
    pub state: RunState,
}

/// The harness's [`TrialHost`]: trial seeds from the run's seeds, evaluation by the
/// synthetic evaluator with the default budget.
struct Host<'a> {
    seeds: RunSeeds,
    evaluator: &'a SyntheticEvaluator,
}

impl TrialHost for Host<'_> {
    fn trial_seed(&self, index: u32, _arch: &Architecture) -> u64 {
        self.seeds.trial_seed(u64::from(index))
    }

    fn continues(&self) -> bool {
        self.evaluator.continues()
    }

    fn evaluate(&mut self, mut pending: Trial) -> Trial {
        let budget = Budget::default();
        let request = EvalRequest::new(&pending.arch, &budget, pending.seed)
            .with_fidelity(pending.fidelity.as_ref().map(|f| f.epochs));
        let outcome = self.evaluator.evaluate(&request);
        pending.record(outcome);
        pending
    }
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
            state: RunState::new(),
        }
    }

    /// The same run on `workers` simulated asynchronous workers ([`RunState::simulated`]).
    pub fn with_workers(self, workers: u32) -> Self {
        Run {
            state: RunState::simulated(workers),
            ..self
        }
    }

    /// The finished trials, in order.
    pub fn history(&self) -> &History {
        self.state.history()
    }

    /// The trial the runner would record for `arch` as the next trial (not recorded: add
    /// it with [`Run::record`]); a repeat of an earlier architecture is `cached`.
    pub fn evaluate(&self, arch: Architecture) -> Trial {
        let index = self.state.next_index();
        let mut host = Host {
            seeds: self.seeds,
            evaluator: &self.evaluator,
        };
        let seed = host.trial_seed(index, &arch);
        self.state
            .new_trial(index, seed, arch, &mut host, STRATEGY, 0)
    }

    /// Adds a finished trial to the run.
    pub fn record(&mut self, trial: Trial) {
        self.state.record(trial);
    }

    /// One ask, evaluation and tell of the shared loop; returns the proposal.
    ///
    /// # Panics
    /// When the strategy's ask or tell fails, or it proposes outside the space.
    pub fn step(&mut self, strategy: &mut dyn Strategy) -> Architecture {
        let mut host = Host {
            seeds: self.seeds,
            evaluator: &self.evaluator,
        };
        match self.state.step(
            strategy,
            &self.space,
            &Limits::evaluations(u32::MAX),
            &mut host,
            &mut [],
            STRATEGY,
            0,
        ) {
            Ok(Step::Trial(_)) => {
                let last = self.state.history().trials().last().expect("a trial");
                last.arch.clone()
            }
            Ok(Step::Stopped(reason)) => panic!("the harness run stopped: {}", reason.name()),
            Err(e) => panic!("{e}"),
        }
    }

    /// `n` steps; returns the proposals.
    pub fn steps(&mut self, strategy: &mut dyn Strategy, n: usize) -> Vec<Architecture> {
        (0..n).map(|_| self.step(strategy)).collect()
    }

    /// Best fitness so far (0 before any ranked trial).
    pub fn best(&self) -> f64 {
        self.history().best_fitness().unwrap_or(0.0)
    }
}

/// `evals` steps of `strategy` on the toy space with the default synthetic evaluator and
/// `seeds`; returns the history.
pub fn run(strategy: &mut dyn Strategy, seeds: RunSeeds, evals: usize) -> History {
    let mut run = Run::toy(seeds);
    run.steps(strategy, evals);
    run.state.history().clone()
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
        run.record(first.clone());
        let again = run.evaluate(arch);
        assert!(!first.cached && again.cached);
        assert_eq!(again.index, 1);
        let (m1, m2) = (first.metrics.unwrap(), again.metrics.unwrap());
        assert_eq!(
            (m2.val_acc, m2.train_seconds),
            (m1.val_acc, 0.0),
            "nothing trained"
        );
    }

    #[test]
    fn run_returns_every_trial_in_order() {
        let seeds = RunSeeds::new(1, "h", 0);
        let history = run(&mut UniformBaseline::new(toy_space(), seeds), seeds, 20);
        let indices: Vec<u32> = history.trials().iter().map(|t| t.index).collect();
        assert_eq!(indices, (0..20).collect::<Vec<_>>());
    }
}
