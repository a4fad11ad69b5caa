//! Params of the multi-fidelity strategies: written in a config, checked once.

use serde::{Deserialize, Serialize};

use nas_core::{Error, Result};

use crate::rungs::Rungs;

/// Declares one strategy's params (the same four fields for the whole family) and its
/// checked form.
macro_rules! fidelity_params {
    ($(#[$doc:meta])* $params:ident, $valid:ident, $pname:literal, $source:literal) => {
        $(#[$doc])*
        ///
        /// Fields (every one defaulted):
        #[doc = concat!(
            "- `eta` (default 3): the reduction factor η; a rung keeps the best 1/η of its trials (",
            $source,
            ")."
        )]
        /// - `min_epochs` (default 1): the smallest fidelity r_min, in epochs; it sets the
        ///   number of rungs, `⌊log_η(R / r_min)⌋ + 1` (see [`crate::Rungs`]).
        /// - `max_epochs` (default: the run's `budget.epochs`): the largest fidelity R, at
        ///   most the run's budget.
        /// - `continue_trainings` (default true): a promoted architecture continues the
        ///   training of its trial at the lower rung (it costs the new epochs only, with
        ///   an evaluator that can continue trainings, e.g. a table with learning curves);
        ///   false trains it again from scratch at the higher fidelity, as Hyperband's
        ///   paper does.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $params {
            /// The reduction factor η (at least 2).
            pub eta: u32,
            /// The smallest fidelity, in epochs (at least 1).
            pub min_epochs: u32,
            /// The largest fidelity, in epochs (None: the run's budget).
            #[serde(skip_serializing_if = "Option::is_none")]
            pub max_epochs: Option<u32>,
            /// Promotions continue the lower rung's training.
            pub continue_trainings: bool,
        }

        impl Default for $params {
            fn default() -> Self {
                $params {
                    eta: 3,
                    min_epochs: 1,
                    max_epochs: None,
                    continue_trainings: true,
                }
            }
        }

        impl $params {
            /// Checks every field that can be checked without the run (the rungs are
            /// checked against the run's budget when the strategy is built).
            ///
            /// # Errors
            /// [`Error::InvalidParam`] naming the field.
            pub fn check(&self) -> Result<$valid> {
                Rungs::new(self.eta, self.min_epochs, self.max_epochs.unwrap_or(u32::MAX))?;
                Ok($valid(self.clone()))
            }
        }

        nas_core::valid_params! {
            /// Checked params: the only form the strategy accepts. Read the fields
            /// through `Deref`; it serializes as the params and is checked again when
            /// read.
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            #[serde(try_from = $pname, into = $pname)]
            pub struct $valid($params);
        }

        impl $valid {
            /// The rungs for a run whose per-trial budget is `budget_epochs` epochs.
            ///
            /// # Errors
            /// [`Error::InvalidParam`] when `max_epochs` exceeds the budget or the
            /// budget is below `min_epochs`.
            pub fn rungs(&self, budget_epochs: u32) -> Result<Rungs> {
                rungs(self.eta, self.min_epochs, self.max_epochs, budget_epochs)
            }
        }
    };
}

fn rungs(eta: u32, min_epochs: u32, max_epochs: Option<u32>, budget: u32) -> Result<Rungs> {
    let max = match max_epochs {
        Some(m) if m > budget => {
            return Err(Error::invalid(
                "max_epochs",
                m,
                format!("at most the run's budget.epochs = {budget}"),
            ));
        }
        Some(m) => m,
        None => budget,
    };
    if min_epochs > max {
        return Err(Error::invalid(
            "min_epochs",
            min_epochs,
            format!("at most the largest fidelity, {max} epochs"),
        ));
    }
    Rungs::new(eta, min_epochs, max)
}

fidelity_params!(
    /// Successive halving as written in a config (`kind = "successive-halving"`):
    /// brackets of η^s_max architectures drawn uniformly at the lowest rung, the best
    /// 1/η of each rung promoted to the next, until one reaches the largest fidelity;
    /// then the next bracket (Jamieson & Talwalkar, AISTATS 2016; as Hyperband's most
    /// aggressive bracket, Li et al., JMLR 2018).
    SuccessiveHalvingParams,
    SuccessiveHalvingValidParams,
    "SuccessiveHalvingParams",
    "Li et al. 2018 use η = 3"
);

fidelity_params!(
    /// Hyperband as written in a config (`kind = "hyperband"`): successive halving
    /// brackets s = s_max, ..., 0 in turn, bracket s starting
    /// `⌈(s_max + 1) η^s / (s + 1)⌉` architectures at rung s_max - s (Li et al., JMLR
    /// 2018, Algorithm 1; HpBandSter rounds the count down instead).
    HyperbandParams,
    HyperbandValidParams,
    "HyperbandParams",
    "Li et al. 2018, Section 3: η = 3"
);

fidelity_params!(
    /// ASHA, asynchronous successive halving, as written in a config (`kind = "asha"`):
    /// whenever a worker is free, promote the best not yet promoted architecture among
    /// the top 1/η of the highest rung that has one, else start a new architecture at
    /// the lowest rung (Li et al., MLSys 2020, Algorithm 2; early-stopping rate s = 0;
    /// the grace period is `min_epochs`).
    AshaParams,
    AshaValidParams,
    "AshaParams",
    "Li et al. 2020, Section 4: η = 3, grace period r = 1 epoch"
);

/// Most candidates BOHB scores per proposal (`num_samples`): a user value decides the
/// work of every proposal, so it is bounded.
pub const MAX_SAMPLES: u32 = 100_000;

/// BOHB as written in a config (`kind = "bohb"`): Hyperband's brackets whose new
/// architectures come from a kernel density model (Falkner, Klein & Hutter, ICML 2018).
/// Every field is defaulted to the paper's and its code's setting (HpBandSter v0.7.4,
/// `BOHB(top_n_percent=15, num_samples=64, random_fraction=1/3, min_bandwidth=1e-3,
/// min_points_in_model=None)`; the paper's Section 4: q = 15%, N_s = 64, ρ = 1/3,
/// N_min = d + 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BohbParams {
    /// The reduction factor η (at least 2). Default 3 (Falkner et al. 2018, Section 4).
    pub eta: u32,
    /// The smallest fidelity, in epochs (at least 1). Default 1.
    pub min_epochs: u32,
    /// The largest fidelity, in epochs (None: the run's budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_epochs: Option<u32>,
    /// Promotions continue the lower rung's training (default true; see
    /// [`HyperbandParams`]).
    pub continue_trainings: bool,
    /// q, in percent: l(x) is fitted to the best q% of a fidelity's observations (at
    /// least N_min), g(x) to the rest (1 to 99). Default 15.
    pub top_n_percent: u32,
    /// N_s: candidates drawn from l(x) per model-based proposal (1 to 100,000). Default
    /// 64.
    pub num_samples: u32,
    /// ρ: the probability that a new architecture is a uniform draw even when a model
    /// exists, in [0, 1]. Default 1/3.
    pub random_fraction: f64,
    /// The smallest kernel bandwidth λ, in (0, 1). Default 1e-3.
    pub min_bandwidth: f64,
    /// N_min: observations a fidelity needs before its model is fitted (None: the
    /// space's genes + 1, the smallest allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_points_in_model: Option<u32>,
}

impl Default for BohbParams {
    fn default() -> Self {
        BohbParams {
            eta: 3,
            min_epochs: 1,
            max_epochs: None,
            continue_trainings: true,
            top_n_percent: 15,
            num_samples: 64,
            random_fraction: 1.0 / 3.0,
            min_bandwidth: 1e-3,
            min_points_in_model: None,
        }
    }
}

impl BohbParams {
    /// Checks every field that can be checked without the run and its space.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn check(&self) -> Result<BohbValidParams> {
        Rungs::new(
            self.eta,
            self.min_epochs,
            self.max_epochs.unwrap_or(u32::MAX),
        )?;
        if !(1..=99).contains(&self.top_n_percent) {
            return Err(Error::invalid(
                "top_n_percent",
                self.top_n_percent,
                "an integer from 1 to 99 (percent)",
            ));
        }
        if !(1..=MAX_SAMPLES).contains(&self.num_samples) {
            return Err(Error::invalid(
                "num_samples",
                self.num_samples,
                format!("an integer from 1 to {MAX_SAMPLES}"),
            ));
        }
        if !(0.0..=1.0).contains(&self.random_fraction) {
            return Err(Error::invalid(
                "random_fraction",
                self.random_fraction,
                "a number in [0, 1]",
            ));
        }
        if !(self.min_bandwidth > 0.0 && self.min_bandwidth < 1.0) {
            return Err(Error::invalid(
                "min_bandwidth",
                self.min_bandwidth,
                "a number in (0, 1)",
            ));
        }
        if self.min_points_in_model == Some(0) {
            return Err(Error::invalid(
                "min_points_in_model",
                0,
                "at least the space's genes + 1",
            ));
        }
        Ok(BohbValidParams(self.clone()))
    }
}

nas_core::valid_params! {
    /// Checked BOHB params: the only form [`crate::Bohb`] accepts. Read the fields
    /// through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(try_from = "BohbParams", into = "BohbParams")]
    pub struct BohbValidParams(BohbParams);
}

impl BohbValidParams {
    /// The rungs for a run whose per-trial budget is `budget_epochs` epochs.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when `max_epochs` exceeds the budget or the budget is
    /// below `min_epochs`.
    pub fn rungs(&self, budget_epochs: u32) -> Result<Rungs> {
        rungs(self.eta, self.min_epochs, self.max_epochs, budget_epochs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_and_bad_values_name_their_field() {
        let p: HyperbandParams = serde_json::from_str("{}").unwrap();
        assert_eq!((p.eta, p.min_epochs, p.max_epochs), (3, 1, None));
        assert!(p.continue_trainings);
        let v = p.check().unwrap();
        assert_eq!(v.rungs(9).unwrap().all(), &[1, 3, 9]);
        let e = serde_json::from_str::<AshaParams>(r#"{"grace": 1}"#).unwrap_err();
        assert!(e.to_string().contains("grace"), "{e}");
        let bad = SuccessiveHalvingParams {
            eta: 1,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("`eta`"));
        let too_far = AshaParams {
            max_epochs: Some(27),
            ..Default::default()
        };
        let e = too_far.check().unwrap().rungs(9).unwrap_err().to_string();
        assert!(
            e.contains("`max_epochs`") && e.contains("budget.epochs = 9"),
            "{e}"
        );
        let too_low = AshaParams {
            min_epochs: 10,
            ..Default::default()
        };
        let e = too_low.check().unwrap().rungs(9).unwrap_err().to_string();
        assert!(e.contains("`min_epochs`"), "{e}");
        let b: BohbParams = serde_json::from_str("{}").unwrap();
        assert_eq!(
            (
                b.top_n_percent,
                b.num_samples,
                b.random_fraction,
                b.min_bandwidth
            ),
            (15, 64, 1.0 / 3.0, 1e-3)
        );
        assert_eq!(b.check().unwrap().rungs(9).unwrap().all(), &[1, 3, 9]);
        for (field, bad) in [
            (
                "top_n_percent",
                BohbParams {
                    top_n_percent: 100,
                    ..Default::default()
                },
            ),
            (
                "num_samples",
                BohbParams {
                    num_samples: 0,
                    ..Default::default()
                },
            ),
            (
                "random_fraction",
                BohbParams {
                    random_fraction: f64::NAN,
                    ..Default::default()
                },
            ),
            (
                "random_fraction",
                BohbParams {
                    random_fraction: 1.5,
                    ..Default::default()
                },
            ),
            (
                "min_bandwidth",
                BohbParams {
                    min_bandwidth: 0.0,
                    ..Default::default()
                },
            ),
            (
                "min_points_in_model",
                BohbParams {
                    min_points_in_model: Some(0),
                    ..Default::default()
                },
            ),
            (
                "eta",
                BohbParams {
                    eta: 1,
                    ..Default::default()
                },
            ),
        ] {
            let e = bad.check().unwrap_err().to_string();
            assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
        }
        // A checked value reads back through check.
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            serde_json::from_str::<HyperbandValidParams>(&text).unwrap(),
            v
        );
    }
}
