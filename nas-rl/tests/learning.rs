//! The RL strategies learn: on the toy chain space and on NAS-Bench-201's cell space with
//! the synthetic evaluator, over 30 seeds x 150 evaluations, each ends with a higher
//! best-so-far than random search (one-sided Mann-Whitney p < 0.01). Run with
//! `--nocapture` to see the means.

use nas_core::testutil::{compare_with_random, toy_cell_space, toy_space};
use nas_rl::{QLearning, QLearningParams, RandomAction, Reinforce, ReinforceParams};

/// REINFORCE with NAS-Bench-201's learning rate (0.01, Adam) learns only weakly within
/// 150 trials: on this test's seeds its mean final best is 0.773 against random's 0.748
/// (p = 0.0054), and on another seed set (strategy name "r") 0.762 (p = 0.077), so a
/// pass at 0.01 would rest on the seeds. The test uses 0.03 (0.882, p = 4.5e-11; 0.02
/// gives 0.837, 0.05 gives 0.910); the other params are the defaults.
#[test]
fn reinforce_with_a_larger_learning_rate_beats_random_search() {
    let params = ReinforceParams {
        learning_rate: 0.03,
        ..ReinforceParams::default()
    }
    .check()
    .unwrap();
    for space in [toy_space(), toy_cell_space()] {
        let p = compare_with_random(&space, "reinforce", |space, seeds| {
            Box::new(Reinforce::new(space, params.clone(), seeds.strategy_rng()))
        });
        assert!(p < 0.01, "{} space: p = {p}", space.kind());
    }
}

/// Q-learning with MetaQNN's settings does not learn within 150 trials here: its mean final
/// best is 0.700 against random's 0.748 (p = 1.0; Boltzmann exploration at the default
/// temperature: 0.708). Two things hold it back at this budget. MetaQNN's α = 0.01 was set
/// for 2700 models; and its random actions are uniform over the allowed layers, so in the
/// toy space (32 conv layers, 16 dense, 2 dropout, 1 pooling) a random walk almost never
/// pools, and each ε-step off the best path lands in a state never visited. The test keeps
/// MetaQNN's schedule (scaled to 150), γ = 1, replay 100 and initial Q 0.5, and uses
/// α = 0.3 with random actions drawn kind first (`random_action = "by_kind"`). Measured on
/// these seeds: by kind with α = 0.01: 0.748 (p = 0.61), 0.1: 0.795 (p = 0.0052), 0.5: 0.804,
/// 1: 0.794; uniform random actions stay at or below random search for every α tried
/// (0.01 to 1), as does Boltzmann exploration (temperatures 0.01 to 0.1).
#[test]
fn q_learning_with_kind_first_exploration_beats_random_search() {
    let params = QLearningParams {
        alpha: 0.3,
        random_action: RandomAction::ByKind,
        ..QLearningParams::default()
    }
    .check()
    .unwrap();
    for space in [toy_space(), toy_cell_space()] {
        let p = compare_with_random(&space, "q-learning", |space, seeds| {
            Box::new(QLearning::new(space, params.clone(), 150, seeds.strategy_rng()).unwrap())
        });
        assert!(p < 0.01, "{} space: p = {p}", space.kind());
    }
}
