//! Tabular Q-learning over layer sequences: MetaQNN (Baker et al. 2017).

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use nas_core::{
    ArchId, Architecture, Error, History, NasRng, Pending, Result, SearchSpace, Strategy, Trial,
};

use crate::params::{Exploration, QLearningValidParams, RandomAction};
use crate::policy;
use crate::reinforce::UNRANKED_REWARD;

/// Walks in a row, within one ask, that may rebuild architectures already evaluated or in
/// flight before the last one is proposed anyway.
const MAX_WALKS: usize = 100;

/// A past trajectory: the layers chosen (indices into the space's variants) and the reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Experience {
    layers: Vec<usize>,
    reward: f64,
}

/// Tabular Q-learning over layer sequences, after MetaQNN (Baker, Gupta, Naik & Raskar
/// 2017).
///
/// - **States** are (depth, last layer): the start state (0, none), then (i, the i-th
///   layer) after each layer. **Actions** are the next layer (any layer of the space that
///   keeps the network completable to a valid architecture) or terminate (allowed from
///   `min_layers` layers on; the only action at `max_layers`). Q values live in a table,
///   `initial_q` until first updated.
/// - **Learning**: after each told trial, its trajectory joins the replay memory, and
///   `replay` trajectories drawn uniformly from the memory (with replacement) are replayed,
///   each updated from its end back to its start: Q(s, a) ← Q(s, a) + α (r + γ max_a'
///   Q(s', a') − Q(s, a)), with r the trial's accuracy on the terminate action and 0
///   before (MetaQNN's Algorithm 3, and their code). A diverged or failed trial has reward
///   0, the worst accuracy.
/// - **No architecture is trained twice** (MetaQNN's server): when a walk rebuilds an
///   architecture already evaluated in the run, its stored accuracy joins the replay memory
///   (and is replayed, as after a trial) and the agent walks again; a walk that rebuilds a
///   proposal still in flight counts that trial once more when it is told. Only new
///   architectures are proposed, and the ε schedule counts them, as MetaQNN's counts unique
///   models. After 100 walks in a row that all rebuilt known architectures, the last is
///   proposed anyway (the runner reuses its stored result).
/// - **Exploration**: ε-greedy, with ε following `epsilon_schedule` scaled to the run's
///   budget (MetaQNN's schedule by default: the first 56% of the trials at ε = 1, a random
///   walk, then ε stepping down to 0.1), greedy ties drawn uniformly, random actions drawn
///   uniformly among the allowed ones (MetaQNN) or kind first (`random_action`); or
///   Boltzmann: actions
///   drawn with probability proportional to exp(Q / `temperature`).
///
/// Like MetaQNN's state, (depth, last layer) does not capture the whole feature-map
/// geometry, so the actions allowed in a state are those allowed after the actual prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QLearning {
    space: SearchSpace,
    params: QLearningValidParams,
    budget: usize,
    rng: NasRng,
    /// Q values that differ from `initial_q`, by [`QLearning::key`].
    q: BTreeMap<u64, f64>,
    replay: Vec<Experience>,
    pending: Pending,
    /// Proposals in flight that walks rebuilt again, with how many times: their result
    /// joins the replay memory once more for each.
    resampled: BTreeMap<ArchId, u32>,
    /// Proposals made: the position in the ε schedule.
    asked: u64,
}

impl QLearning {
    /// Q-learning over `space` for a run of `budget` trials (the runner's evaluation
    /// budget, which scales the ε schedule), drawing from `rng` (the run's
    /// [`nas_core::RunSeeds::strategy_rng`]). Fails on a budget of 0.
    pub fn new(
        space: SearchSpace,
        params: QLearningValidParams,
        budget: usize,
        rng: NasRng,
    ) -> Result<Self> {
        if budget == 0 {
            return Err(Error::invalid("budget", 0, "at least 1 trial"));
        }
        Ok(QLearning {
            space,
            params,
            budget,
            rng,
            q: BTreeMap::new(),
            replay: Vec::new(),
            pending: Pending::default(),
            resampled: BTreeMap::new(),
            asked: 0,
        })
    }

    /// The checked params.
    pub fn params(&self) -> &QLearningValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The budget the ε schedule is scaled to.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// ε of the next proposal (None with Boltzmann exploration).
    pub fn epsilon(&self) -> Option<f64> {
        (self.params.exploration == Exploration::EpsilonGreedy).then(|| self.epsilon_at(self.asked))
    }

    /// ε of proposal `t` (0-based): the schedule's steps last `models_k / Σ models ×
    /// budget` proposals, rounded at the cumulative boundaries; the last ε holds after.
    fn epsilon_at(&self, t: u64) -> f64 {
        let schedule = &self.params.epsilon_schedule;
        let total: u128 = schedule.iter().map(|s| u128::from(s.models)).sum();
        let budget = self.budget as u128;
        let mut cumulative: u128 = 0;
        for step in schedule {
            cumulative += u128::from(step.models);
            let end = (2 * cumulative * budget + total) / (2 * total);
            if u128::from(t) < end {
                return step.epsilon;
            }
        }
        schedule
            .last()
            .expect("a checked, non-empty schedule")
            .epsilon
    }

    /// The table key of (state, action): the state is (depth, last layer or none), the
    /// action a layer or none for terminate.
    fn key(&self, depth: usize, last: Option<usize>, action: Option<usize>) -> u64 {
        let n = self.space.action_count() as u64 + 1;
        let code = |x: Option<usize>| x.map_or(0, |v| v as u64 + 1);
        (depth as u64 * n + code(last)) * n + code(action)
    }

    fn q(&self, key: u64) -> f64 {
        self.q.get(&key).copied().unwrap_or(self.params.initial_q)
    }

    /// The actions allowed after `prefix`, sorted: terminate (None) first if allowed, then
    /// layers in canonical order.
    fn actions(&mut self, prefix: &[usize]) -> Vec<Option<usize>> {
        let actions = self.space.actions_after(prefix);
        let stop = actions.stop.then_some(None);
        stop.into_iter()
            .chain(actions.next.into_iter().map(Some))
            .collect()
    }

    /// The highest Q value among the actions allowed after `prefix` (whose last layer is
    /// the state's): stored values of allowed actions, and `initial_q` if an allowed action
    /// has none stored.
    fn max_q(&mut self, prefix: &[usize]) -> f64 {
        let actions = self.actions(prefix);
        let (depth, last) = (prefix.len(), prefix.last().copied());
        let first = self.key(depth, last, None);
        let n = self.space.action_count() as u64 + 1;
        let mut stored = 0;
        let mut best = f64::NEG_INFINITY;
        for (&key, &value) in self.q.range(first..first + n) {
            let action = (key - first).checked_sub(1).map(|a| a as usize);
            if actions.binary_search(&action).is_ok() {
                stored += 1;
                best = best.max(value);
            }
        }
        if stored < actions.len() {
            best = best.max(self.params.initial_q);
        }
        best
    }

    /// One backward pass of Q updates over a trajectory.
    fn learn(&mut self, layers: &[usize], reward: f64) {
        let (alpha, gamma) = (self.params.alpha, self.params.gamma);
        let depth = layers.len();
        let k = self.key(depth, layers.last().copied(), None);
        let q = self.q(k);
        self.q.insert(k, q + alpha * (reward - q));
        for i in (0..depth).rev() {
            let target = gamma * self.max_q(&layers[..=i]);
            let last = i.checked_sub(1).map(|j| layers[j]);
            let k = self.key(i, last, Some(layers[i]));
            let q = self.q(k);
            self.q.insert(k, q + alpha * (target - q));
        }
    }

    /// ε-greedy's random action among `actions` (sorted as [`QLearning::actions`] lists
    /// them).
    fn random_action(&mut self, actions: &[Option<usize>]) -> Option<usize> {
        match self.params.random_action {
            RandomAction::Uniform => actions[self.rng.random_range(0..actions.len())],
            RandomAction::ByKind => {
                let space = &self.space;
                let kind = |a: &Option<usize>| a.map(|v| space.action_group(v));
                // Actions are sorted, and chain variants come kind by kind: groups are
                // contiguous.
                let mut kinds: Vec<_> = actions.iter().map(kind).collect();
                kinds.dedup();
                let k = kinds[self.rng.random_range(0..kinds.len())];
                let of_kind: Vec<Option<usize>> =
                    actions.iter().copied().filter(|a| kind(a) == k).collect();
                of_kind[self.rng.random_range(0..of_kind.len())]
            }
        }
    }

    /// The next action after `prefix`, by the exploration rule.
    fn choose(&mut self, prefix: &[usize]) -> Option<usize> {
        let actions = self.actions(prefix);
        if actions.len() == 1 {
            return actions[0];
        }
        let (depth, last) = (prefix.len(), prefix.last().copied());
        let values: Vec<f64> = actions
            .iter()
            .map(|&a| self.q(self.key(depth, last, a)))
            .collect();
        match self.params.exploration {
            Exploration::EpsilonGreedy => {
                let epsilon = self.epsilon_at(self.asked);
                if self.rng.random::<f64>() < epsilon {
                    return self.random_action(&actions);
                }
                let best = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let ties: Vec<usize> = (0..actions.len()).filter(|&i| values[i] == best).collect();
                actions[ties[self.rng.random_range(0..ties.len())]]
            }
            Exploration::Boltzmann => {
                let scaled: Vec<f64> = values.iter().map(|v| v / self.params.temperature).collect();
                let all: Vec<usize> = (0..actions.len()).collect();
                let probs = policy::probabilities(&scaled, 0, &all);
                actions[policy::draw(&probs, self.rng.random::<f64>())]
            }
        }
    }
}

impl QLearning {
    /// One walk from the start state by the exploration rule: the layers chosen.
    fn walk(&mut self) -> Vec<usize> {
        let mut layers = Vec::new();
        while let Some(v) = self.choose(&layers) {
            layers.push(v);
        }
        layers
    }

    /// Adds a trajectory and its reward to the replay memory, then replays `replay` past
    /// trajectories drawn uniformly.
    fn incorporate(&mut self, layers: Vec<usize>, reward: f64) {
        self.replay.push(Experience { layers, reward });
        for _ in 0..self.params.replay {
            let i = self.rng.random_range(0..self.replay.len());
            let Experience { layers, reward } = self.replay[i].clone();
            self.learn(&layers, reward);
        }
    }
}

impl Strategy for QLearning {
    fn ask(&mut self, history: &History) -> Result<Architecture> {
        let mut layers = self.walk();
        for _ in 1..MAX_WALKS {
            let arch = self.space.from_actions(&layers);
            let id = arch.id();
            if let Some(earlier) = history.lookup(&arch) {
                let reward = earlier.fitness().unwrap_or(UNRANKED_REWARD);
                self.incorporate(layers, reward);
            } else if self.pending.contains(id) {
                *self.resampled.entry(id).or_insert(0) += 1;
            } else {
                break;
            }
            layers = self.walk();
        }
        self.asked += 1;
        let arch = self.space.from_actions(&layers);
        self.pending.push(arch.id());
        Ok(arch)
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.pending.take(trial, "Q-learning")?;
        let layers = self.space.actions_of(&trial.arch)?;
        let reward = trial.fitness().unwrap_or(UNRANKED_REWARD);
        let id = trial.arch.id();
        let times = if self.pending.contains(id) {
            // Another proposal of it is in flight: leave the extra count to its tell.
            1
        } else {
            1 + self.resampled.remove(&id).unwrap_or(0)
        };
        for _ in 0..times {
            self.incorporate(layers.clone(), reward);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{EpsilonStep, QLearningParams};
    use nas_core::testutil::toy_space;
    use nas_core::{Metrics, Status, rng_from_seed};

    fn learner(params: QLearningParams, budget: usize) -> QLearning {
        QLearning::new(
            toy_space(),
            params.check().unwrap(),
            budget,
            rng_from_seed(1),
        )
        .unwrap()
    }

    #[test]
    fn the_metaqnn_schedule_scales_to_the_budget() {
        let q = learner(QLearningParams::default(), 150);
        let eps: Vec<f64> = (0..160).map(|t| q.epsilon_at(t)).collect();
        // round(1500/2700 x 150) = 83 proposals at 1.0, 0.9 until round(1600/2700 x 150) = 89...
        assert!(eps[..83].iter().all(|&e| e == 1.0));
        assert_eq!(eps[83], 0.9);
        assert_eq!(eps[88], 0.9);
        assert_eq!(eps[89], 0.8);
        assert_eq!(eps[141], 0.2);
        assert_eq!(eps[142], 0.1);
        assert_eq!(eps[159], 0.1, "past the budget: the last epsilon");
        let full = learner(QLearningParams::default(), 2700);
        assert_eq!(full.epsilon_at(1499), 1.0);
        assert_eq!(full.epsilon_at(1500), 0.9);
        assert_eq!(full.epsilon_at(2550), 0.1);
        let short = learner(
            QLearningParams {
                epsilon_schedule: vec![EpsilonStep {
                    epsilon: 0.3,
                    models: 1,
                }],
                ..QLearningParams::default()
            },
            1,
        );
        assert_eq!(short.epsilon_at(0), 0.3);
    }

    #[test]
    fn a_budget_of_zero_is_rejected() {
        let params = QLearningParams::default().check().unwrap();
        match QLearning::new(toy_space(), params, 0, rng_from_seed(0)) {
            Err(Error::InvalidParam { field, .. }) => assert_eq!(field, "budget"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn updates_follow_the_q_learning_rule_backwards() {
        let mut q = learner(
            QLearningParams {
                alpha: 0.5,
                initial_q: 0.0,
                ..QLearningParams::default()
            },
            10,
        );
        let layers = vec![3, 7];
        q.learn(&layers, 0.8);
        // Terminal: 0 + 0.5 (0.8 - 0) = 0.4; then (1, 3) -> 7: 0.5 * max(0.4, 0) = 0.2;
        // then start -> 3: 0.5 * 0.2 = 0.1.
        assert_eq!(q.q(q.key(2, Some(7), None)), 0.4);
        assert_eq!(q.q(q.key(1, Some(3), Some(7))), 0.2);
        assert_eq!(q.q(q.key(0, None, Some(3))), 0.1);
        assert_eq!(q.max_q(&[3]), 0.2);
        assert_eq!(q.max_q(&[]), 0.1);
    }

    #[test]
    fn greedy_proposals_follow_the_learned_values() {
        let mut q = learner(
            QLearningParams {
                epsilon_schedule: vec![EpsilonStep {
                    epsilon: 0.0,
                    models: 1,
                }],
                alpha: 1.0,
                ..QLearningParams::default()
            },
            10,
        );
        let good: Architecture = "conv3x3-32-relu > maxpool2 > dense128-relu"
            .parse()
            .unwrap();
        q.pending.push(good.id());
        let trial = Trial {
            strategy: "q".into(),
            repetition: 0,
            index: 0,
            seed: 0,
            arch: good.clone(),
            status: Status::Ok,
            reason: None,
            metrics: Some(Metrics {
                val_acc: Some(0.9),
                ..Metrics::default()
            }),
            cached: false,
            fidelity: None,
            schedule: None,
        };
        q.tell(&trial).unwrap();
        // With α = 1 and 100 replays of the one trajectory, its path is worth 0.9 > 0.5.
        assert_eq!(q.ask(&History::new()).unwrap(), good);
    }
}
