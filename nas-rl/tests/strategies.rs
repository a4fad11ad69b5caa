//! REINFORCE and Q-learning against the runner's contract: reproducible, resumable from a
//! checkpoint, valid proposals, robust to failures and to asks in flight.

use nas_core::testutil::{
    Run, assert_accepts_asks_in_flight, assert_rejects_tell_without_ask, assert_restore_continues,
    assert_same_proposals, assert_survives_diverged_and_failed, toy_space,
};
use nas_core::{Architecture, RunSeeds, SearchSpace};
use nas_rl::{Exploration, QLearning, QLearningParams, RandomAction, Reinforce, ReinforceParams};

fn reinforce(params: ReinforceParams) -> impl Fn(SearchSpace, RunSeeds) -> Reinforce {
    let params = params.check().unwrap();
    move |space, seeds| Reinforce::new(space, params.clone(), seeds.strategy_rng())
}

fn q_learning(params: QLearningParams) -> impl Fn(SearchSpace, RunSeeds) -> QLearning {
    let params = params.check().unwrap();
    move |space, seeds| QLearning::new(space, params.clone(), 120, seeds.strategy_rng()).unwrap()
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

#[test]
fn reinforce_same_seed_same_proposals() {
    for p in reinforce_variants() {
        assert_same_proposals(reinforce(p));
    }
}

#[test]
fn q_learning_same_seed_same_proposals() {
    for p in q_variants() {
        assert_same_proposals(q_learning(p));
    }
}

#[test]
fn reinforce_restored_mid_run_continues_identically() {
    for p in reinforce_variants() {
        assert_restore_continues(reinforce(p));
    }
}

#[test]
fn q_learning_restored_mid_run_continues_identically() {
    for p in q_variants() {
        assert_restore_continues(q_learning(p));
    }
}

#[test]
fn reinforce_accepts_asks_in_flight() {
    assert_accepts_asks_in_flight(reinforce(ReinforceParams::default()));
}

#[test]
fn q_learning_accepts_asks_in_flight() {
    for p in q_variants() {
        assert_accepts_asks_in_flight(q_learning(p));
    }
}

#[test]
fn reinforce_survives_diverged_and_failed_trials() {
    assert_survives_diverged_and_failed(reinforce(ReinforceParams::default()));
}

#[test]
fn q_learning_survives_diverged_and_failed_trials() {
    for p in q_variants() {
        assert_survives_diverged_and_failed(q_learning(p));
    }
}

#[test]
fn reinforce_rejects_a_tell_without_its_ask() {
    assert_rejects_tell_without_ask(reinforce(ReinforceParams::default()));
}

#[test]
fn q_learning_rejects_a_tell_without_its_ask() {
    assert_rejects_tell_without_ask(q_learning(QLearningParams::default()));
}

#[test]
fn q_learning_does_not_spend_trials_on_evaluated_architectures() {
    // MetaQNN trains no network twice: repeats found by a walk are replayed from the
    // stored result and the agent walks again.
    for p in q_variants() {
        let seeds = RunSeeds::new(17, "q", 0);
        let mut run = Run::toy(seeds);
        let mut q = q_learning(p)(toy_space(), seeds);
        run.steps(&mut q, 120);
        assert_eq!(run.history().distinct(), 120);
    }
}

#[test]
fn q_learning_lowers_epsilon_along_the_scaled_schedule() {
    let seeds = RunSeeds::new(18, "q", 0);
    let mut run = Run::toy(seeds);
    let mut q = q_learning(QLearningParams::default())(toy_space(), seeds);
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
    })(toy_space(), seeds);
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
