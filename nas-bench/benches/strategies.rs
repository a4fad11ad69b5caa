//! Strategy overhead: ask + tell per trial for each strategy (default params) on the toy
//! space, with the synthetic evaluator so that nothing but the strategy is measured (the
//! formula costs well under a microsecond). Each iteration is a fresh run of 100 trials,
//! so the cost includes the strategy's growing state; throughput is trials per second.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use nas_core::testutil::{SyntheticEvaluator, toy_space};
use nas_core::{Budget, EvalRequest, Evaluator, History, RunSeeds, Strategy, Trial};

const TRIALS: u32 = 100;

type Build = fn(u64) -> Box<dyn Strategy>;

fn rng(seed: u64) -> nas_core::NasRng {
    RunSeeds::new(seed, "bench", 0).strategy_rng()
}

fn strategies() -> Vec<(&'static str, Build)> {
    vec![
        ("random", |s| {
            let p = nas_random::RandomParams::default()
                .check()
                .expect("defaults");
            Box::new(nas_random::RandomSearch::new(toy_space(), p, rng(s)))
        }),
        ("genetic", |s| {
            let p = nas_genetic::GaParams::default().check().expect("defaults");
            Box::new(nas_genetic::GeneticAlgorithm::new(toy_space(), p, rng(s)))
        }),
        ("evolution", |s| {
            let p = nas_genetic::EvolutionParams::default()
                .check()
                .expect("defaults");
            Box::new(nas_genetic::RegularizedEvolution::new(
                toy_space(),
                p,
                rng(s),
            ))
        }),
        ("reinforce", |s| {
            let p = nas_rl::ReinforceParams::default()
                .check()
                .expect("defaults");
            Box::new(nas_rl::Reinforce::new(toy_space(), p, rng(s)))
        }),
        ("qlearning", |s| {
            let p = nas_rl::QLearningParams::default()
                .check()
                .expect("defaults");
            Box::new(
                nas_rl::QLearning::new(toy_space(), p, TRIALS as usize, rng(s))
                    .expect("a positive budget"),
            )
        }),
    ]
}

/// One run of `TRIALS` ask-evaluate-tell steps.
fn run(strategy: &mut dyn Strategy, evaluator: &SyntheticEvaluator, budget: &Budget) -> History {
    let mut history = History::new();
    for index in 0..TRIALS {
        let arch = strategy.ask(&history).expect("a proposal");
        let seed = u64::from(index);
        let eval = evaluator
            .evaluate(&EvalRequest {
                arch: &arch,
                budget,
                seed,
                test: false,
            })
            .expect("the formula evaluates");
        let trial = Trial {
            strategy: "bench".into(),
            repetition: 0,
            index,
            seed,
            arch,
            status: eval.status,
            reason: eval.reason,
            metrics: Some(eval.metrics),
            cached: false,
        };
        history.push(trial.clone());
        strategy.tell(&trial).expect("the strategy learns");
    }
    history
}

fn ask_tell(c: &mut Criterion) {
    let evaluator = SyntheticEvaluator::default();
    let budget = Budget::default();
    let mut group = c.benchmark_group("strategy");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(u64::from(TRIALS)));
    for (name, build) in strategies() {
        group.bench_function(
            BenchmarkId::new(name, format!("toy-space/trials{TRIALS}")),
            |b| {
                b.iter_batched(
                    || build(7),
                    |mut s| run(s.as_mut(), &evaluator, &budget),
                    criterion::BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, ask_tell);
