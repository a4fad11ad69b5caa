//! The continuous distributions the tests need, on top of statrs.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

use super::{Result, StatsError};

/// P(Z > z) for a standard normal Z.
///
/// statrs' `erfc` is accurate to ~1e-10 relative (scipy's `ndtr` to ~1e-16): that is
/// the largest difference from scipy in the normal-approximation p-values.
pub(crate) fn normal_sf(z: f64) -> f64 {
    Normal::standard().sf(z)
}

/// P(Z <= z) for a standard normal Z.
pub(crate) fn normal_cdf(z: f64) -> f64 {
    Normal::standard().cdf(z)
}

fn students_t(df: f64) -> Result<StudentsT> {
    StudentsT::new(0.0, 1.0, df).map_err(|e| StatsError::Distribution {
        distribution: "Student's t",
        parameter: format!("df = {df}"),
        message: e.to_string(),
    })
}

/// Two-sided p-value of a t statistic: P(|T| >= |t|).
pub(crate) fn t_two_sided_p(t: f64, df: f64) -> Result<f64> {
    Ok((2.0 * students_t(df)?.sf(t.abs())).min(1.0))
}

/// The `p` quantile of Student's t with `df` degrees of freedom, for 0 < p < 1.
///
/// statrs' `inverse_cdf` agrees with scipy's `t.ppf` to ~3e-13 relative for the levels
/// and degrees of freedom a confidence interval uses (checked for df 1..99).
pub(crate) fn t_quantile(p: f64, df: f64) -> Result<f64> {
    if !(p > 0.0 && p < 1.0) {
        // statrs asserts on this; callers never pass it, but never panic.
        return Err(StatsError::Distribution {
            distribution: "Student's t",
            parameter: format!("df = {df}, quantile {p}"),
            message: "the quantile must lie strictly between 0 and 1".to_string(),
        });
    }
    Ok(students_t(df)?.inverse_cdf(p))
}

/// P(X > x) for X ~ chi-square with `df` degrees of freedom.
pub(crate) fn chi_squared_sf(x: f64, df: f64) -> Result<f64> {
    let dist = ChiSquared::new(df).map_err(|e| StatsError::Distribution {
        distribution: "chi-square",
        parameter: format!("df = {df}"),
        message: e.to_string(),
    })?;
    Ok(dist.sf(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantile_matches_tables() {
        // scipy.stats.t.ppf(0.975, df) for df = 1, 4, 29.
        let cases = [
            (1.0, 12.706_204_736_174_694),
            (4.0, 2.776_445_105_197_793_4),
            (29.0, 2.045_229_642_132_703),
        ];
        for (df, want) in cases {
            let got = t_quantile(0.975, df).unwrap();
            assert!(
                (got - want).abs() < 1e-12 * want,
                "df {df}: {got} vs {want}"
            );
            let lower = t_quantile(0.025, df).unwrap();
            assert!((lower + want).abs() < 1e-12 * want, "df {df}: {lower}");
        }
    }

    #[test]
    fn normal_tails_are_symmetric() {
        assert!((normal_sf(1.96) - normal_cdf(-1.96)).abs() < 1e-16);
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-16);
        assert_eq!(normal_sf(f64::NEG_INFINITY), 1.0);
    }

    #[test]
    fn bad_degrees_of_freedom_are_errors_not_panics() {
        assert!(matches!(
            t_two_sided_p(1.0, 0.0),
            Err(StatsError::Distribution { .. })
        ));
        assert!(matches!(
            chi_squared_sf(1.0, -1.0),
            Err(StatsError::Distribution { .. })
        ));
        assert!(matches!(
            t_quantile(1.0, 3.0),
            Err(StatsError::Distribution { .. })
        ));
    }
}
