//! Params of the REINFORCE controller and of Q-learning: written in a config, checked once.

use std::fmt;

use serde::{Deserialize, Serialize};

use nas_core::{Error, Result};

/// Most trajectories Q-learning replays after each told trial: a user value that decides
/// the work of every tell, bounded before the run.
pub const MAX_REPLAY: usize = 1_000_000;

/// The REINFORCE controller as written in a config (`params = { learning_rate = 0.01 }`):
/// unchecked. Missing fields take their default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReinforceParams {
    /// Adam's step size on the policy's logits, positive. Default 0.01, NAS-Bench-201's
    /// REINFORCE baseline (Dong & Yang 2020; Adam, as Zoph & Le 2017 used for their
    /// controller).
    pub learning_rate: f64,
    /// Momentum of the exponential moving average of past rewards that is subtracted from
    /// each reward (the baseline), in [0, 1). Default 0.9, NAS-Bench-201's value; Zoph & Le
    /// (2017) also use an exponential moving average of previous accuracies.
    pub baseline_momentum: f64,
    /// Weight of the policy's entropy added to the objective (a bonus that keeps it
    /// exploring), at least 0. Default 0: neither Zoph & Le (2017) nor NAS-Bench-201 use one.
    pub entropy_weight: f64,
}

impl Default for ReinforceParams {
    fn default() -> Self {
        ReinforceParams {
            learning_rate: 0.01,
            baseline_momentum: 0.9,
            entropy_weight: 0.0,
        }
    }
}

impl ReinforceParams {
    /// Checks every field.
    pub fn check(&self) -> Result<ReinforceValidParams> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::invalid(
                "learning_rate",
                self.learning_rate,
                "a finite number above 0",
            ));
        }
        if !(0.0..1.0).contains(&self.baseline_momentum) {
            return Err(Error::invalid(
                "baseline_momentum",
                self.baseline_momentum,
                "a number in [0, 1)",
            ));
        }
        if !(self.entropy_weight.is_finite() && self.entropy_weight >= 0.0) {
            return Err(Error::invalid(
                "entropy_weight",
                self.entropy_weight,
                "a finite number of at least 0",
            ));
        }
        Ok(ReinforceValidParams(self.clone()))
    }
}

/// How Q-learning explores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exploration {
    /// With probability ε a uniformly random allowed action, else the best by Q (ties drawn
    /// uniformly); ε follows `epsilon_schedule`.
    EpsilonGreedy,
    /// Actions drawn with probability proportional to exp(Q / `temperature`).
    Boltzmann,
}

/// How ε-greedy draws its random actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomAction {
    /// Uniformly among the allowed actions (MetaQNN). Kinds with many variants dominate: in
    /// a space of 32 conv layers and one pooling layer, a random step pools 1 time in 34.
    Uniform,
    /// Uniformly among the allowed layer kinds (and terminate), then uniformly among the
    /// allowed layers of the kind drawn.
    ByKind,
}

/// One step of an ε schedule: `epsilon` for `models` architectures (before scaling to the
/// run's budget).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpsilonStep {
    /// Probability of a random action, in [0, 1].
    pub epsilon: f64,
    /// Architectures proposed at this ε, at least 1, relative to the schedule's total.
    pub models: u32,
}

impl fmt::Display for EpsilonStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ epsilon = {}, models = {} }}",
            self.epsilon, self.models
        )
    }
}

/// MetaQNN's ε schedule (Baker et al. 2017, Table 2 and their code): 1500 models at
/// ε = 1, then 100 each at 0.9, 0.8, 0.7 and 150 each at 0.6 down to 0.1: 2700 in all.
pub fn metaqnn_schedule() -> Vec<EpsilonStep> {
    [
        (1.0, 1500),
        (0.9, 100),
        (0.8, 100),
        (0.7, 100),
        (0.6, 150),
        (0.5, 150),
        (0.4, 150),
        (0.3, 150),
        (0.2, 150),
        (0.1, 150),
    ]
    .into_iter()
    .map(|(epsilon, models)| EpsilonStep { epsilon, models })
    .collect()
}

/// Tabular Q-learning (MetaQNN) as written in a config: unchecked. Missing fields take
/// their default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QLearningParams {
    /// Q-learning rate α, in (0, 1]. Default 0.01 (MetaQNN, Baker et al. 2017).
    pub alpha: f64,
    /// Discount γ, in [0, 1]. Default 1: the only reward is the accuracy at the end of the
    /// network (MetaQNN).
    pub gamma: f64,
    /// Trajectories drawn uniformly (with replacement) from all past ones and replayed
    /// after each told trial, at least 1. Default 100, MetaQNN's paper (their code uses 128).
    pub replay: usize,
    /// Q value of a state-action pair never updated. Default 0.5, MetaQNN's
    /// `init_utility` ("around the performance of an average model").
    pub initial_q: f64,
    /// ε-greedy (default, MetaQNN) or Boltzmann exploration.
    pub exploration: Exploration,
    /// How ε-greedy draws a random action. Default uniform among the allowed actions, as
    /// MetaQNN; `by_kind` draws the kind first.
    pub random_action: RandomAction,
    /// ε-greedy's schedule, scaled to the run's budget: step k lasts
    /// `models_k / Σ models × budget` proposals (rounded at the cumulative boundaries), and
    /// proposals past the budget keep the last ε. Default MetaQNN's (see
    /// [`metaqnn_schedule`]): the first 56% of the budget at ε = 1, then down to 0.1.
    pub epsilon_schedule: Vec<EpsilonStep>,
    /// Boltzmann's temperature, positive, in units of accuracy. Default 0.05 (no paper
    /// value: MetaQNN explores ε-greedily); at 0.05 an action worth 0.1 more accuracy is
    /// e^2 ≈ 7.4 times as likely.
    pub temperature: f64,
}

impl Default for QLearningParams {
    fn default() -> Self {
        QLearningParams {
            alpha: 0.01,
            gamma: 1.0,
            replay: 100,
            initial_q: 0.5,
            exploration: Exploration::EpsilonGreedy,
            random_action: RandomAction::Uniform,
            epsilon_schedule: metaqnn_schedule(),
            temperature: 0.05,
        }
    }
}

impl QLearningParams {
    /// Checks every field.
    pub fn check(&self) -> Result<QLearningValidParams> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(Error::invalid("alpha", self.alpha, "a number in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(Error::invalid("gamma", self.gamma, "a number in [0, 1]"));
        }
        if self.replay == 0 || self.replay > MAX_REPLAY {
            return Err(Error::invalid(
                "replay",
                self.replay,
                format!(
                    "an integer from 1 to {MAX_REPLAY} (trajectories replayed after each told trial)"
                ),
            ));
        }
        if !self.initial_q.is_finite() {
            return Err(Error::invalid(
                "initial_q",
                self.initial_q,
                "a finite number",
            ));
        }
        if self.epsilon_schedule.is_empty() {
            return Err(Error::invalid(
                "epsilon_schedule",
                "[]",
                "a non-empty list of { epsilon, models }",
            ));
        }
        if let Some(bad) = self
            .epsilon_schedule
            .iter()
            .find(|s| !(0.0..=1.0).contains(&s.epsilon) || s.models == 0)
        {
            return Err(Error::invalid(
                "epsilon_schedule",
                bad,
                "steps with epsilon in [0, 1] and models of at least 1",
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::invalid(
                "temperature",
                self.temperature,
                "a finite number above 0",
            ));
        }
        Ok(QLearningValidParams(self.clone()))
    }
}

nas_core::valid_params! {
    /// Checked [`ReinforceParams`]: the only form [`crate::Reinforce`] accepts. Read the
    /// fields through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(try_from = "ReinforceParams", into = "ReinforceParams")]
    pub struct ReinforceValidParams(ReinforceParams);
}

nas_core::valid_params! {
    /// Checked [`QLearningParams`]: the only form [`crate::QLearning`] accepts. Read the
    /// fields through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(try_from = "QLearningParams", into = "QLearningParams")]
    pub struct QLearningValidParams(QLearningParams);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::testutil::assert_rejects as rejected;

    #[test]
    fn defaults_are_valid_and_fill_missing_fields() {
        assert!(ReinforceParams::default().check().is_ok());
        assert!(QLearningParams::default().check().is_ok());
        let p: QLearningParams =
            serde_json::from_str(r#"{"exploration": "boltzmann", "temperature": 0.1}"#).unwrap();
        assert_eq!(p.exploration, Exploration::Boltzmann);
        assert_eq!(p.alpha, 0.01);
        let total: u32 = p.epsilon_schedule.iter().map(|s| s.models).sum();
        assert_eq!(total, 2700);
        let p: ReinforceParams = serde_json::from_str(r#"{"entropy_weight": 0.001}"#).unwrap();
        assert_eq!(p.learning_rate, 0.01);
    }

    #[test]
    fn valid_params_are_checked_again_when_read() {
        let valid = QLearningParams::default().check().unwrap();
        let json = serde_json::to_string(&valid).unwrap();
        assert_eq!(
            serde_json::from_str::<QLearningValidParams>(&json).unwrap(),
            valid
        );
        assert!(serde_json::from_str::<QLearningValidParams>(r#"{"alpha": 0}"#).is_err());
        assert!(serde_json::from_str::<ReinforceValidParams>(r#"{"learning_rate": -1}"#).is_err());
    }

    #[test]
    fn rejects_unknown_fields() {
        assert!(serde_json::from_str::<ReinforceParams>(r#"{"lr": 0.1}"#).is_err());
        assert!(serde_json::from_str::<QLearningParams>(r#"{"epsilon": 0.1}"#).is_err());
        let step = r#"{"epsilon_schedule": [{"epsilon": 1.0, "models": 1, "x": 0}]}"#;
        assert!(serde_json::from_str::<QLearningParams>(step).is_err());
    }

    #[test]
    fn rejects_learning_rates_of_zero_negative_or_nan() {
        for learning_rate in [0.0, -0.01, f64::NAN, f64::INFINITY] {
            let p = ReinforceParams {
                learning_rate,
                ..ReinforceParams::default()
            };
            rejected(p.check(), "learning_rate");
        }
    }

    #[test]
    fn rejects_baseline_momentum_outside_zero_to_one() {
        for baseline_momentum in [1.0, -0.1, f64::NAN] {
            let p = ReinforceParams {
                baseline_momentum,
                ..ReinforceParams::default()
            };
            rejected(p.check(), "baseline_momentum");
        }
    }

    #[test]
    fn rejects_negative_entropy_weights() {
        for entropy_weight in [-0.001, f64::NAN] {
            let p = ReinforceParams {
                entropy_weight,
                ..ReinforceParams::default()
            };
            rejected(p.check(), "entropy_weight");
        }
    }

    #[test]
    fn rejects_alpha_outside_zero_to_one() {
        for alpha in [0.0, 1.5, f64::NAN] {
            let p = QLearningParams {
                alpha,
                ..QLearningParams::default()
            };
            rejected(p.check(), "alpha");
        }
    }

    #[test]
    fn rejects_gamma_outside_the_unit_interval() {
        for gamma in [-0.5, 1.01] {
            let p = QLearningParams {
                gamma,
                ..QLearningParams::default()
            };
            rejected(p.check(), "gamma");
        }
    }

    #[test]
    fn rejects_a_replay_of_zero() {
        let p = QLearningParams {
            replay: 0,
            ..QLearningParams::default()
        };
        rejected(p.check(), "replay");
    }

    #[test]
    fn rejects_a_replay_beyond_its_bound() {
        let p = QLearningParams {
            replay: MAX_REPLAY + 1,
            ..QLearningParams::default()
        };
        rejected(p.check(), "replay");
    }

    #[test]
    fn rejects_a_non_finite_initial_q() {
        let p = QLearningParams {
            initial_q: f64::NAN,
            ..QLearningParams::default()
        };
        rejected(p.check(), "initial_q");
    }

    #[test]
    fn rejects_an_unknown_exploration() {
        let err = serde_json::from_str::<QLearningParams>(r#"{"exploration": "ucb"}"#).unwrap_err();
        assert!(err.to_string().contains("ucb"), "{err}");
    }

    #[test]
    fn rejects_an_unknown_random_action() {
        let err =
            serde_json::from_str::<QLearningParams>(r#"{"random_action": "greedy"}"#).unwrap_err();
        assert!(err.to_string().contains("greedy"), "{err}");
        let p: QLearningParams = serde_json::from_str(r#"{"random_action": "by_kind"}"#).unwrap();
        assert_eq!(p.random_action, RandomAction::ByKind);
    }

    #[test]
    fn rejects_bad_epsilon_schedules() {
        let bad_steps = [
            vec![],
            vec![EpsilonStep {
                epsilon: 1.5,
                models: 10,
            }],
            vec![EpsilonStep {
                epsilon: 0.5,
                models: 0,
            }],
        ];
        for epsilon_schedule in bad_steps {
            let p = QLearningParams {
                epsilon_schedule,
                ..QLearningParams::default()
            };
            rejected(p.check(), "epsilon_schedule");
        }
    }

    #[test]
    fn rejects_temperatures_of_zero_or_below() {
        for temperature in [0.0, -1.0, f64::INFINITY] {
            let p = QLearningParams {
                temperature,
                ..QLearningParams::default()
            };
            rejected(p.check(), "temperature");
        }
    }
}
