//! Params of random search: written in a config, checked once.

use serde::{Deserialize, Serialize};

use nas_core::Result;

/// Random search as written in a config (`params = { no_repeat = true }`): unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomParams {
    /// Never propose an architecture that was already proposed or evaluated in the run,
    /// until every architecture of the space has been (then sampling is uniform again).
    ///
    /// Default `false`: independent uniform draws, the random-search baseline of Bergstra
    /// & Bengio (2012) and of the NAS benchmarks (Li & Talwalkar 2019; Dong & Yang 2020,
    /// NAS-Bench-201), whose repeats are counted against the budget. Turn it on for small
    /// spaces, where repeats waste a noticeable share of the budget.
    pub no_repeat: bool,
}

impl RandomParams {
    /// Checks the params. Every value of random search's params is valid; the method
    /// exists so that every strategy is built the same way (`XParams` → `check()` →
    /// `XValidParams`).
    pub fn check(&self) -> Result<RandomValidParams> {
        Ok(RandomValidParams(self.clone()))
    }
}

nas_core::valid_params! {
    /// Checked [`RandomParams`]: the only form [`crate::RandomSearch`] accepts. Read the
    /// fields through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(try_from = "RandomParams", into = "RandomParams")]
    pub struct RandomValidParams(RandomParams);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_fields_and_unknown_fields_are_rejected() {
        let p: RandomParams = serde_json::from_str("{}").unwrap();
        assert_eq!(p, RandomParams::default());
        let p: RandomParams = serde_json::from_str(r#"{"no_repeat": true}"#).unwrap();
        assert!(p.check().unwrap().no_repeat);
        let err = serde_json::from_str::<RandomParams>(r#"{"no_repeats": true}"#).unwrap_err();
        assert!(err.to_string().contains("no_repeats"), "{err}");
    }

    #[test]
    fn rejects_a_non_boolean_no_repeat() {
        assert!(serde_json::from_str::<RandomParams>(r#"{"no_repeat": 1}"#).is_err());
    }
}
