//! Strategy overhead, with the synthetic evaluator so that nothing but the strategy is
//! measured (the formula costs well under a microsecond):
//!
//! - `strategy`: ask + tell per trial for each strategy (default params) on the toy chain
//!   space; each iteration is a fresh run of 100 trials, so the cost includes the
//!   strategy's growing state; throughput is trials per second.
//! - `ask_tell`: one ask + tell after 10, 100 and 1,000 told trials, on the toy chain space
//!   and on NAS-Bench-201's cell space: the strategy is brought to that state outside the
//!   timed code and cloned for each iteration. Model-based strategies are the first whose
//!   cost grows with what they were told. BANANAS trains its ensemble in one ask of each
//!   batch of `k` (10): its state is 10, 100 or 1,000 random trials (`num_init` set to
//!   that), so the timed ask is the one that trains the ensemble on all of them; its other
//!   asks pop a queue.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group};
use nas_core::testutil::{Run, SyntheticEvaluator, toy_cell_space, toy_space};
use nas_core::{Budget, EvalRequest, Evaluator, History, RunSeeds, SearchSpace, Strategy, Trial};

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
        ("local-search", |s| {
            let p = nas_local::LocalSearchParams::default()
                .check()
                .expect("defaults");
            Box::new(nas_local::LocalSearch::new(toy_space(), p, rng(s)))
        }),
        ("tpe", |s| {
            let p = nas_bo::TpeParams::default().check().expect("defaults");
            Box::new(nas_bo::Tpe::new(toy_space(), p, rng(s)))
        }),
        ("bananas", |s| {
            let p = nas_bo::BananasParams::default().check().expect("defaults");
            Box::new(nas_bo::Bananas::new(toy_space(), p, rng(s)))
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
                fidelity: None,
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
            fidelity: None,
            schedule: None,
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
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

/// Told trials of the `ask_tell` states.
const TOLD: [usize; 3] = [10, 100, 1000];

/// Benchmarks one ask + tell of the strategy `build(told)` makes after `told` trials on
/// `space`.
fn at_told<S: Strategy + Clone>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    (space_name, space): (&str, &SearchSpace),
    build: impl Fn(SearchSpace, usize) -> S,
) {
    for told in TOLD {
        let seeds = RunSeeds::new(7, "bench", 0);
        let mut run = Run::new(space.clone(), seeds, SyntheticEvaluator::default());
        let mut strategy = build(space.clone(), told);
        run.steps(&mut strategy, told);
        group.bench_function(
            BenchmarkId::new(name, format!("{space_name}/told{told}")),
            |b| {
                b.iter_batched(
                    || (strategy.clone(), run.clone()),
                    |(mut s, mut r)| {
                        r.step(&mut s);
                        (s, r)
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
}

fn ask_tell_at(c: &mut Criterion) {
    let mut group = c.benchmark_group("ask_tell");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    for (space_name, space) in [("toy-chain", toy_space()), ("nb201-cell", toy_cell_space())] {
        let space = (space_name, &space);
        let rng = || rng(7);
        at_told(&mut group, "random", space, |sp, _| {
            let p = nas_random::RandomParams::default()
                .check()
                .expect("defaults");
            nas_random::RandomSearch::new(sp, p, rng())
        });
        at_told(&mut group, "genetic", space, |sp, _| {
            let p = nas_genetic::GaParams::default().check().expect("defaults");
            nas_genetic::GeneticAlgorithm::new(sp, p, rng())
        });
        at_told(&mut group, "evolution", space, |sp, _| {
            let p = nas_genetic::EvolutionParams::default()
                .check()
                .expect("defaults");
            nas_genetic::RegularizedEvolution::new(sp, p, rng())
        });
        at_told(&mut group, "reinforce", space, |sp, _| {
            let p = nas_rl::ReinforceParams::default()
                .check()
                .expect("defaults");
            nas_rl::Reinforce::new(sp, p, rng())
        });
        at_told(&mut group, "qlearning", space, |sp, told| {
            let p = nas_rl::QLearningParams::default()
                .check()
                .expect("defaults");
            nas_rl::QLearning::new(sp, p, 2 * told, rng()).expect("a positive budget")
        });
        at_told(&mut group, "local-search", space, |sp, _| {
            let p = nas_local::LocalSearchParams::default()
                .check()
                .expect("defaults");
            nas_local::LocalSearch::new(sp, p, rng())
        });
        at_told(&mut group, "tpe", space, |sp, _| {
            let p = nas_bo::TpeParams::default().check().expect("defaults");
            nas_bo::Tpe::new(sp, p, rng())
        });
        at_told(&mut group, "bananas", space, |sp, told| {
            let p = nas_bo::BananasParams {
                num_init: told,
                ..nas_bo::BananasParams::default()
            }
            .check()
            .expect("valid");
            nas_bo::Bananas::new(sp, p, rng())
        });
    }
    group.finish();
}

criterion_group!(benches, ask_tell, ask_tell_at);
