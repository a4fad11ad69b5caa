//! Params of local search: written in a config, checked once.

use serde::{Deserialize, Serialize};

use nas_core::{Error, Result};

/// Which improving neighbour local search moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Improvement {
    /// Evaluate the whole neighbourhood (in random order), then move to its best
    /// architecture if it beats the current one: the hill climbing of White, Nolen &
    /// Savani (2021), "iteratively train all architectures in its neighborhood, choosing
    /// the best one", and NASLib's `LocalSearch` (`optimizers/discrete/ls`).
    Best,
    /// Evaluate the neighbours in random order and move to the first one that beats the
    /// current architecture (naszilla's `local_search` with `query_full_nbhd=False`, the
    /// default of the authors' code).
    First,
}

/// Local search as written in a config (`params = { num_init = 10 }`): unchecked. Missing
/// fields take their default, which together are NASLib's `LocalSearch` on NAS-Bench-201
/// (White, Nolen & Savani's algorithm); [`LocalSearchParams::naszilla`] is the variant of
/// the authors' own code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSearchParams {
    /// Random architectures evaluated before the first climb, which starts from the best of
    /// them (at least 1). Default 10: NASLib's `LocalSearch` (`num_init: 10` in
    /// `defaults/nb201_defaults.yaml`) and naszilla's `local_search` (`DEFAULT_NUM_INIT =
    /// 10`).
    pub num_init: usize,
    /// Random architectures evaluated at each restart (after a local optimum), the next
    /// climb starting from the best of them (at least 1). Default 1: NASLib restarts from
    /// one new random architecture; naszilla draws `num_init` (10) new ones.
    pub restart_init: usize,
    /// Best- or first-improvement. Default `best` (the paper's algorithm and NASLib's).
    pub improvement: Improvement,
}

impl Default for LocalSearchParams {
    fn default() -> Self {
        LocalSearchParams {
            num_init: 10,
            restart_init: 1,
            improvement: Improvement::Best,
        }
    }
}

impl LocalSearchParams {
    /// naszilla's `local_search` (White, Nolen & Savani's code, its defaults): start from
    /// the best of 10 random architectures, move to the first improving neighbour, restart
    /// from the best of 10 new random architectures.
    pub fn naszilla() -> Self {
        LocalSearchParams {
            num_init: 10,
            restart_init: 10,
            improvement: Improvement::First,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn check(&self) -> Result<LocalSearchValidParams> {
        for (field, value) in [
            ("num_init", self.num_init),
            ("restart_init", self.restart_init),
        ] {
            if value == 0 {
                return Err(Error::invalid(field, 0, "an integer of at least 1"));
            }
        }
        Ok(LocalSearchValidParams(self.clone()))
    }
}

nas_core::valid_params! {
    /// Checked [`LocalSearchParams`]: the only form [`crate::LocalSearch`] accepts. Read the
    /// fields through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(try_from = "LocalSearchParams", into = "LocalSearchParams")]
    pub struct LocalSearchValidParams(LocalSearchParams);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::testutil::assert_rejects as rejected;

    #[test]
    fn defaults_and_naszilla_s_variant_are_valid_and_fill_missing_fields() {
        assert!(LocalSearchParams::default().check().is_ok());
        assert!(LocalSearchParams::naszilla().check().is_ok());
        let p: LocalSearchParams = serde_json::from_str(r#"{"improvement": "first"}"#).unwrap();
        assert_eq!(
            p,
            LocalSearchParams {
                improvement: Improvement::First,
                ..LocalSearchParams::default()
            }
        );
    }

    #[test]
    fn valid_params_are_checked_again_when_read() {
        let json = serde_json::to_string(&LocalSearchParams::default().check().unwrap()).unwrap();
        assert!(serde_json::from_str::<LocalSearchValidParams>(&json).is_ok());
        assert!(serde_json::from_str::<LocalSearchValidParams>(r#"{"num_init": 0}"#).is_err());
    }

    #[test]
    fn rejects_unknown_fields_and_improvements() {
        assert!(serde_json::from_str::<LocalSearchParams>(r#"{"num_inits": 3}"#).is_err());
        let err = serde_json::from_str::<LocalSearchParams>(r#"{"improvement": "steepest"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("steepest"), "{err}");
    }

    #[test]
    fn rejects_num_init_of_zero() {
        let p = LocalSearchParams {
            num_init: 0,
            ..LocalSearchParams::default()
        };
        rejected(p.check(), "num_init");
    }

    #[test]
    fn rejects_restart_init_of_zero() {
        let p = LocalSearchParams {
            restart_init: 0,
            ..LocalSearchParams::default()
        };
        rejected(p.check(), "restart_init");
    }
}
