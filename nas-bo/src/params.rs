//! Params of TPE and BANANAS: written in a config, checked once.

use serde::{Deserialize, Serialize};

use nas_core::{Error, Result};

/// Most candidates a model-based strategy draws and scores per ask or per ensemble
/// (`n_ei_candidates`, `num_candidates`) and most of any other count in its params: a
/// user value decides an allocation, so it is bounded before it is made.
pub const MAX_CANDIDATES: usize = 100_000;
/// Most edits per BANANAS candidate.
pub const MAX_MUTATIONS: usize = 1_000;
/// Most hidden layers of a BANANAS predictor.
pub const MAX_HIDDEN_LAYERS: usize = 100;
/// Most units of a BANANAS predictor's hidden layer.
pub const MAX_HIDDEN_UNITS: usize = 4_096;
/// Most predictors in a BANANAS ensemble.
pub const MAX_ENSEMBLE: usize = 100;
/// Most training epochs of a BANANAS predictor.
pub const MAX_EPOCHS: usize = 100_000;
/// Most hidden-to-hidden weights of a whole BANANAS ensemble (2^26 f32: 256 MiB).
pub const MAX_ENSEMBLE_WEIGHTS: usize = 1 << 26;

/// TPE as written in a config (`params = { n_startup_trials = 20 }`): unchecked. Missing
/// fields take their default: Optuna's `TPESampler` (v4.9.0 for the values; its
/// multivariate mode, the default from v5.0), which follows Bergstra et al. (2011) except
/// where noted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TpeParams {
    /// Trials told before TPE models anything; until then proposals are uniform draws
    /// (at least 1). Default 10: Optuna's `n_startup_trials` (hyperopt: 20; Bergstra et al.
    /// 2011 started from 30 random trials on their larger spaces).
    pub n_startup_trials: usize,
    /// Candidates drawn from l(x) per proposal; the one with the highest l(x)/g(x) that
    /// was not evaluated yet is proposed (at least 1). Default 24: Optuna's and hyperopt's
    /// `n_ei_candidates`.
    pub n_ei_candidates: usize,
    /// γ: the good group l(x) is fitted to the best `ceil(gamma * n)` of the `n` trials
    /// told, at most `gamma_cap`, in (0, 1]. Default 0.1: Optuna's `default_gamma`,
    /// `min(ceil(0.1 n), 25)`; Bergstra et al. (2011) used γ = 0.15 without a cap.
    pub gamma: f64,
    /// Most trials in the good group (at least 1). Default 25 (Optuna's `default_gamma`).
    pub gamma_cap: usize,
    /// Weight of the prior (the uniform distribution) in each Parzen estimator, relative
    /// to each observation's weight of 1, and the smoothing of each observation's kernel
    /// (positive, finite). Default 1.0: Optuna's and hyperopt's `prior_weight`.
    pub prior_weight: f64,
    /// `true`: candidates are whole architectures drawn from the joint estimator l(x) (a
    /// mixture with one kernel per good trial, a product of categorical kernels over its
    /// genes) and ranked by the joint l(x)/g(x): Optuna's `multivariate=True` (its default
    /// from v5.0; Falkner et al. 2018). `false`: each gene is chosen on its own, the value
    /// with the highest l/g among `n_ei_candidates` draws from that gene's l: Bergstra et
    /// al. (2011) and Optuna before v5.0. Default `true` (see the crate docs for why).
    pub multivariate: bool,
}

impl Default for TpeParams {
    fn default() -> Self {
        TpeParams {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            gamma: 0.1,
            gamma_cap: 25,
            prior_weight: 1.0,
            multivariate: true,
        }
    }
}

impl TpeParams {
    /// The TPE of Bergstra et al. (2011) as hyperopt and Optuna before v5.0 run it:
    /// independent per gene, the rest as [`TpeParams::default`].
    pub fn independent() -> Self {
        TpeParams {
            multivariate: false,
            ..TpeParams::default()
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn check(&self) -> Result<TpeValidParams> {
        for (field, value) in [
            ("n_startup_trials", self.n_startup_trials),
            ("n_ei_candidates", self.n_ei_candidates),
            ("gamma_cap", self.gamma_cap),
        ] {
            if value == 0 {
                return Err(Error::invalid(field, 0, "an integer of at least 1"));
            }
        }
        if self.n_ei_candidates > MAX_CANDIDATES {
            return Err(Error::invalid(
                "n_ei_candidates",
                self.n_ei_candidates,
                format!(
                    "an integer from 1 to {MAX_CANDIDATES} (each is drawn and scored at every ask)"
                ),
            ));
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return Err(Error::invalid("gamma", self.gamma, "a number in (0, 1]"));
        }
        if !(self.prior_weight > 0.0 && self.prior_weight.is_finite()) {
            return Err(Error::invalid(
                "prior_weight",
                self.prior_weight,
                "a positive, finite number",
            ));
        }
        Ok(TpeValidParams(self.clone()))
    }
}

/// BANANAS as written in a config (`params = { num_ensemble = 3 }`): unchecked. Missing
/// fields take their default: the paper's settings as its authors' code (naszilla's
/// `bananas` and `meta_neuralnet_params('standard')`, the same in naszilla/bananas for
/// NAS-Bench-201) runs them; NASLib's differ where noted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BananasParams {
    /// Uniformly drawn architectures evaluated before the first predictor is trained (at
    /// least 1). Default 10 (naszilla `num_init`; NASLib `num_init: 10`).
    pub num_init: usize,
    /// Architectures proposed per trained ensemble: the `k` best candidates by the
    /// acquisition (at least 1). Default 10 (naszilla `k`; NASLib `k: 10`).
    pub k: usize,
    /// Neural predictors in the ensemble (at least 2: independent Thompson sampling needs
    /// their spread). Default 5 (the paper, naszilla; NASLib: 3).
    pub num_ensemble: usize,
    /// Candidates generated per trained ensemble by mutating the best architectures (at
    /// least 1). Default 100 (naszilla's `get_candidates(num=100)`; NASLib
    /// `num_candidates: 100`).
    pub num_candidates: usize,
    /// Best evaluated architectures mutated into candidates; up to five times as many are
    /// used when their mutations are already known (naszilla's `patience_factor = 5`) (at
    /// least 1). Default 1 (naszilla; NASLib: 2).
    pub num_arches_to_mutate: usize,
    /// Mutations applied to a parent to make one candidate, each one decision of the space
    /// ([`nas_core::SearchSpace::mutate`]) (at least 1). Default 1 (NASLib
    /// `max_mutations: 1`; naszilla mutates each edge with probability 1/4 instead).
    pub mutations: usize,
    /// Hidden layers of each predictor (ReLU, fully connected) (at least 1). Default 10
    /// (naszilla `num_layers: 10`; NASLib: 20).
    pub hidden_layers: usize,
    /// Units of each hidden layer (at least 1). Default 20 (naszilla `layer_width: 20`;
    /// NASLib: 20).
    pub hidden_units: usize,
    /// Training epochs of each predictor (at least 1). Default 150 (naszilla `epochs: 150`;
    /// NASLib: 500).
    pub epochs: usize,
    /// Minibatch size of predictor training (at least 1). Default 32 (naszilla, NASLib).
    pub batch_size: usize,
    /// Adam's learning rate (positive, finite). Default 0.01 (naszilla `lr: .01`; NASLib:
    /// 0.001); β1 = 0.9, β2 = 0.99 (both), ε = 1e-7 (Keras, naszilla's framework).
    pub learning_rate: f64,
}

impl Default for BananasParams {
    fn default() -> Self {
        BananasParams {
            num_init: 10,
            k: 10,
            num_ensemble: 5,
            num_candidates: 100,
            num_arches_to_mutate: 1,
            mutations: 1,
            hidden_layers: 10,
            hidden_units: 20,
            epochs: 150,
            batch_size: 32,
            learning_rate: 0.01,
        }
    }
}

impl BananasParams {
    /// NASLib's BANANAS on NAS-Bench-201 (`defaults/nb201_defaults.yaml` and its
    /// `MLPPredictor` defaults, without the output weights' L1 penalty): 3 predictors of
    /// 20 layers trained 500 epochs at learning rate 0.001, 2 architectures mutated.
    pub fn naslib() -> Self {
        BananasParams {
            num_ensemble: 3,
            num_arches_to_mutate: 2,
            hidden_layers: 20,
            epochs: 500,
            learning_rate: 0.001,
            ..BananasParams::default()
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn check(&self) -> Result<BananasValidParams> {
        for (field, value) in [
            ("num_init", self.num_init),
            ("k", self.k),
            ("num_candidates", self.num_candidates),
            ("num_arches_to_mutate", self.num_arches_to_mutate),
            ("mutations", self.mutations),
            ("hidden_layers", self.hidden_layers),
            ("hidden_units", self.hidden_units),
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
        ] {
            if value == 0 {
                return Err(Error::invalid(field, 0, "an integer of at least 1"));
            }
        }
        for (field, value, max, why) in [
            (
                "num_init",
                self.num_init,
                MAX_CANDIDATES,
                "uniform draws before the first predictor",
            ),
            (
                "k",
                self.k,
                MAX_CANDIDATES,
                "proposals per trained ensemble",
            ),
            (
                "num_candidates",
                self.num_candidates,
                MAX_CANDIDATES,
                "candidates built and scored per ensemble",
            ),
            (
                "num_arches_to_mutate",
                self.num_arches_to_mutate,
                MAX_CANDIDATES,
                "architectures mutated per ensemble",
            ),
            (
                "mutations",
                self.mutations,
                MAX_MUTATIONS,
                "edits per candidate",
            ),
            (
                "hidden_layers",
                self.hidden_layers,
                MAX_HIDDEN_LAYERS,
                "layers of each predictor",
            ),
            (
                "hidden_units",
                self.hidden_units,
                MAX_HIDDEN_UNITS,
                "units of each hidden layer",
            ),
            (
                "epochs",
                self.epochs,
                MAX_EPOCHS,
                "passes over the told trials per predictor",
            ),
            (
                "batch_size",
                self.batch_size,
                MAX_CANDIDATES,
                "examples per step",
            ),
        ] {
            if value > max {
                return Err(Error::invalid(
                    field,
                    value,
                    format!("an integer from 1 to {max} ({why})"),
                ));
            }
        }
        if self.num_ensemble > MAX_ENSEMBLE {
            return Err(Error::invalid(
                "num_ensemble",
                self.num_ensemble,
                format!("an integer from 2 to {MAX_ENSEMBLE}"),
            ));
        }
        // Bounded above, so the product cannot overflow.
        let weights =
            self.num_ensemble * self.hidden_layers * self.hidden_units * self.hidden_units;
        if weights > MAX_ENSEMBLE_WEIGHTS {
            return Err(Error::invalid(
                "hidden_units",
                self.hidden_units,
                format!(
                    "a size whose ensemble of num_ensemble x hidden_layers x hidden_units^2 = {weights} hidden weights stays within {MAX_ENSEMBLE_WEIGHTS} (256 MiB of f32, before the optimiser's two moments)"
                ),
            ));
        }
        if self.num_ensemble < 2 {
            return Err(Error::invalid(
                "num_ensemble",
                self.num_ensemble,
                "an integer of at least 2 (Thompson sampling needs the ensemble's spread)",
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::invalid(
                "learning_rate",
                self.learning_rate,
                "a positive, finite number",
            ));
        }
        Ok(BananasValidParams(self.clone()))
    }
}

nas_core::valid_params! {
    /// Checked [`TpeParams`]: the only form [`crate::Tpe`] accepts. Read the fields
    /// through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(try_from = "TpeParams", into = "TpeParams")]
    pub struct TpeValidParams(TpeParams);
}

nas_core::valid_params! {
    /// Checked [`BananasParams`]: the only form [`crate::Bananas`] accepts. Read the fields
    /// through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(try_from = "BananasParams", into = "BananasParams")]
    pub struct BananasValidParams(BananasParams);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::testutil::assert_rejects as rejected;

    #[test]
    fn sizes_that_decide_an_allocation_are_bounded() {
        // Issue 17's kind: a predictor of 10^9 units aborted the process on allocation.
        let huge = |f: fn(&mut BananasParams)| {
            let mut p = BananasParams::default();
            f(&mut p);
            p.check()
        };
        rejected(huge(|p| p.hidden_units = 1_000_000_000), "hidden_units");
        rejected(huge(|p| p.hidden_layers = usize::MAX), "hidden_layers");
        rejected(huge(|p| p.num_candidates = 4_000_000_000), "num_candidates");
        rejected(huge(|p| p.num_ensemble = 1_000), "num_ensemble");
        rejected(huge(|p| p.epochs = MAX_EPOCHS + 1), "epochs");
        // Each within its own bound, too large together: named by the product rule.
        let mut p = BananasParams {
            hidden_units: MAX_HIDDEN_UNITS,
            hidden_layers: MAX_HIDDEN_LAYERS,
            num_ensemble: MAX_ENSEMBLE,
            ..BananasParams::default()
        };
        match p.check() {
            Err(Error::InvalidParam { field, allowed, .. }) => {
                assert_eq!(field, "hidden_units");
                assert!(allowed.contains("256 MiB"), "{allowed}");
            }
            other => panic!("{other:?}"),
        }
        // At the bound exactly (4 x 1 x 4096^2 = 2^26 weights): accepted; one more layer
        // is not.
        p.num_ensemble = 4;
        p.hidden_layers = 1;
        p.hidden_units = MAX_HIDDEN_UNITS;
        assert!(p.check().is_ok());
        p.hidden_layers = 2;
        rejected(p.check(), "hidden_units");
        let tpe = TpeParams {
            n_ei_candidates: 4_000_000_000,
            ..TpeParams::default()
        };
        rejected(tpe.check(), "n_ei_candidates");
    }

    #[test]
    fn defaults_and_variants_are_valid_and_fill_missing_fields() {
        assert!(TpeParams::default().check().is_ok());
        assert!(TpeParams::independent().check().is_ok());
        assert!(BananasParams::default().check().is_ok());
        assert!(BananasParams::naslib().check().is_ok());
        let p: TpeParams = serde_json::from_str(r#"{"gamma": 0.15}"#).unwrap();
        assert_eq!(
            p,
            TpeParams {
                gamma: 0.15,
                ..TpeParams::default()
            }
        );
        let p: BananasParams = serde_json::from_str(r#"{"num_ensemble": 3}"#).unwrap();
        assert_eq!(
            p,
            BananasParams {
                num_ensemble: 3,
                ..BananasParams::default()
            }
        );
    }

    #[test]
    fn valid_params_are_checked_again_when_read() {
        let json = serde_json::to_string(&TpeParams::default().check().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_str::<TpeValidParams>(&json).unwrap(),
            TpeParams::default().check().unwrap()
        );
        assert!(serde_json::from_str::<TpeValidParams>(r#"{"gamma": 0}"#).is_err());
        let json = serde_json::to_string(&BananasParams::default().check().unwrap()).unwrap();
        assert!(serde_json::from_str::<BananasValidParams>(&json).is_ok());
        assert!(serde_json::from_str::<BananasValidParams>(r#"{"k": 0}"#).is_err());
    }

    #[test]
    fn rejects_unknown_fields() {
        assert!(serde_json::from_str::<TpeParams>(r#"{"n_startup": 3}"#).is_err());
        assert!(serde_json::from_str::<BananasParams>(r#"{"ensemble": 3}"#).is_err());
    }

    #[test]
    fn tpe_rejects_n_startup_trials_of_zero() {
        let p = TpeParams {
            n_startup_trials: 0,
            ..TpeParams::default()
        };
        rejected(p.check(), "n_startup_trials");
    }

    #[test]
    fn tpe_rejects_n_ei_candidates_of_zero() {
        let p = TpeParams {
            n_ei_candidates: 0,
            ..TpeParams::default()
        };
        rejected(p.check(), "n_ei_candidates");
    }

    #[test]
    fn tpe_rejects_gamma_outside_the_unit_interval() {
        for gamma in [0.0, -0.1, 1.5, f64::NAN] {
            let p = TpeParams {
                gamma,
                ..TpeParams::default()
            };
            rejected(p.check(), "gamma");
        }
    }

    #[test]
    fn tpe_rejects_a_gamma_cap_of_zero() {
        let p = TpeParams {
            gamma_cap: 0,
            ..TpeParams::default()
        };
        rejected(p.check(), "gamma_cap");
    }

    #[test]
    fn tpe_rejects_non_positive_or_infinite_prior_weights() {
        for prior_weight in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            let p = TpeParams {
                prior_weight,
                ..TpeParams::default()
            };
            rejected(p.check(), "prior_weight");
        }
    }

    /// One test per BANANAS integer field that must be positive.
    fn bananas_rejects_zero(field: &str, set: impl Fn(&mut BananasParams)) {
        let mut p = BananasParams::default();
        set(&mut p);
        rejected(p.check(), field);
    }

    #[test]
    fn bananas_rejects_num_init_of_zero() {
        bananas_rejects_zero("num_init", |p| p.num_init = 0);
    }

    #[test]
    fn bananas_rejects_k_of_zero() {
        bananas_rejects_zero("k", |p| p.k = 0);
    }

    #[test]
    fn bananas_rejects_an_ensemble_of_fewer_than_two() {
        bananas_rejects_zero("num_ensemble", |p| p.num_ensemble = 0);
        bananas_rejects_zero("num_ensemble", |p| p.num_ensemble = 1);
    }

    #[test]
    fn bananas_rejects_num_candidates_of_zero() {
        bananas_rejects_zero("num_candidates", |p| p.num_candidates = 0);
    }

    #[test]
    fn bananas_rejects_num_arches_to_mutate_of_zero() {
        bananas_rejects_zero("num_arches_to_mutate", |p| p.num_arches_to_mutate = 0);
    }

    #[test]
    fn bananas_rejects_mutations_of_zero() {
        bananas_rejects_zero("mutations", |p| p.mutations = 0);
    }

    #[test]
    fn bananas_rejects_hidden_layers_of_zero() {
        bananas_rejects_zero("hidden_layers", |p| p.hidden_layers = 0);
    }

    #[test]
    fn bananas_rejects_hidden_units_of_zero() {
        bananas_rejects_zero("hidden_units", |p| p.hidden_units = 0);
    }

    #[test]
    fn bananas_rejects_epochs_of_zero() {
        bananas_rejects_zero("epochs", |p| p.epochs = 0);
    }

    #[test]
    fn bananas_rejects_batch_size_of_zero() {
        bananas_rejects_zero("batch_size", |p| p.batch_size = 0);
    }

    #[test]
    fn bananas_rejects_non_positive_or_infinite_learning_rates() {
        for learning_rate in [0.0, -0.01, f64::INFINITY, f64::NAN] {
            bananas_rejects_zero("learning_rate", |p| p.learning_rate = learning_rate);
        }
    }
}
