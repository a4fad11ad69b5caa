//! The runner's loop, in small, for this crate's integration tests: ask, evaluate with the
//! synthetic evaluator (or reuse the stored result of a repeat, as the runner does), push
//! to the history, tell. Each test binary uses a part of it.
#![allow(dead_code)]

use nas_core::testutil::{SyntheticEvaluator, toy_space};
use nas_core::{
    Architecture, Budget, EvalRequest, Evaluator, History, RunSeeds, SearchSpace, Status, Strategy,
    Trial,
};

/// One run: a space, its seeds, an evaluator and the history so far.
pub struct Run {
    pub space: SearchSpace,
    pub seeds: RunSeeds,
    pub evaluator: SyntheticEvaluator,
    pub history: History,
}

impl Run {
    /// A run on the toy space with the default synthetic evaluator.
    pub fn toy(seeds: RunSeeds) -> Self {
        Run::new(toy_space(), seeds, SyntheticEvaluator::default())
    }

    pub fn new(space: SearchSpace, seeds: RunSeeds, evaluator: SyntheticEvaluator) -> Self {
        Run {
            space,
            seeds,
            evaluator,
            history: History::new(),
        }
    }

    /// The trial the runner would record for `arch` as the next trial.
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
        match self.evaluator.evaluate(&request) {
            Ok(eval) => {
                trial.status = eval.status;
                trial.reason = eval.reason;
                trial.metrics = Some(eval.metrics);
            }
            Err(e) => {
                trial.status = Status::Failed;
                trial.reason = Some(e.to_string());
            }
        }
        trial
    }

    /// One ask, evaluation and tell; returns the proposal.
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
