//! Local search against the runner's contract: reproducible, resumable from a checkpoint,
//! valid proposals, robust to failures and to asks in flight, strict about tells.

use nas_core::testutil::{
    Run, SyntheticEvaluator, assert_accepts_asks_in_flight, assert_rejects_tell_without_ask,
    assert_restore_continues, assert_same_proposals, assert_survives_diverged_and_failed,
    tiny_space, toy_space,
};
use nas_core::{RunSeeds, SearchSpace};
use nas_local::{LocalSearch, LocalSearchParams};

fn local(params: LocalSearchParams) -> impl Fn(SearchSpace, RunSeeds) -> LocalSearch {
    let params = params.check().unwrap();
    move |space, seeds| LocalSearch::new(space, params.clone(), seeds.strategy_rng())
}

fn variants() -> Vec<LocalSearchParams> {
    vec![LocalSearchParams::default(), LocalSearchParams::naszilla()]
}

#[test]
fn same_seed_same_proposals() {
    for p in variants() {
        assert_same_proposals(local(p));
    }
}

#[test]
fn restored_mid_run_continues_identically() {
    for p in variants() {
        assert_restore_continues(local(p));
    }
}

#[test]
fn accepts_asks_in_flight() {
    for p in variants() {
        assert_accepts_asks_in_flight(local(p));
    }
}

#[test]
fn survives_diverged_and_failed_trials() {
    for p in variants() {
        assert_survives_diverged_and_failed(local(p));
    }
}

#[test]
fn rejects_a_tell_without_its_ask() {
    assert_rejects_tell_without_ask(local(LocalSearchParams::default()));
}

#[test]
fn never_proposes_an_evaluated_architecture_while_unseen_ones_remain() {
    for p in variants() {
        let seeds = RunSeeds::new(15, "local-search", 0);
        let mut run = Run::toy(seeds);
        let mut s = local(p)(toy_space(), seeds);
        run.steps(&mut s, 300);
        assert_eq!(run.history().distinct(), 300);
        assert!(s.moves() > 0, "it climbed");
    }
}

#[test]
fn goes_on_in_a_space_it_has_exhausted() {
    // A space of 6 architectures and a budget of 20.
    let space = tiny_space();
    let seeds = RunSeeds::new(16, "local-search", 0);
    let mut s = local(LocalSearchParams::default())(space.clone(), seeds);
    let mut run = Run::new(space, seeds, SyntheticEvaluator::default());
    run.steps(&mut s, 20);
    assert_eq!(run.history().distinct(), 6);
}
