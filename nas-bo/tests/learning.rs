//! The model-based strategies learn: on the toy chain space and on NAS-Bench-201's cell
//! space with the synthetic evaluator, over 30 seeds x 150 evaluations, each ends with a
//! higher best-so-far than random search (one-sided Mann-Whitney p < 0.01). Run with
//! `--nocapture` to see the means.

use nas_bo::{Bananas, BananasParams, Tpe, TpeParams};
use nas_core::testutil::{compare_with_random, toy_cell_space, toy_space};

fn tpe_beats_random_search(params: TpeParams, name: &str) {
    let params = params.check().unwrap();
    for space in [toy_space(), toy_cell_space()] {
        let p = compare_with_random(&space, name, |space, seeds| {
            Box::new(Tpe::new(space, params.clone(), seeds.strategy_rng()))
        });
        assert!(p < 0.01, "{} space: p = {p}", space.kind());
    }
}

#[test]
fn tpe_with_default_params_beats_random_search() {
    tpe_beats_random_search(TpeParams::default(), "tpe");
}

#[test]
fn independent_tpe_beats_random_search() {
    tpe_beats_random_search(TpeParams::independent(), "tpe-independent");
}

fn bananas_beats_random_search(params: BananasParams, name: &str) {
    let params = params.check().unwrap();
    for space in [toy_space(), toy_cell_space()] {
        let p = compare_with_random(&space, name, |space, seeds| {
            Box::new(Bananas::new(space, params.clone(), seeds.strategy_rng()))
        });
        assert!(p < 0.01, "{} space: p = {p}", space.kind());
    }
}

/// BANANAS with a smaller ensemble: 3 predictors of 1 hidden layer trained 20 epochs
/// instead of 5 of 10 layers trained 150 epochs, everything else at its defaults (ITS,
/// 100 mutated candidates, batches of 10). At its defaults it trains 14 ensembles per
/// 150-trial run, about 1.7 s of CPU per run, 100 s for this test's 60 runs: too slow for
/// the test suite, not too weak (the ignored test below checks the defaults; the numbers
/// are in the README).
#[test]
fn bananas_with_a_smaller_ensemble_beats_random_search() {
    let params = BananasParams {
        num_ensemble: 3,
        hidden_layers: 1,
        epochs: 20,
        ..BananasParams::default()
    };
    bananas_beats_random_search(params, "bananas-small");
}

/// The defaults: about 100 s of CPU; chain 0.980, cell 0.981 (both p = 1.5e-11). Run
/// with `cargo test --release -p nas-bo --test learning -- --ignored --nocapture`.
#[test]
#[ignore = "about 100 s of CPU; run with --ignored"]
fn bananas_with_default_params_beats_random_search() {
    bananas_beats_random_search(BananasParams::default(), "bananas");
}
