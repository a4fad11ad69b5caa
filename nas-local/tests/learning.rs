//! Local search learns: on the toy chain space and on NAS-Bench-201's cell space with the
//! synthetic evaluator, over 30 seeds x 150 evaluations, it ends with a higher best-so-far
//! than random search (one-sided Mann-Whitney p < 0.01), with its default params and with
//! the variant of the authors' code. Run with `--nocapture` to see the means.

use nas_core::testutil::{compare_with_random, toy_cell_space, toy_space};
use nas_local::{LocalSearch, LocalSearchParams};

fn beats_random_search(params: LocalSearchParams, name: &str) {
    let params = params.check().unwrap();
    for space in [toy_space(), toy_cell_space()] {
        let p = compare_with_random(&space, name, |space, seeds| {
            Box::new(LocalSearch::new(
                space,
                params.clone(),
                seeds.strategy_rng(),
            ))
        });
        assert!(p < 0.01, "{} space: p = {p}", space.kind());
    }
}

#[test]
fn local_search_with_default_params_beats_random_search() {
    beats_random_search(LocalSearchParams::default(), "local-search");
}

#[test]
fn naszilla_s_first_improvement_variant_beats_random_search() {
    beats_random_search(LocalSearchParams::naszilla(), "local-search-naszilla");
}
