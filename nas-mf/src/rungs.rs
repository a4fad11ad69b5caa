//! The fidelity levels (rungs) of successive halving, Hyperband, BOHB and ASHA.

use serde::{Deserialize, Serialize};

use nas_core::{Error, Result};

/// The epochs of each rung: `levels + 1` fidelities growing by a factor η up to the
/// maximum, `R·η^-(s_max - k)` for rung `k = 0..=s_max`, rounded to the nearest epoch,
/// where `s_max = ⌊log_η(R / r_min)⌋` (Li et al., JMLR 2018, Algorithm 1; HpBandSter's
/// `budgets`). With R = 9 epochs, r_min = 1 and η = 3: 1, 3, 9; with R = 200: 2, 7, 22,
/// 67, 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rungs {
    eta: u32,
    epochs: Vec<u32>,
}

impl Rungs {
    /// The rungs for reduction factor `eta` (at least 2), minimum `min_epochs` (at least 1)
    /// and maximum `max_epochs` (at least `min_epochs`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming `eta`, `min_epochs` or `max_epochs`.
    pub fn new(eta: u32, min_epochs: u32, max_epochs: u32) -> Result<Self> {
        if eta < 2 {
            return Err(Error::invalid("eta", eta, "2 or more"));
        }
        if min_epochs == 0 {
            return Err(Error::invalid("min_epochs", 0, "1 or more"));
        }
        if max_epochs < min_epochs {
            return Err(Error::invalid(
                "max_epochs",
                max_epochs,
                format!("at least min_epochs = {min_epochs}"),
            ));
        }
        // s_max = the largest s with min_epochs * eta^s <= max_epochs, in integers.
        let mut s_max = 0u32;
        let mut r = u64::from(min_epochs);
        while r * u64::from(eta) <= u64::from(max_epochs) {
            r *= u64::from(eta);
            s_max += 1;
        }
        let epochs = (0..=s_max)
            .map(|k| {
                let e = f64::from(max_epochs) / f64::from(eta).powi((s_max - k) as i32);
                (e.round() as u32).max(1)
            })
            .collect();
        Ok(Rungs { eta, epochs })
    }

    /// The reduction factor η.
    pub fn eta(&self) -> u32 {
        self.eta
    }

    /// `s_max`: the number of rungs less one.
    pub fn s_max(&self) -> usize {
        self.epochs.len() - 1
    }

    /// Epochs of rung `k` (0: the lowest fidelity; `s_max`: the maximum).
    pub fn epochs(&self, k: usize) -> u32 {
        self.epochs[k]
    }

    /// Every rung's epochs, lowest first.
    pub fn all(&self) -> &[u32] {
        &self.epochs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_follow_hyperband_and_round_to_epochs() {
        assert_eq!(Rungs::new(3, 1, 9).unwrap().all(), &[1, 3, 9]);
        assert_eq!(Rungs::new(3, 1, 200).unwrap().all(), &[2, 7, 22, 67, 200]);
        assert_eq!(Rungs::new(3, 1, 27).unwrap().all(), &[1, 3, 9, 27]);
        assert_eq!(Rungs::new(2, 1, 10).unwrap().all(), &[1, 3, 5, 10]);
        assert_eq!(Rungs::new(3, 4, 9).unwrap().all(), &[9]);
        assert_eq!(Rungs::new(3, 3, 9).unwrap().all(), &[3, 9]);
        for (r, field) in [
            (Rungs::new(1, 1, 9), "eta"),
            (Rungs::new(3, 0, 9), "min_epochs"),
            (Rungs::new(3, 5, 4), "max_epochs"),
        ] {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(&format!("`{field}`")), "{e}");
        }
    }
}
