//! Trial records: one evaluated (or attempted) architecture of a run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;
use crate::evaluator::{EvalError, Evaluation};
use crate::fidelity::{Fidelity, Schedule};

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Trained and scored.
    Ok,
    /// The loss became NaN or infinite; training stopped early. Never ranked.
    Diverged,
    /// The evaluator returned an error (see the reason). Never ranked.
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM) before it finished; re-run on resume.
    Killed,
}

impl Status {
    /// The lowercase name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Diverged => "diverged",
            Status::Failed => "failed",
            Status::Killed => "killed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Status::Ok, Status::Diverged, Status::Failed, Status::Killed]
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown status `{s}` (ok, diverged, failed, killed)"))
    }
}

/// What an evaluation measured. Scores are `None` when the trial has none (a diverged
/// trial has no accuracy; a search trial has no test score). NaN/inf never appear here:
/// an evaluator that sees them reports the trial as diverged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Accuracy on the validation split, in [0, 1]: the fitness.
    pub val_acc: Option<f64>,
    /// Mean cross-entropy on the validation split.
    pub val_loss: Option<f64>,
    /// Accuracy on the test set (final evaluation only).
    pub test_acc: Option<f64>,
    /// Mean cross-entropy on the test set (final evaluation only).
    pub test_loss: Option<f64>,
    /// Trainable parameters.
    pub params: u64,
    /// Forward multiply-accumulates per example.
    pub macs: u64,
    /// Epochs of training done (fractional when a trial stopped early).
    pub epochs: f64,
    /// Wall-clock seconds of training (not reproducible; kept out of the compared tables).
    /// For a trial that continued an earlier training, the whole training of its network
    /// (the earlier part included).
    pub train_seconds: f64,
    /// The learning curve: the validation score after each epoch, `curve[e - 1]` after
    /// epoch `e` (empty unless the evaluator was asked to record it, e.g. `[training]
    /// curve = true`). The last entry is the final validation score. Left out of files
    /// when empty, so journals written before curves existed read back unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<EpochScore>,
}

/// The validation score of a trial after one epoch of its training (one point of its
/// learning curve, as NAS-Bench-201 records them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochScore {
    /// Accuracy on the validation split after the epoch, in [0, 1].
    pub val_acc: f64,
    /// Mean cross-entropy on the validation split after the epoch.
    pub val_loss: f64,
    /// Wall-clock seconds of training from the start of the trial to the end of the
    /// epoch, not counting the scoring (not reproducible).
    pub train_seconds: f64,
}

impl Metrics {
    /// Checks every number: accuracies finite and in [0, 1], losses, epochs and seconds
    /// finite and not negative. Every entry point (an evaluator's result, a table row, a
    /// journal line read back) holds its values to this, so that nothing nas writes is a
    /// NaN it cannot read back.
    ///
    /// # Errors
    /// The first bad value: `field = value (allowed: ...)`.
    pub fn check(&self) -> Result<(), String> {
        let accuracy = [("val_acc", self.val_acc), ("test_acc", self.test_acc)];
        for (field, v) in accuracy {
            if let Some(v) = v
                && !(v.is_finite() && (0.0..=1.0).contains(&v))
            {
                return Err(format!("{field} = {v} (allowed: a fraction in [0, 1])"));
            }
        }
        let amounts = [
            ("val_loss", self.val_loss),
            ("test_loss", self.test_loss),
            ("epochs", Some(self.epochs)),
            ("train_seconds", Some(self.train_seconds)),
        ];
        for (field, v) in amounts {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(format!(
                    "{field} = {v} (allowed: a finite number, 0 or more)"
                ));
            }
        }
        for (i, point) in self.curve.iter().enumerate() {
            let epoch = i + 1;
            if !(point.val_acc.is_finite() && (0.0..=1.0).contains(&point.val_acc)) {
                return Err(format!(
                    "curve[{epoch}].val_acc = {} (allowed: a fraction in [0, 1])",
                    point.val_acc
                ));
            }
            for (field, v) in [
                ("val_loss", point.val_loss),
                ("train_seconds", point.train_seconds),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(format!(
                        "curve[{epoch}].{field} = {v} (allowed: a finite number, 0 or more)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One trial of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Name of the strategy (as configured) that proposed it.
    pub strategy: String,
    /// Repetition of the run (0-based).
    pub repetition: u32,
    /// Index of the trial in its run (0-based).
    pub index: u32,
    /// The trial seed the evaluator was given.
    pub seed: u64,
    /// The architecture evaluated.
    pub arch: Architecture,
    /// How it ended.
    pub status: Status,
    /// Why it did not end `ok`.
    pub reason: Option<String>,
    /// What was measured (present for `ok` and `diverged`).
    pub metrics: Option<Metrics>,
    /// True when the architecture had been evaluated earlier in the run (at the same
    /// fidelity) and its metrics were reused instead of training it again.
    pub cached: bool,
    /// The fidelity it was evaluated at, for a trial of a multi-fidelity strategy (None:
    /// the run's per-trial budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<Fidelity>,
    /// When and on which simulated worker it ran, in a run with simulated workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

impl Trial {
    /// Records how its evaluation ended: the evaluation's status, reason and metrics, or
    /// `failed` with the error's message. An evaluation whose metrics fail
    /// [`Metrics::check`] (a NaN accuracy, a negative time) is recorded as `failed`, its
    /// reason naming the value: a score nas cannot trust never ranks, and never reaches a
    /// file as a number it cannot read back.
    pub fn record(&mut self, outcome: Result<Evaluation, EvalError>) {
        match outcome {
            Ok(eval) => match eval.metrics.check() {
                Ok(()) => {
                    self.status = eval.status;
                    self.reason = eval.reason;
                    self.metrics = Some(eval.metrics);
                }
                Err(bad) => {
                    self.status = Status::Failed;
                    self.reason = Some(format!("the evaluator returned {bad}"));
                    self.metrics = None;
                }
            },
            Err(e) => {
                self.status = Status::Failed;
                self.reason = Some(e.to_string());
                self.metrics = None;
            }
        }
    }

    /// What the trial cost, `(epochs, training seconds)`: nothing for a cached trial or one
    /// without metrics (a failed trial); else its metrics' epochs and seconds, less what
    /// an earlier training it continued had already done ([`Fidelity::prior_epochs`],
    /// [`Fidelity::prior_seconds`]; never below 0).
    pub fn cost(&self) -> (f64, f64) {
        match (&self.metrics, self.cached) {
            (Some(m), false) => {
                let (e, s) = self
                    .fidelity
                    .as_ref()
                    .map_or((0.0, 0.0), |f| (f64::from(f.prior_epochs), f.prior_seconds));
                ((m.epochs - e).max(0.0), (m.train_seconds - s).max(0.0))
            }
            _ => (0.0, 0.0),
        }
    }

    /// The epochs the trial's scores are after: its fidelity, or `budget` (the run's).
    pub fn epochs_or(&self, budget: u32) -> u32 {
        self.fidelity.as_ref().map_or(budget, |f| f.epochs)
    }

    /// The fitness (validation accuracy) if the trial may be ranked: status `ok` and a
    /// finite score.
    pub fn fitness(&self) -> Option<f64> {
        if self.status != Status::Ok {
            return None;
        }
        self.metrics
            .as_ref()
            .and_then(|m| m.val_acc)
            .filter(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight() -> Trial {
        Trial {
            strategy: "random".into(),
            repetition: 0,
            index: 0,
            seed: 7,
            arch: Architecture::new(Vec::new()),
            status: Status::Killed,
            reason: Some("interrupted while training".into()),
            metrics: None,
            cached: false,
            fidelity: None,
            schedule: None,
        }
    }

    #[test]
    fn a_curve_is_left_out_of_files_when_empty_and_reads_back_when_present() {
        let plain = Metrics {
            val_acc: Some(0.5),
            ..Metrics::default()
        };
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("curve"), "{text}");
        assert_eq!(serde_json::from_str::<Metrics>(&text).unwrap(), plain);
        let with = Metrics {
            curve: vec![EpochScore {
                val_acc: 0.25,
                val_loss: 2.5,
                train_seconds: 0.125,
            }],
            ..plain
        };
        let text = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<Metrics>(&text).unwrap(), with);
    }

    #[test]
    fn record_takes_an_evaluation_or_fails_with_the_error() {
        let metrics = Metrics {
            val_acc: Some(0.5),
            ..Metrics::default()
        };
        let mut trial = in_flight();
        trial.record(Ok(Evaluation {
            status: Status::Diverged,
            reason: Some("loss NaN at step 3".into()),
            metrics: metrics.clone(),
        }));
        assert_eq!(trial.status, Status::Diverged);
        assert_eq!(trial.reason.as_deref(), Some("loss NaN at step 3"));
        assert_eq!(trial.metrics, Some(metrics));

        trial.record(Err("no such layer".into()));
        assert_eq!(trial.status, Status::Failed);
        assert_eq!(trial.reason.as_deref(), Some("no such layer"));
        assert_eq!(trial.metrics, None);
    }

    #[test]
    fn an_evaluation_with_a_value_out_of_range_is_recorded_as_failed() {
        for (metrics, needle) in [
            (
                Metrics {
                    val_acc: Some(f64::NAN),
                    ..Metrics::default()
                },
                "val_acc = NaN",
            ),
            (
                Metrics {
                    val_acc: Some(1.5),
                    ..Metrics::default()
                },
                "val_acc = 1.5 (allowed: a fraction in [0, 1])",
            ),
            (
                Metrics {
                    test_acc: Some(-0.1),
                    ..Metrics::default()
                },
                "test_acc = -0.1",
            ),
            (
                Metrics {
                    train_seconds: f64::NAN,
                    ..Metrics::default()
                },
                "train_seconds = NaN",
            ),
            (
                Metrics {
                    train_seconds: -3.0,
                    ..Metrics::default()
                },
                "train_seconds = -3",
            ),
            (
                Metrics {
                    val_loss: Some(f64::INFINITY),
                    ..Metrics::default()
                },
                "val_loss = inf",
            ),
            (
                Metrics {
                    epochs: f64::NEG_INFINITY,
                    ..Metrics::default()
                },
                "epochs = -inf",
            ),
            (
                Metrics {
                    curve: vec![
                        EpochScore {
                            val_acc: 0.5,
                            val_loss: 1.0,
                            train_seconds: 1.0,
                        },
                        EpochScore {
                            val_acc: 0.6,
                            val_loss: f64::NAN,
                            train_seconds: 2.0,
                        },
                    ],
                    ..Metrics::default()
                },
                "curve[2].val_loss = NaN",
            ),
        ] {
            let mut trial = in_flight();
            trial.record(Ok(Evaluation {
                status: Status::Ok,
                reason: None,
                metrics,
            }));
            assert_eq!(trial.status, Status::Failed, "{needle}");
            assert_eq!(trial.metrics, None);
            let reason = trial.reason.clone().unwrap();
            assert!(reason.contains(needle), "{reason}");
            assert_eq!(trial.fitness(), None);
        }
        assert!(Metrics::default().check().is_ok());
    }

    #[test]
    fn a_continued_trial_costs_only_its_new_epochs() {
        let mut trial = in_flight();
        assert_eq!(trial.cost(), (0.0, 0.0), "no metrics, no cost");
        trial.metrics = Some(Metrics {
            epochs: 9.0,
            train_seconds: 90.0,
            ..Metrics::default()
        });
        assert_eq!(trial.cost(), (9.0, 90.0));
        trial.fidelity = Some(Fidelity {
            epochs: 9,
            continues: Some(2),
            prior_epochs: 3,
            prior_seconds: 31.5,
        });
        assert_eq!(trial.cost(), (6.0, 58.5));
        assert_eq!(trial.epochs_or(27), 9);
        trial.cached = true;
        assert_eq!(trial.cost(), (0.0, 0.0), "a cached trial trains nothing");
        // Single-fidelity trials serialize as before: no fidelity, schedule or curve.
        let json = serde_json::to_string(&in_flight()).unwrap();
        assert!(
            !json.contains("fidelity") && !json.contains("schedule"),
            "{json}"
        );
        assert!(
            !serde_json::to_string(&Metrics::default())
                .unwrap()
                .contains("curve")
        );
    }
}
