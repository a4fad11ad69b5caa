//! Welch's unequal-variance t-test.

use serde::Serialize;

use super::describe::{mean_of, variance_of};
use super::dist::t_two_sided_p;
use super::{Result, check_sample};

/// The result of [`welch_t_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Welch {
    /// `(mean_x − mean_y) / √(s²x/nx + s²y/ny)`; ±∞ when both samples are constant and
    /// differ, 0 when both are the same constant.
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom (1 when both variances are zero, as scipy).
    pub df: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
}

/// Welch's t-test of `x` against `y` (scipy's `ttest_ind(x, y, equal_var=False)`).
///
/// Needs at least two finite values per sample. Zero variance in both samples: equal
/// constants give t = 0 and p = 1 (scipy: NaN), different constants give t = ±∞ and
/// p = 0 (as scipy).
pub fn welch_t_test(x: &[f64], y: &[f64]) -> Result<Welch> {
    check_sample("first sample", x, 2, "Welch's t-test")?;
    check_sample("second sample", y, 2, "Welch's t-test")?;
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    let (vx, vy) = (variance_of(x) / nx, variance_of(y) / ny);
    let diff = mean_of(x) - mean_of(y);
    let se2 = vx + vy;
    if se2 == 0.0 {
        return Ok(if diff == 0.0 {
            Welch {
                t: 0.0,
                df: 1.0,
                p_two_sided: 1.0,
            }
        } else {
            Welch {
                t: diff.signum() * f64::INFINITY,
                df: 1.0,
                p_two_sided: 0.0,
            }
        });
    }
    let df = se2 * se2 / (vx * vx / (nx - 1.0) + vy * vy / (ny - 1.0));
    let t = diff / se2.sqrt();
    Ok(Welch {
        t,
        df,
        p_two_sided: t_two_sided_p(t, df)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatsError;

    #[test]
    fn textbook_example() {
        // x = [1, 2, 3], y = [4, 5, 6, 7]: means 2 and 5.5, variances 1 and 5/3,
        // se² = 1/3 + 5/12 = 0.75, t = -3.5/√0.75,
        // df = 0.75² / ((1/3)²/2 + (5/12)²/3) = 0.5625 / (1/18 + 25/432) = 4.9116...
        let w = welch_t_test(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0, 7.0]).unwrap();
        assert!((w.t + 3.5 / 0.75f64.sqrt()).abs() < 1e-14);
        assert!((w.df - 0.5625 / (1.0 / 18.0 + 25.0 / 432.0)).abs() < 1e-12);
        // scipy.stats.ttest_ind([1,2,3],[4,5,6,7], equal_var=False).pvalue
        assert!(
            (w.p_two_sided - 0.010_076_943_347_988_86).abs() < 1e-12,
            "{w:?}"
        );
    }

    #[test]
    fn constant_samples_are_defined() {
        let same = welch_t_test(&[0.3; 3], &[0.3; 5]).unwrap();
        assert_eq!((same.t, same.df, same.p_two_sided), (0.0, 1.0, 1.0));
        let lower = welch_t_test(&[0.3; 3], &[0.4; 5]).unwrap();
        assert_eq!((lower.t, lower.p_two_sided), (f64::NEG_INFINITY, 0.0));
        let higher = welch_t_test(&[0.5; 3], &[0.4; 5]).unwrap();
        assert_eq!((higher.t, higher.p_two_sided), (f64::INFINITY, 0.0));
    }

    #[test]
    fn needs_two_values_each() {
        assert!(matches!(
            welch_t_test(&[1.0], &[1.0, 2.0]),
            Err(StatsError::TooFew { n: 1, min: 2, .. })
        ));
    }
}
