//! The GA and regularized evolution against the runner's contract: reproducible,
//! resumable from a checkpoint, valid proposals, robust to failures and to asks in flight.

mod common;

use common::Run;
use nas_core::testutil::{SyntheticEvaluator, toy_space};
use nas_core::{Architecture, RunSeeds, Status, Strategy};
use nas_genetic::{
    Crossover, EvolutionParams, GaParams, GeneticAlgorithm, RegularizedEvolution, Selection,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn ga(params: GaParams) -> impl Fn(RunSeeds) -> GeneticAlgorithm {
    let params = params.check().unwrap();
    move |seeds| GeneticAlgorithm::new(toy_space(), params.clone(), seeds.strategy_rng())
}

fn evolution(params: EvolutionParams) -> impl Fn(RunSeeds) -> RegularizedEvolution {
    let params = params.check().unwrap();
    move |seeds| RegularizedEvolution::new(toy_space(), params.clone(), seeds.strategy_rng())
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

fn same_seed_same_proposals<S: Strategy>(make: impl Fn(RunSeeds) -> S) {
    let seeds = RunSeeds::new(9, "s", 0);
    let a = Run::toy(seeds).steps(&mut make(seeds), 80);
    let b = Run::toy(seeds).steps(&mut make(seeds), 80);
    assert_eq!(a, b);
    let other = RunSeeds::new(9, "s", 1);
    assert_ne!(a, Run::toy(other).steps(&mut make(other), 80));
}

/// Runs 37 steps, asks once more, checkpoints with that proposal in flight, and checks that
/// the restored strategy continues exactly like the original.
fn restore_continues_identically<S: Strategy + Serialize + DeserializeOwned>(
    make: impl Fn(RunSeeds) -> S,
) {
    let seeds = RunSeeds::new(10, "s", 3);
    let mut run = Run::toy(seeds);
    let mut original = make(seeds);
    run.steps(&mut original, 37);
    let in_flight = original.ask(&run.history).unwrap();
    let json = serde_json::to_string(&original).unwrap();
    let mut restored: S = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&restored).unwrap(), json);
    let mut run2 = Run::toy(seeds);
    run2.history = run.history.clone();
    let trial = run.evaluate(in_flight);
    run.history.push(trial.clone());
    run2.history.push(trial.clone());
    original.tell(&trial).unwrap();
    restored.tell(&trial).unwrap();
    assert_eq!(run.steps(&mut original, 60), run2.steps(&mut restored, 60));
}

/// Asks 25 times before telling anything, tells in reverse order, then goes on.
fn asks_in_flight_are_fine<S: Strategy>(make: impl Fn(RunSeeds) -> S) {
    let seeds = RunSeeds::new(12, "s", 0);
    let mut run = Run::toy(seeds);
    let mut s = make(seeds);
    let asked: Vec<Architecture> = (0..25).map(|_| s.ask(&run.history).unwrap()).collect();
    let trials: Vec<_> = asked
        .into_iter()
        .map(|a| {
            assert!(run.space.is_valid(&a));
            let t = run.evaluate(a);
            run.history.push(t.clone());
            t
        })
        .collect();
    for t in trials.iter().rev() {
        s.tell(t).unwrap();
    }
    run.steps(&mut s, 40);
}

fn diverged_and_failed_trials_are_survived<S: Strategy>(make: impl Fn(RunSeeds) -> S) {
    let seeds = RunSeeds::new(13, "s", 0);
    let evaluator = SyntheticEvaluator {
        diverge_every: Some(3),
        ..SyntheticEvaluator::default()
    };
    let mut run = Run::new(toy_space(), seeds, evaluator);
    let mut s = make(seeds);
    for i in 0..100 {
        let arch = s.ask(&run.history).unwrap();
        let mut trial = run.evaluate(arch);
        if i % 7 == 0 && !trial.cached {
            trial.status = Status::Failed;
            trial.metrics = None;
            trial.reason = Some("synthetic failure".into());
        }
        run.history.push(trial.clone());
        s.tell(&trial).unwrap();
    }
    let statuses: Vec<Status> = run.history.trials().iter().map(|t| t.status).collect();
    assert!(statuses.contains(&Status::Diverged) && statuses.contains(&Status::Failed));
    assert!(run.history.best_fitness().is_some());
}

fn a_tell_without_its_ask_is_an_error<S: Strategy>(make: impl Fn(RunSeeds) -> S) {
    let seeds = RunSeeds::new(14, "s", 0);
    let mut run = Run::toy(seeds);
    let mut s = make(seeds);
    run.steps(&mut s, 3);
    let trial = run.history.trials()[0].clone();
    let err = s.tell(&trial).unwrap_err().to_string();
    assert!(err.contains(&trial.arch.to_string()), "{err}");
}

#[test]
fn ga_same_seed_same_proposals() {
    for p in ga_variants() {
        same_seed_same_proposals(ga(p));
    }
}

#[test]
fn evolution_same_seed_same_proposals() {
    same_seed_same_proposals(evolution(EvolutionParams::default()));
}

#[test]
fn ga_restored_mid_run_continues_identically() {
    for p in ga_variants() {
        restore_continues_identically(ga(p));
    }
}

#[test]
fn evolution_restored_mid_run_continues_identically() {
    restore_continues_identically(evolution(EvolutionParams::default()));
}

#[test]
fn ga_accepts_asks_in_flight() {
    for p in ga_variants() {
        asks_in_flight_are_fine(ga(p));
    }
}

#[test]
fn evolution_accepts_asks_in_flight() {
    asks_in_flight_are_fine(evolution(EvolutionParams::default()));
}

#[test]
fn ga_survives_diverged_and_failed_trials() {
    for p in ga_variants() {
        diverged_and_failed_trials_are_survived(ga(p));
    }
}

#[test]
fn evolution_survives_diverged_and_failed_trials() {
    diverged_and_failed_trials_are_survived(evolution(EvolutionParams::default()));
}

#[test]
fn ga_rejects_a_tell_without_its_ask() {
    a_tell_without_its_ask_is_an_error(ga(GaParams::default()));
}

#[test]
fn evolution_rejects_a_tell_without_its_ask() {
    a_tell_without_its_ask_is_an_error(evolution(EvolutionParams::default()));
}

#[test]
fn the_ga_never_proposes_an_evaluated_architecture() {
    for p in ga_variants() {
        let seeds = RunSeeds::new(15, "ga", 0);
        let mut run = Run::toy(seeds);
        let mut s = ga(p)(seeds);
        run.steps(&mut s, 300);
        assert_eq!(run.history.distinct(), 300);
        assert!(s.generations() > 5, "{} generations", s.generations());
    }
}

#[test]
fn the_ga_goes_on_in_a_space_it_has_exhausted() {
    // A space of 6 architectures and a budget of 20: after the 6, immigrants repeat.
    use nas_core::space::{DenseChoices, DropoutChoices};
    use nas_core::{Activation, DropoutRate, InputShape, SearchSpaceParams};
    let space = SearchSpaceParams {
        min_layers: 1,
        max_layers: 2,
        conv2d: None,
        maxpool2d: false,
        dense: Some(DenseChoices {
            units: vec![8],
            activations: vec![Activation::Relu],
        }),
        dropout: Some(DropoutChoices {
            rates: vec![DropoutRate::from_f64(0.5).unwrap()],
        }),
    }
    .check(InputShape::new(1, 4, 4))
    .unwrap();
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
    assert_eq!(run.history.distinct(), 6);
}
