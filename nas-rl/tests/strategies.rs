//! REINFORCE and Q-learning against the runner's contract: reproducible, resumable from a
//! checkpoint, valid proposals, robust to failures and to asks in flight.

mod common;

use common::Run;
use nas_core::testutil::{SyntheticEvaluator, toy_space};
use nas_core::{Architecture, RunSeeds, Status, Strategy};
use nas_rl::{Exploration, QLearning, QLearningParams, RandomAction, Reinforce, ReinforceParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn reinforce(params: ReinforceParams) -> impl Fn(RunSeeds) -> Reinforce {
    let params = params.check().unwrap();
    move |seeds| Reinforce::new(toy_space(), params.clone(), seeds.strategy_rng())
}

fn q_learning(params: QLearningParams) -> impl Fn(RunSeeds) -> QLearning {
    let params = params.check().unwrap();
    move |seeds| QLearning::new(toy_space(), params.clone(), 120, seeds.strategy_rng()).unwrap()
}

fn reinforce_variants() -> Vec<ReinforceParams> {
    vec![
        ReinforceParams::default(),
        ReinforceParams {
            learning_rate: 0.05,
            entropy_weight: 0.01,
            ..ReinforceParams::default()
        },
    ]
}

fn q_variants() -> Vec<QLearningParams> {
    vec![
        QLearningParams::default(),
        QLearningParams {
            alpha: 0.3,
            random_action: RandomAction::ByKind,
            ..QLearningParams::default()
        },
        QLearningParams {
            exploration: Exploration::Boltzmann,
            ..QLearningParams::default()
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
fn reinforce_same_seed_same_proposals() {
    for p in reinforce_variants() {
        same_seed_same_proposals(reinforce(p));
    }
}

#[test]
fn q_learning_same_seed_same_proposals() {
    for p in q_variants() {
        same_seed_same_proposals(q_learning(p));
    }
}

#[test]
fn reinforce_restored_mid_run_continues_identically() {
    for p in reinforce_variants() {
        restore_continues_identically(reinforce(p));
    }
}

#[test]
fn q_learning_restored_mid_run_continues_identically() {
    for p in q_variants() {
        restore_continues_identically(q_learning(p));
    }
}

#[test]
fn reinforce_accepts_asks_in_flight() {
    asks_in_flight_are_fine(reinforce(ReinforceParams::default()));
}

#[test]
fn q_learning_accepts_asks_in_flight() {
    for p in q_variants() {
        asks_in_flight_are_fine(q_learning(p));
    }
}

#[test]
fn reinforce_survives_diverged_and_failed_trials() {
    diverged_and_failed_trials_are_survived(reinforce(ReinforceParams::default()));
}

#[test]
fn q_learning_survives_diverged_and_failed_trials() {
    for p in q_variants() {
        diverged_and_failed_trials_are_survived(q_learning(p));
    }
}

#[test]
fn reinforce_rejects_a_tell_without_its_ask() {
    a_tell_without_its_ask_is_an_error(reinforce(ReinforceParams::default()));
}

#[test]
fn q_learning_rejects_a_tell_without_its_ask() {
    a_tell_without_its_ask_is_an_error(q_learning(QLearningParams::default()));
}

#[test]
fn q_learning_does_not_spend_trials_on_evaluated_architectures() {
    // MetaQNN trains no network twice: repeats found by a walk are replayed from the
    // stored result and the agent walks again.
    for p in q_variants() {
        let seeds = RunSeeds::new(17, "q", 0);
        let mut run = Run::toy(seeds);
        let mut q = q_learning(p)(seeds);
        run.steps(&mut q, 120);
        assert_eq!(run.history.distinct(), 120);
    }
}

#[test]
fn q_learning_lowers_epsilon_along_the_scaled_schedule() {
    let seeds = RunSeeds::new(18, "q", 0);
    let mut run = Run::toy(seeds);
    let mut q = q_learning(QLearningParams::default())(seeds);
    assert_eq!(q.epsilon(), Some(1.0));
    // The budget is 120: round(1500 / 2700 x 120) = 67 proposals at 1.0.
    run.steps(&mut q, 67);
    assert_eq!(q.epsilon(), Some(0.9));
    run.steps(&mut q, 60);
    assert_eq!(q.epsilon(), Some(0.1));
}

#[test]
fn reinforce_proposals_improve_as_the_policy_learns() {
    // At a learning rate of 0.05, proposals 120-149 score far higher than proposals 0-29.
    let seeds = RunSeeds::new(19, "reinforce", 0);
    let mut run = Run::toy(seeds);
    let mut r = reinforce(ReinforceParams {
        learning_rate: 0.05,
        ..ReinforceParams::default()
    })(seeds);
    let proposals = run.steps(&mut r, 150);
    let mean = |a: &[Architecture]| {
        a.iter()
            .map(nas_core::testutil::synthetic_fitness)
            .sum::<f64>()
            / a.len() as f64
    };
    let (first, last) = (&proposals[..30], &proposals[120..]);
    println!("mean fitness {:.3} -> {:.3}", mean(first), mean(last));
    assert!(mean(last) > mean(first) + 0.1);
}
