//! The runner's contract as assertions that any strategy must pass: reproducible, resumable
//! from a checkpoint with a proposal in flight, valid proposals, robust to asks in flight
//! and to diverged and failed trials, and strict about tells it did not ask for.
//!
//! Each check takes `build`, a closure that makes the strategy under test for a space and
//! a run's seeds (typically `|space, seeds| MyStrategy::new(space, params.clone(),
//! seeds.strategy_rng())`), runs it with the synthetic evaluator on the toy space of every
//! kind ([`toy_spaces`]: chain, cell, macro), and panics when the strategy breaks the
//! contract on any of them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::architecture::Architecture;
use crate::seed::RunSeeds;
use crate::space::SearchSpace;
use crate::strategy::Strategy;
use crate::trial::{Status, Trial};

use super::harness::Run;
use super::toy::{SyntheticEvaluator, toy_spaces};

/// A run on `space` with the default synthetic evaluator.
fn run_on(space: &SearchSpace, seeds: RunSeeds) -> Run {
    Run::new(space.clone(), seeds, SyntheticEvaluator::default())
}

/// The same seeds give the same 80 proposals, and other seeds give others.
pub fn assert_same_proposals<S: Strategy>(build: impl Fn(SearchSpace, RunSeeds) -> S) {
    for space in toy_spaces() {
        let seeds = RunSeeds::new(9, "s", 0);
        let a = run_on(&space, seeds).steps(&mut build(space.clone(), seeds), 80);
        let b = run_on(&space, seeds).steps(&mut build(space.clone(), seeds), 80);
        assert_eq!(a, b, "the same seeds gave other proposals");
        let other = RunSeeds::new(9, "s", 1);
        assert_ne!(
            a,
            run_on(&space, other).steps(&mut build(space.clone(), other), 80),
            "other seeds gave the same proposals"
        );
    }
}

/// Runs 37 steps, asks once more, checkpoints (serde JSON) with that proposal in flight,
/// and checks that the checkpoint reads back to the same JSON and that the restored
/// strategy continues exactly like the original for 60 more steps.
pub fn assert_restore_continues<S: Strategy + Serialize + DeserializeOwned>(
    build: impl Fn(SearchSpace, RunSeeds) -> S,
) {
    for space in toy_spaces() {
        restore_continues(&space, &build);
    }
}

fn restore_continues<S: Strategy + Serialize + DeserializeOwned>(
    space: &SearchSpace,
    build: &impl Fn(SearchSpace, RunSeeds) -> S,
) {
    let seeds = RunSeeds::new(10, "s", 3);
    let mut run = run_on(space, seeds);
    let mut original = build(space.clone(), seeds);
    run.steps(&mut original, 37);
    let in_flight = original.ask(run.history()).expect("ask");
    let json = serde_json::to_string(&original).expect("the strategy serializes");
    let mut restored: S = serde_json::from_str(&json).expect("the checkpoint deserializes");
    assert_eq!(
        serde_json::to_string(&restored).expect("the restored strategy serializes"),
        json,
        "the restored strategy serializes differently"
    );
    let mut run2 = run.clone();
    let trial = run.evaluate(in_flight);
    run.record(trial.clone());
    run2.record(trial.clone());
    original.tell(&trial).expect("tell");
    restored.tell(&trial).expect("tell after restore");
    assert_eq!(
        run.steps(&mut original, 60),
        run2.steps(&mut restored, 60),
        "the restored strategy proposes otherwise"
    );
}

/// Asks 25 times before telling anything (every proposal in the space), tells in reverse
/// order, then goes on for 40 steps.
pub fn assert_accepts_asks_in_flight<S: Strategy>(build: impl Fn(SearchSpace, RunSeeds) -> S) {
    for space in toy_spaces() {
        asks_in_flight(&space, &build);
    }
}

fn asks_in_flight<S: Strategy>(space: &SearchSpace, build: &impl Fn(SearchSpace, RunSeeds) -> S) {
    let seeds = RunSeeds::new(12, "s", 0);
    let mut run = run_on(space, seeds);
    let mut s = build(space.clone(), seeds);
    let asked: Vec<Architecture> = (0..25)
        .map(|_| s.ask(run.history()).expect("ask"))
        .collect();
    let trials: Vec<Trial> = asked
        .into_iter()
        .map(|a| {
            assert!(run.space.is_valid(&a), "proposal outside the space: {a}");
            let t = run.evaluate(a);
            run.record(t.clone());
            t
        })
        .collect();
    for t in trials.iter().rev() {
        s.tell(t).expect("tell");
    }
    run.steps(&mut s, 40);
}

/// 100 steps where every third architecture (by id) diverges and every seventh new
/// evaluation fails: the strategy goes on, and something still ranks.
pub fn assert_survives_diverged_and_failed<S: Strategy>(
    build: impl Fn(SearchSpace, RunSeeds) -> S,
) {
    for space in toy_spaces() {
        survives(&space, &build);
    }
}

fn survives<S: Strategy>(space: &SearchSpace, build: &impl Fn(SearchSpace, RunSeeds) -> S) {
    let seeds = RunSeeds::new(13, "s", 0);
    let evaluator = SyntheticEvaluator {
        diverge_every: Some(3),
        ..SyntheticEvaluator::default()
    };
    let mut run = Run::new(space.clone(), seeds, evaluator);
    let mut s = build(space.clone(), seeds);
    for i in 0..100 {
        let arch = s.ask(run.history()).expect("ask");
        let mut trial = run.evaluate(arch);
        if i % 7 == 0 && !trial.cached {
            trial.status = Status::Failed;
            trial.metrics = None;
            trial.reason = Some("synthetic failure".into());
        }
        run.record(trial.clone());
        s.tell(&trial).expect("tell");
    }
    let statuses: Vec<Status> = run.history().trials().iter().map(|t| t.status).collect();
    assert!(
        statuses.contains(&Status::Diverged) && statuses.contains(&Status::Failed),
        "the run had no diverged or no failed trial: {statuses:?}"
    );
    assert!(run.history().best_fitness().is_some(), "no trial ranked");
}

/// After 3 steps, telling the first trial again is an error that names its architecture.
pub fn assert_rejects_tell_without_ask<S: Strategy>(build: impl Fn(SearchSpace, RunSeeds) -> S) {
    for space in toy_spaces() {
        let seeds = RunSeeds::new(14, "s", 0);
        let mut run = run_on(&space, seeds);
        let mut s = build(space.clone(), seeds);
        rejects(&mut run, &mut s);
    }
}

fn rejects<S: Strategy>(run: &mut Run, s: &mut S) {
    run.steps(s, 3);
    let trial = run.history().trials()[0].clone();
    let err = s
        .tell(&trial)
        .expect_err("a second tell of the same trial was accepted")
        .to_string();
    assert!(err.contains(&trial.arch.to_string()), "{err}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::testutil::UniformBaseline;

    fn baseline(space: SearchSpace, seeds: RunSeeds) -> UniformBaseline {
        UniformBaseline::new(space, seeds)
    }

    #[test]
    fn the_uniform_baseline_passes_the_checks_that_apply_to_it() {
        assert_same_proposals(baseline);
        assert_accepts_asks_in_flight(baseline);
        assert_survives_diverged_and_failed(baseline);
    }

    /// Proposes the toy optimum whatever its seeds.
    struct Stubborn;

    impl Strategy for Stubborn {
        fn ask(&mut self, _history: &History) -> crate::Result<Architecture> {
            Ok(crate::testutil::toy_optimum())
        }

        fn tell(&mut self, _trial: &Trial) -> crate::Result<()> {
            Ok(())
        }
    }

    #[test]
    #[should_panic(expected = "other seeds gave the same proposals")]
    fn a_strategy_that_ignores_its_seeds_fails() {
        assert_same_proposals(|_, _| Stubborn);
    }

    #[test]
    #[should_panic(expected = "a second tell of the same trial was accepted")]
    fn a_strategy_that_accepts_any_tell_fails() {
        assert_rejects_tell_without_ask(|_, _| Stubborn);
    }
}
