//! Training hyper-parameters: [`TrainParams`] as written in a config, checked once into
//! [`TrainValidParams`].

use serde::{Deserialize, Serialize};

use crate::memory::ByteSize;

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// AdamW as `torch.optim.AdamW`: betas (0.9, 0.999), eps 1e-8, decoupled weight decay.
    #[default]
    Adamw,
    /// SGD with momentum as `torch.optim.SGD` (no dampening, L2 weight decay added to the
    /// gradient, Nesterov momentum with `nesterov = true`).
    Sgd,
}

/// How the learning rate changes over a trial's training steps.
///
/// NAS-Bench-201 (Dong & Yang, ICLR 2020, section 2.3: SGD with Nesterov momentum 0.9,
/// learning rate 0.1 annealed to 0, weight decay 5e-4, batch 256) and NAS-Bench-Macro
/// (Su et al., CVPR 2021: SGD, cosine, batch 256, weight decay 5e-4) train with
/// `Cosine`; `Constant` is the default and leaves every number as before the schedule
/// existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The configured learning rate at every step.
    #[default]
    Constant,
    /// Cosine annealing to 0 over the trial's steps, updated every step as
    /// NAS-Bench-201's code does (its `CosineAnnealingLR` with a fractional epoch, no
    /// warm-up, minimum 0): step `t` of `T` (`t` from 0, `T` = epochs × batches per
    /// epoch) uses `learning_rate × (1 + cos(π t / T)) / 2`, so the first step uses the
    /// full rate and the last a small positive one.
    Cosine,
}

impl LrSchedule {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Cosine => "cosine",
        }
    }

    /// The factor the learning rate is multiplied by at step `step` (from 0) of
    /// `total` steps: exactly 1 for `Constant`; for `Cosine`, `(1 + cos(π step /
    /// total)) / 2` computed in f64 with nas's own cosine (a fixed sequence of IEEE
    /// operations, so the same bits on every machine).
    pub fn factor(self, step: u64, total: u64) -> f64 {
        match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine => {
                let frac = if total == 0 {
                    0.0
                } else {
                    step.min(total) as f64 / total as f64
                };
                (1.0 + cos_0_pi(std::f64::consts::PI * frac)) / 2.0
            }
        }
    }
}

/// `cos(x)` for `x` in [0, π], as `-sin(x - π/2)` by its Taylor series to degree 23
/// (truncation error below 1e-20 on [-π/2, π/2]), evaluated by Horner's rule with
/// separate multiplies and adds: within a few ulps of the correctly rounded value, and
/// the same bits on every machine (no platform `libm`).
fn cos_0_pi(x: f64) -> f64 {
    let y = x - std::f64::consts::FRAC_PI_2;
    let y2 = y * y;
    // sin(y) = y (1 - y²/(2·3) (1 - y²/(4·5) (1 - ...)))
    let mut acc = 1.0;
    let mut k = 22.0;
    while k >= 2.0 {
        acc = 1.0 - y2 / (k * (k + 1.0)) * acc;
        k -= 2.0;
    }
    -(y * acc)
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_constant(s: &LrSchedule) -> bool {
    *s == LrSchedule::Constant
}

impl OptimizerKind {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Sgd => "sgd",
        }
    }
}

/// Which implementation trains the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// nas-eval's own CPU engine (fixed-order fused multiply-add kernels, exact pooling
    /// backward, fixed-order multi-threading): fast, and bit-identical for any thread
    /// count and on every x86-64 CPU.
    #[default]
    Native,
    /// The same network built from stock candle ops (reference; much slower). Pooling is
    /// crop + reshape + a one-hot mask of each window's first maximum, never candle's
    /// `max_pool2d`, whose backward is wrong in 0.11.
    Candle,
}

impl BackendKind {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Native => "native",
            BackendKind::Candle => "candle",
        }
    }
}

/// Largest accepted `batch_size` and `micro_batch`.
pub const MAX_BATCH: u32 = 1 << 16;
/// Largest accepted `threads`.
pub const MAX_THREADS: u32 = 256;

/// Training hyper-parameters as written in a config (`[evaluator]`).
///
/// Defaults follow PyTorch: AdamW with learning rate 1e-3 and weight decay 0.01
/// (`torch.optim.AdamW`'s defaults); with `optimizer = "sgd"` the defaults become
/// learning rate 0.01, momentum 0.9 and no weight decay. Batches of 128, one thread,
/// the native backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    /// Examples per optimisation step (the last batch of an epoch may be smaller).
    pub batch_size: u32,
    /// `adamw` or `sgd`.
    pub optimizer: OptimizerKind,
    /// Step size (default: 1e-3 for AdamW, 0.01 for SGD).
    pub learning_rate: Option<f64>,
    /// Weight decay, on every parameter as PyTorch does by default (default: 0.01 for
    /// AdamW, decoupled; 0 for SGD, added to the gradient).
    pub weight_decay: Option<f64>,
    /// SGD momentum in [0, 1) (default 0.9); not accepted with AdamW.
    pub momentum: Option<f64>,
    /// Nesterov momentum (SGD only, with a momentum above 0; default false), as
    /// `torch.optim.SGD(nesterov=True)`.
    #[serde(skip_serializing_if = "is_false")]
    pub nesterov: bool,
    /// `constant` (default) or `cosine` (see [`LrSchedule`]).
    #[serde(skip_serializing_if = "is_constant")]
    pub lr_schedule: LrSchedule,
    /// Threads one trial uses.
    pub threads: u32,
    /// Examples per micro-batch: the unit of work a thread takes and whose partial
    /// gradient is summed in a fixed order. It changes float rounding, never the
    /// mathematics, and keeps results independent of `threads`.
    pub micro_batch: u32,
    /// `native` or `candle`.
    pub backend: BackendKind,
    /// Seed of the fixed permutation of the training split whose first
    /// `budget.train_subset` images a reduced-fidelity trial trains on. It must be the
    /// same for every trial of an experiment so that trials train on the same images
    /// (derive it from the experiment seed, never from a trial seed).
    pub subset_seed: u64,
    /// Most memory one trial may need (estimated before anything is allocated, see
    /// [`crate::memory`]): a trial above it is refused (recorded `failed`). Unset: three
    /// quarters of what the machine has free when the evaluator is built, which depends
    /// on the machine; set it for a limit that does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<ByteSize>,
    /// Record the learning curve: score the validation images after every epoch, not
    /// only the last (default false; each extra pass costs about a third of a training
    /// epoch over as many images). See [`nas_core::Metrics::curve`].
    #[serde(skip_serializing_if = "is_false")]
    pub curve: bool,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            batch_size: 128,
            optimizer: OptimizerKind::Adamw,
            learning_rate: None,
            weight_decay: None,
            momentum: None,
            nesterov: false,
            lr_schedule: LrSchedule::Constant,
            threads: 1,
            micro_batch: 32,
            backend: BackendKind::Native,
            subset_seed: 0,
            max_memory: None,
            curve: false,
        }
    }
}

/// Checked training parameters with every default resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainValidParams {
    /// Examples per step.
    pub batch_size: u32,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Step size.
    pub learning_rate: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// SGD momentum (0 for AdamW, which uses betas (0.9, 0.999)).
    pub momentum: f64,
    /// Nesterov momentum (SGD only).
    #[serde(skip_serializing_if = "is_false")]
    pub nesterov: bool,
    /// The learning-rate schedule.
    #[serde(skip_serializing_if = "is_constant")]
    pub lr_schedule: LrSchedule,
    /// Threads per trial.
    pub threads: u32,
    /// Examples per micro-batch.
    pub micro_batch: u32,
    /// The backend.
    pub backend: BackendKind,
    /// Seed of the training-subset permutation.
    pub subset_seed: u64,
    /// The configured memory limit of one trial, in bytes (None: the machine's budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<u64>,
    /// Record the validation score after every epoch.
    #[serde(skip_serializing_if = "is_false")]
    pub curve: bool,
    /// The skeleton a cell architecture is trained in (default NAS-Bench-201's: stem of
    /// 16 channels, 3 stages of 5 cells). Part of the search space, not of the training
    /// settings: the caller sets it from `[space.skeleton]`, and it is not serialised
    /// with them.
    #[serde(skip)]
    pub cell_skeleton: nas_core::space::CellSkeleton,
    /// The stem and head channels a macro architecture is trained with (default
    /// NAS-Bench-Macro's: 32 and 1280; its stages are the architecture's own). Set from
    /// `[space.skeleton]` like `cell_skeleton`, and not serialised.
    #[serde(skip)]
    pub macro_skeleton: nas_core::space::MacroSkeleton,
}

impl TrainParams {
    /// Checks every field, resolving the optimiser-dependent defaults.
    pub fn check(&self) -> Result<TrainValidParams, nas_core::Error> {
        use nas_core::Error;
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return Err(Error::invalid(
                "batch_size",
                self.batch_size,
                format!("1 to {MAX_BATCH}"),
            ));
        }
        if self.micro_batch == 0 || self.micro_batch > MAX_BATCH {
            return Err(Error::invalid(
                "micro_batch",
                self.micro_batch,
                format!("1 to {MAX_BATCH}"),
            ));
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(Error::invalid(
                "threads",
                self.threads,
                format!("1 to {MAX_THREADS}"),
            ));
        }
        let (lr, wd) = match self.optimizer {
            OptimizerKind::Adamw => (1e-3, 0.01),
            OptimizerKind::Sgd => (0.01, 0.0),
        };
        let learning_rate = self.learning_rate.unwrap_or(lr);
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(Error::invalid(
                "learning_rate",
                learning_rate,
                "a finite number above 0",
            ));
        }
        let weight_decay = self.weight_decay.unwrap_or(wd);
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(Error::invalid(
                "weight_decay",
                weight_decay,
                "a finite number, 0 or more",
            ));
        }
        let momentum = match (self.optimizer, self.momentum) {
            (OptimizerKind::Adamw, Some(m)) => {
                return Err(Error::invalid(
                    "momentum",
                    m,
                    "no value with optimizer = \"adamw\" (momentum is for sgd)",
                ));
            }
            (OptimizerKind::Adamw, None) => 0.0,
            (OptimizerKind::Sgd, m) => m.unwrap_or(0.9),
        };
        if !(0.0..1.0).contains(&momentum) {
            return Err(Error::invalid("momentum", momentum, "0 <= momentum < 1"));
        }
        if self.nesterov {
            if self.optimizer != OptimizerKind::Sgd {
                return Err(Error::invalid(
                    "nesterov",
                    true,
                    "false with optimizer = \"adamw\" (Nesterov momentum is for sgd)",
                ));
            }
            if momentum == 0.0 {
                return Err(Error::invalid(
                    "nesterov",
                    true,
                    "false with momentum = 0 (Nesterov momentum needs a momentum above 0)",
                ));
            }
        }
        if let Some(m) = self.max_memory
            && m.bytes() < crate::memory::MIN_LIMIT
        {
            return Err(Error::invalid(
                "max_memory",
                format!("\"{m}\""),
                "at least \"1MiB\" (e.g. \"4GiB\")",
            ));
        }
        Ok(TrainValidParams {
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            learning_rate,
            weight_decay,
            momentum,
            nesterov: self.nesterov,
            lr_schedule: self.lr_schedule,
            threads: self.threads,
            micro_batch: self.micro_batch,
            backend: self.backend,
            subset_seed: self.subset_seed,
            max_memory: self.max_memory.map(ByteSize::bytes),
            curve: self.curve,
            cell_skeleton: nas_core::space::CellSkeleton::default(),
            macro_skeleton: nas_core::space::MacroSkeleton::default(),
        })
    }
}

impl TrainValidParams {
    /// The engine's optimiser.
    pub(crate) fn optimizer(&self) -> crate::engine::Optimizer {
        match self.optimizer {
            OptimizerKind::Adamw => crate::engine::Optimizer::AdamW {
                lr: self.learning_rate,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: self.weight_decay,
            },
            OptimizerKind::Sgd => crate::engine::Optimizer::Sgd {
                lr: self.learning_rate,
                momentum: self.momentum,
                nesterov: self.nesterov,
                weight_decay: self.weight_decay,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(p: TrainParams, field: &str) {
        match p.check() {
            Err(nas_core::Error::InvalidParam { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_pytorch_adamw() {
        let v = TrainParams::default().check().unwrap();
        assert_eq!(v.batch_size, 128);
        assert_eq!(v.optimizer, OptimizerKind::Adamw);
        assert_eq!(v.learning_rate, 1e-3);
        assert_eq!(v.weight_decay, 0.01);
        assert_eq!(v.threads, 1);
        assert_eq!(v.backend, BackendKind::Native);
        let sgd = TrainParams {
            optimizer: OptimizerKind::Sgd,
            ..TrainParams::default()
        }
        .check()
        .unwrap();
        assert_eq!(
            (sgd.learning_rate, sgd.weight_decay, sgd.momentum),
            (0.01, 0.0, 0.9)
        );
    }

    #[test]
    fn rejects_batch_size() {
        rejected(
            TrainParams {
                batch_size: 0,
                ..Default::default()
            },
            "batch_size",
        );
        rejected(
            TrainParams {
                batch_size: MAX_BATCH + 1,
                ..Default::default()
            },
            "batch_size",
        );
    }

    #[test]
    fn rejects_micro_batch() {
        rejected(
            TrainParams {
                micro_batch: 0,
                ..Default::default()
            },
            "micro_batch",
        );
    }

    #[test]
    fn rejects_threads() {
        rejected(
            TrainParams {
                threads: 0,
                ..Default::default()
            },
            "threads",
        );
        rejected(
            TrainParams {
                threads: MAX_THREADS + 1,
                ..Default::default()
            },
            "threads",
        );
    }

    #[test]
    fn rejects_learning_rate() {
        rejected(
            TrainParams {
                learning_rate: Some(0.0),
                ..Default::default()
            },
            "learning_rate",
        );
        rejected(
            TrainParams {
                learning_rate: Some(f64::NAN),
                ..Default::default()
            },
            "learning_rate",
        );
    }

    #[test]
    fn rejects_weight_decay() {
        rejected(
            TrainParams {
                weight_decay: Some(-0.1),
                ..Default::default()
            },
            "weight_decay",
        );
        rejected(
            TrainParams {
                weight_decay: Some(f64::INFINITY),
                ..Default::default()
            },
            "weight_decay",
        );
    }

    #[test]
    fn rejects_momentum() {
        rejected(
            TrainParams {
                momentum: Some(0.9),
                ..Default::default()
            },
            "momentum",
        );
        let sgd = |m| TrainParams {
            optimizer: OptimizerKind::Sgd,
            momentum: Some(m),
            ..Default::default()
        };
        rejected(sgd(1.0), "momentum");
        rejected(sgd(-0.5), "momentum");
        assert!(sgd(0.0).check().is_ok());
    }

    #[test]
    fn rejects_max_memory() {
        rejected(
            TrainParams {
                max_memory: Some(ByteSize(1000)),
                ..Default::default()
            },
            "max_memory",
        );
        let ok = TrainParams {
            max_memory: Some("2GiB".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(ok.check().unwrap().max_memory, Some(2 << 30));
        let p: TrainParams = serde_json::from_str(r#"{"max_memory": "512MiB"}"#).unwrap();
        assert_eq!(p.max_memory, Some(ByteSize(512 << 20)));
        let err = serde_json::from_str::<TrainParams>(r#"{"max_memory": "lots"}"#).unwrap_err();
        assert!(err.to_string().contains("not an amount of memory"), "{err}");
    }

    #[test]
    fn unknown_fields_and_values_are_refused_by_serde() {
        assert!(serde_json::from_str::<TrainParams>(r#"{"batchsize": 3}"#).is_err());
        assert!(serde_json::from_str::<TrainParams>(r#"{"optimizer": "adam"}"#).is_err());
        let p: TrainParams = serde_json::from_str(r#"{"optimizer": "sgd", "threads": 2}"#).unwrap();
        assert_eq!(p.threads, 2);
        assert_eq!(p.batch_size, 128);
    }

    #[test]
    fn nesterov_needs_sgd_with_momentum() {
        let sgd = TrainParams {
            optimizer: OptimizerKind::Sgd,
            nesterov: true,
            ..TrainParams::default()
        };
        assert!(sgd.check().unwrap().nesterov);
        rejected(
            TrainParams {
                nesterov: true,
                ..TrainParams::default()
            },
            "nesterov",
        );
        rejected(
            TrainParams {
                momentum: Some(0.0),
                ..sgd
            },
            "nesterov",
        );
    }

    #[test]
    fn own_cosine_is_within_a_few_ulps_of_std() {
        for i in 0..=10_000u32 {
            let x = std::f64::consts::PI * f64::from(i) / 10_000.0;
            let (got, want) = (cos_0_pi(x), x.cos());
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON,
                "cos({x}) = {got}, std {want}"
            );
        }
    }

    #[test]
    fn cosine_schedule_anneals_from_one_to_zero() {
        let c = LrSchedule::Cosine;
        assert_eq!(c.factor(0, 100), 1.0);
        assert!((c.factor(50, 100) - 0.5).abs() < 1e-15);
        assert!((c.factor(25, 100) - (1.0 + 0.5f64.sqrt()) / 2.0).abs() < 1e-15);
        assert!(c.factor(99, 100) > 0.0 && c.factor(99, 100) < 3e-4);
        assert!(c.factor(100, 100).abs() < 1e-15);
        // Monotone over a run.
        let f: Vec<f64> = (0..=391).map(|t| c.factor(t, 391)).collect();
        assert!(f.windows(2).all(|w| w[1] <= w[0]));
        assert_eq!(LrSchedule::Constant.factor(7, 10), 1.0);
    }

    #[test]
    fn defaults_serialize_as_before_the_new_fields() {
        // Resolved configs (and the hashes of committed journals) keep their bytes.
        let text = serde_json::to_string(&TrainParams::default()).unwrap();
        assert!(
            !text.contains("nesterov") && !text.contains("lr_schedule"),
            "{text}"
        );
        let on = TrainParams {
            optimizer: OptimizerKind::Sgd,
            nesterov: true,
            lr_schedule: LrSchedule::Cosine,
            ..TrainParams::default()
        };
        let text = serde_json::to_string(&on).unwrap();
        assert!(
            text.contains("\"nesterov\":true") && text.contains("\"lr_schedule\":\"cosine\""),
            "{text}"
        );
        let back: TrainParams = serde_json::from_str(&text).unwrap();
        assert_eq!(back, on);
    }
}
