//! The runner's loop, in small, for this crate's integration tests: ask, evaluate with the
//! synthetic evaluator (or reuse the stored result of a repeat, as the runner does), push
//! to the history, tell. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod stats;

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

/// The random-search baseline: independent uniform draws from the space, exactly what
/// nas-random's `RandomSearch` does with its default params (kept here so that this crate
/// does not depend on nas-random, even for tests).
pub struct UniformBaseline {
    pub space: SearchSpace,
    pub rng: nas_core::NasRng,
}

impl Strategy for UniformBaseline {
    fn ask(&mut self, _history: &History) -> nas_core::Result<Architecture> {
        Ok(self.space.sample(&mut self.rng))
    }

    fn tell(&mut self, _trial: &Trial) -> nas_core::Result<()> {
        Ok(())
    }
}

/// Final best-so-far of `reps` runs of `evals` trials on the toy space; repetition `r` uses
/// the seeds of `(experiment, name, r)`, as the runner derives them.
pub fn final_bests(
    name: &str,
    reps: u32,
    evals: usize,
    mut make: impl FnMut(RunSeeds) -> Box<dyn Strategy>,
) -> Vec<f64> {
    (0..reps)
        .map(|r| {
            let seeds = RunSeeds::new(2024, name, r);
            let mut run = Run::toy(seeds);
            let mut strategy = make(seeds);
            run.steps(strategy.as_mut(), evals);
            run.best()
        })
        .collect()
}

/// Runs `name` and the uniform baseline over 30 seeds x 150 evaluations, prints both means
/// and the one-sided Mann-Whitney p-value of "`name` ends higher", and returns it.
pub fn compare_with_random(name: &str, make: impl FnMut(RunSeeds) -> Box<dyn Strategy>) -> f64 {
    const REPS: u32 = 30;
    const EVALS: usize = 150;
    let random = final_bests("random", REPS, EVALS, |seeds| {
        Box::new(UniformBaseline {
            space: toy_space(),
            rng: seeds.strategy_rng(),
        })
    });
    let strategy = final_bests(name, REPS, EVALS, make);
    let (u, p) = stats::mann_whitney_greater(&strategy, &random);
    println!(
        "{name}: mean best after {EVALS} = {:.4} vs random {:.4} ({REPS} seeds; U = {u}, one-sided Mann-Whitney p = {p:.2e})",
        stats::mean(&strategy),
        stats::mean(&random),
    );
    p
}
