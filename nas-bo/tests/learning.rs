//! The model-based strategies learn: on the toy chain space and on NAS-Bench-201's cell
//! space with the synthetic evaluator, over 30 seeds x 150 evaluations, each ends with a
//! higher best-so-far than random search (one-sided Mann-Whitney p < 0.01). Run with
//! `--nocapture` to see the means.

use nas_bo::{Tpe, TpeParams};
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
