//! Random search against the runner's contract: reproducible, resumable, valid, and
//! without repeats when asked.

use std::collections::BTreeSet;

use nas_core::testutil::{
    Run, SyntheticEvaluator, assert_accepts_asks_in_flight, assert_rejects_tell_without_ask,
    assert_restore_continues, assert_same_proposals, assert_survives_diverged_and_failed,
    tiny_space, toy_space,
};
use nas_core::{Architecture, RunSeeds, SearchSpace, Strategy};
use nas_random::{RandomParams, RandomSearch};

fn search(no_repeat: bool, space: &SearchSpace, seeds: RunSeeds) -> RandomSearch {
    let params = RandomParams { no_repeat }.check().unwrap();
    RandomSearch::new(space.clone(), params, seeds.strategy_rng())
}

/// Random search on a toy space, with or without `no_repeat`.
fn on_toy(no_repeat: bool) -> impl Fn(SearchSpace, RunSeeds) -> RandomSearch {
    move |space, seeds| search(no_repeat, &space, seeds)
}

#[test]
fn same_seed_same_proposals_and_another_seed_others() {
    for no_repeat in [false, true] {
        assert_same_proposals(on_toy(no_repeat));
    }
}

#[test]
fn save_and_restore_mid_run_continues_identically() {
    for no_repeat in [false, true] {
        assert_restore_continues(on_toy(no_repeat));
    }
}

#[test]
fn asks_in_flight_are_accepted() {
    for no_repeat in [false, true] {
        assert_accepts_asks_in_flight(on_toy(no_repeat));
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
    assert_eq!(run.history().len(), n + 4);

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
fn diverged_and_failed_trials_are_accepted() {
    for no_repeat in [false, true] {
        assert_survives_diverged_and_failed(on_toy(no_repeat));
    }
}

#[test]
fn a_second_tell_of_a_trial_is_an_error() {
    assert_rejects_tell_without_ask(on_toy(false));
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
