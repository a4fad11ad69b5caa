//! Random search against the runner's contract: reproducible, resumable, valid, and
//! without repeats when asked.

mod common;

use std::collections::BTreeSet;

use common::Run;
use nas_core::space::{DenseChoices, DropoutChoices};
use nas_core::testutil::{SyntheticEvaluator, toy_space};
use nas_core::{
    Architecture, DropoutRate, InputShape, RunSeeds, SearchSpace, SearchSpaceParams, Strategy,
};
use nas_random::{RandomParams, RandomSearch};

fn search(no_repeat: bool, space: &SearchSpace, seeds: RunSeeds) -> RandomSearch {
    let params = RandomParams { no_repeat }.check().unwrap();
    RandomSearch::new(space.clone(), params, seeds.strategy_rng())
}

/// A space of 2 + 4 = 6 architectures: one or two of {dense8-relu, dropout0.5}.
fn tiny_space() -> SearchSpace {
    SearchSpaceParams {
        min_layers: 1,
        max_layers: 2,
        conv2d: None,
        maxpool2d: false,
        dense: Some(DenseChoices {
            units: vec![8],
            activations: vec![nas_core::Activation::Relu],
        }),
        dropout: Some(DropoutChoices {
            rates: vec![DropoutRate::from_f64(0.5).unwrap()],
        }),
    }
    .check(InputShape::new(1, 4, 4))
    .unwrap()
}

#[test]
fn same_seed_same_proposals_and_another_seed_others() {
    for no_repeat in [false, true] {
        let seeds = RunSeeds::new(7, "random", 0);
        let space = toy_space();
        let a = Run::toy(seeds).steps(&mut search(no_repeat, &space, seeds), 60);
        let b = Run::toy(seeds).steps(&mut search(no_repeat, &space, seeds), 60);
        assert_eq!(a, b);
        let other = RunSeeds::new(7, "random", 1);
        let c = Run::toy(other).steps(&mut search(no_repeat, &space, other), 60);
        assert_ne!(a, c);
    }
}

#[test]
fn save_and_restore_mid_run_continues_identically() {
    for no_repeat in [false, true] {
        let seeds = RunSeeds::new(11, "random", 2);
        let mut run = Run::toy(seeds);
        let mut s = search(no_repeat, &toy_space(), seeds);
        run.steps(&mut s, 25);
        // A proposal in flight when the checkpoint is taken.
        let in_flight = s.ask(&run.history).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let mut restored: RandomSearch = serde_json::from_str(&json).unwrap();
        let trial = run.evaluate(in_flight);
        let mut run2 = Run::toy(seeds);
        run2.history = run.history.clone();
        for (strategy, r) in [(&mut s, &mut run), (&mut restored, &mut run2)] {
            r.history.push(trial.clone());
            strategy.tell(&trial).unwrap();
        }
        assert_eq!(run.steps(&mut s, 30), run2.steps(&mut restored, 30));
    }
}

#[test]
fn no_repeat_covers_the_space_before_repeating() {
    let space = tiny_space();
    let n = space.count_architectures() as usize;
    assert_eq!(n, 6);
    let seeds = RunSeeds::new(3, "random", 0);
    let evaluator = SyntheticEvaluator::default();
    let mut run = Run::new(space.clone(), seeds, evaluator.clone());
    let mut s = search(true, &space, seeds);
    let first: BTreeSet<Architecture> = run.steps(&mut s, n).into_iter().collect();
    assert_eq!(first.len(), n, "all distinct");
    assert_eq!(
        first,
        space
            .enumerate(100)
            .unwrap()
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
    // The space is exhausted: proposals go on, with repeats.
    run.steps(&mut s, 4);
    assert_eq!(run.history.len(), n + 4);

    // Without no_repeat, the same number of draws repeats some architecture.
    let mut run = Run::new(space.clone(), seeds, evaluator);
    let mut s = search(false, &space, seeds);
    let drawn: BTreeSet<Architecture> = run.steps(&mut s, 2 * n).into_iter().collect();
    assert!(drawn.len() < 2 * n);
}

#[test]
fn no_repeat_skips_proposals_still_in_flight() {
    let space = tiny_space();
    let seeds = RunSeeds::new(5, "random", 0);
    let mut s = search(true, &space, seeds);
    let history = nas_core::History::new();
    let asked: BTreeSet<Architecture> = (0..6).map(|_| s.ask(&history).unwrap()).collect();
    assert_eq!(asked.len(), 6);
}

#[test]
fn diverged_trials_are_accepted() {
    let seeds = RunSeeds::new(1, "random", 0);
    let evaluator = SyntheticEvaluator {
        diverge_every: Some(3),
        ..SyntheticEvaluator::default()
    };
    let mut run = Run::new(toy_space(), seeds, evaluator);
    run.steps(&mut search(false, &toy_space(), seeds), 40);
    assert!(
        run.history
            .trials()
            .iter()
            .any(|t| t.status == nas_core::Status::Diverged)
    );
}

#[test]
fn a_tell_without_a_matching_ask_is_an_error() {
    let seeds = RunSeeds::new(1, "random", 0);
    let run = Run::toy(seeds);
    let mut s = search(false, &toy_space(), seeds);
    let trial = run.evaluate("dense16-relu".parse().unwrap());
    let err = s.tell(&trial).unwrap_err().to_string();
    assert!(err.contains("dense16-relu"), "{err}");
}
