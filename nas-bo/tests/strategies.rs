//! TPE and BANANAS against the runner's contract: reproducible, resumable from a
//! checkpoint, valid proposals, robust to failures and to asks in flight, strict about
//! tells, and never proposing an architecture twice while new ones remain.

use nas_bo::{Bananas, BananasParams, Tpe, TpeParams};
use nas_core::testutil::{
    Run, SyntheticEvaluator, assert_accepts_asks_in_flight, assert_rejects_tell_without_ask,
    assert_restore_continues, assert_same_proposals, assert_survives_diverged_and_failed,
    tiny_space, toy_cell_space, toy_space,
};
use nas_core::{RunSeeds, SearchSpace};

fn tpe(params: TpeParams) -> impl Fn(SearchSpace, RunSeeds) -> Tpe {
    let params = params.check().unwrap();
    move |space, seeds| Tpe::new(space, params.clone(), seeds.strategy_rng())
}

fn tpe_variants() -> Vec<TpeParams> {
    vec![TpeParams::default(), TpeParams::independent()]
}

#[test]
fn tpe_same_seed_same_proposals() {
    for p in tpe_variants() {
        assert_same_proposals(tpe(p));
    }
}

#[test]
fn tpe_restored_mid_run_continues_identically() {
    for p in tpe_variants() {
        assert_restore_continues(tpe(p));
    }
}

#[test]
fn tpe_accepts_asks_in_flight() {
    for p in tpe_variants() {
        assert_accepts_asks_in_flight(tpe(p));
    }
}

#[test]
fn tpe_survives_diverged_and_failed_trials() {
    for p in tpe_variants() {
        assert_survives_diverged_and_failed(tpe(p));
    }
}

#[test]
fn tpe_rejects_a_tell_without_its_ask() {
    assert_rejects_tell_without_ask(tpe(TpeParams::default()));
}

#[test]
fn tpe_never_proposes_an_evaluated_architecture_while_new_ones_remain() {
    for p in tpe_variants() {
        for space in [toy_space(), toy_cell_space()] {
            let seeds = RunSeeds::new(15, "tpe", 0);
            let mut run = Run::new(space.clone(), seeds, SyntheticEvaluator::default());
            let mut s = tpe(p.clone())(space, seeds);
            run.steps(&mut s, 300);
            assert_eq!(run.history().distinct(), 300);
        }
    }
}

#[test]
fn tpe_goes_on_in_a_space_it_has_exhausted() {
    let space = tiny_space();
    let seeds = RunSeeds::new(16, "tpe", 0);
    let mut s = tpe(TpeParams::default())(space.clone(), seeds);
    let mut run = Run::new(space, seeds, SyntheticEvaluator::default());
    run.steps(&mut s, 20);
    assert_eq!(run.history().distinct(), 6);
    assert!(s.fallbacks() > 0);
}

/// BANANAS with small predictors, so that the contract checks (hundreds of asks on three
/// spaces) stay fast; the algorithm is the same.
fn bananas_small() -> BananasParams {
    BananasParams {
        hidden_layers: 2,
        hidden_units: 8,
        epochs: 20,
        ..BananasParams::default()
    }
}

fn bananas(params: BananasParams) -> impl Fn(SearchSpace, RunSeeds) -> Bananas {
    let params = params.check().unwrap();
    move |space, seeds| Bananas::new(space, params.clone(), seeds.strategy_rng())
}

#[test]
fn bananas_same_seed_same_proposals() {
    assert_same_proposals(bananas(bananas_small()));
}

#[test]
fn bananas_restored_mid_run_continues_identically() {
    assert_restore_continues(bananas(bananas_small()));
}

#[test]
fn bananas_accepts_asks_in_flight() {
    assert_accepts_asks_in_flight(bananas(bananas_small()));
}

#[test]
fn bananas_survives_diverged_and_failed_trials() {
    assert_survives_diverged_and_failed(bananas(bananas_small()));
}

#[test]
fn bananas_rejects_a_tell_without_its_ask() {
    assert_rejects_tell_without_ask(bananas(bananas_small()));
}

#[test]
fn bananas_never_proposes_an_evaluated_architecture_while_new_ones_remain() {
    for space in [toy_space(), toy_cell_space()] {
        let seeds = RunSeeds::new(15, "bananas", 0);
        let mut run = Run::new(space.clone(), seeds, SyntheticEvaluator::default());
        let mut s = bananas(bananas_small())(space, seeds);
        run.steps(&mut s, 150);
        assert_eq!(run.history().distinct(), 150);
        assert_eq!(
            s.fits(),
            14,
            "one ensemble per 10 proposals after the first 10"
        );
    }
}

#[test]
fn bananas_goes_on_in_a_space_it_has_exhausted() {
    let space = tiny_space();
    let seeds = RunSeeds::new(16, "bananas", 0);
    let mut s = bananas(bananas_small())(space.clone(), seeds);
    let mut run = Run::new(space, seeds, SyntheticEvaluator::default());
    run.steps(&mut s, 20);
    assert_eq!(run.history().distinct(), 6);
}
