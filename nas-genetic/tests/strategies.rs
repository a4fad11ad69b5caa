//! The GA and regularized evolution against the runner's contract: reproducible,
//! resumable from a checkpoint, valid proposals, robust to failures and to asks in flight.

use nas_core::testutil::{
    Run, SyntheticEvaluator, assert_accepts_asks_in_flight, assert_rejects_tell_without_ask,
    assert_restore_continues, assert_same_proposals, assert_survives_diverged_and_failed,
    tiny_space, toy_space,
};
use nas_core::{RunSeeds, SearchSpace};
use nas_genetic::{
    Crossover, EvolutionParams, GaParams, GeneticAlgorithm, RegularizedEvolution, Selection,
};

fn ga(params: GaParams) -> impl Fn(SearchSpace, RunSeeds) -> GeneticAlgorithm {
    let params = params.check().unwrap();
    move |space, seeds| GeneticAlgorithm::new(space, params.clone(), seeds.strategy_rng())
}

fn evolution(params: EvolutionParams) -> impl Fn(SearchSpace, RunSeeds) -> RegularizedEvolution {
    let params = params.check().unwrap();
    move |space, seeds| RegularizedEvolution::new(space, params.clone(), seeds.strategy_rng())
}

fn ga_variants() -> Vec<GaParams> {
    vec![
        GaParams::default(),
        GaParams {
            population: 6,
            selection: Selection::Roulette,
            crossover: Crossover::Uniform,
            elitism: 0,
            ..GaParams::default()
        },
    ]
}

#[test]
fn ga_same_seed_same_proposals() {
    for p in ga_variants() {
        assert_same_proposals(ga(p));
    }
}

#[test]
fn evolution_same_seed_same_proposals() {
    assert_same_proposals(evolution(EvolutionParams::default()));
}

#[test]
fn ga_restored_mid_run_continues_identically() {
    for p in ga_variants() {
        assert_restore_continues(ga(p));
    }
}

#[test]
fn evolution_restored_mid_run_continues_identically() {
    assert_restore_continues(evolution(EvolutionParams::default()));
}

#[test]
fn ga_accepts_asks_in_flight() {
    for p in ga_variants() {
        assert_accepts_asks_in_flight(ga(p));
    }
}

#[test]
fn evolution_accepts_asks_in_flight() {
    assert_accepts_asks_in_flight(evolution(EvolutionParams::default()));
}

#[test]
fn ga_survives_diverged_and_failed_trials() {
    for p in ga_variants() {
        assert_survives_diverged_and_failed(ga(p));
    }
}

#[test]
fn evolution_survives_diverged_and_failed_trials() {
    assert_survives_diverged_and_failed(evolution(EvolutionParams::default()));
}

#[test]
fn ga_rejects_a_tell_without_its_ask() {
    assert_rejects_tell_without_ask(ga(GaParams::default()));
}

#[test]
fn evolution_rejects_a_tell_without_its_ask() {
    assert_rejects_tell_without_ask(evolution(EvolutionParams::default()));
}

#[test]
fn the_ga_never_proposes_an_evaluated_architecture() {
    for p in ga_variants() {
        let seeds = RunSeeds::new(15, "ga", 0);
        let mut run = Run::toy(seeds);
        let mut s = ga(p)(toy_space(), seeds);
        run.steps(&mut s, 300);
        assert_eq!(run.history().distinct(), 300);
        assert!(s.generations() > 5, "{} generations", s.generations());
    }
}

#[test]
fn the_ga_goes_on_in_a_space_it_has_exhausted() {
    // A space of 6 architectures and a budget of 20: after the 6, immigrants repeat.
    let space = tiny_space();
    let seeds = RunSeeds::new(16, "ga", 0);
    let params = GaParams {
        population: 4,
        ..GaParams::default()
    }
    .check()
    .unwrap();
    let mut s = GeneticAlgorithm::new(space.clone(), params, seeds.strategy_rng());
    let mut run = Run::new(space, seeds, SyntheticEvaluator::default());
    run.steps(&mut s, 20);
    assert_eq!(run.history().distinct(), 6);
}
