//! Descriptive statistics and confidence intervals of the mean.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::dist::t_quantile;
use super::rank::cmp_finite;
use super::{Result, StatsError, check_finite, check_sample};

/// The usual description of one sample (e.g. a strategy's best accuracy over runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); `None` when `n < 2`.
    pub std: Option<f64>,
    /// Median (numpy's `median`: the mean of the two middle values when `n` is even).
    pub median: f64,
    /// First quartile, numpy's default linear interpolation.
    pub q1: f64,
    /// Third quartile, numpy's default linear interpolation.
    pub q3: f64,
    /// `q3 - q1`.
    pub iqr: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConfidenceInterval {
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// Describes a sample of at least one finite value.
pub fn summarize(xs: &[f64]) -> Result<Summary> {
    check_sample("sample", xs, 1, "a summary")?;
    let sorted = sorted(xs);
    let q1 = quantile_sorted(&sorted, 0.25);
    let q3 = quantile_sorted(&sorted, 0.75);
    Ok(Summary {
        n: xs.len(),
        mean: mean_of(xs),
        std: (xs.len() >= 2).then(|| variance_of(xs).sqrt()),
        median: median_sorted(&sorted),
        q1,
        q3,
        iqr: q3 - q1,
        min: sorted[0],
        max: sorted[sorted.len() - 1],
    })
}

/// The `q` quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics,
/// numpy's default (`method="linear"`, type 7 of Hyndman and Fan).
pub fn quantile(xs: &[f64], q: f64) -> Result<f64> {
    check_sample("sample", xs, 1, "a quantile")?;
    if !(0.0..=1.0).contains(&q) {
        return Err(StatsError::InvalidQuantile { q });
    }
    Ok(quantile_sorted(&sorted(xs), q))
}

/// The t-based confidence interval of the mean: `mean ± t(df = n-1) · s / √n`, as
/// scipy's `t.interval(level, n-1, loc=mean, scale=sem)`.
///
/// Needs at least two values and `0 < level < 1`. A constant sample gives the
/// zero-width interval `[mean, mean]` (scipy gives NaN).
pub fn t_ci(xs: &[f64], level: f64) -> Result<ConfidenceInterval> {
    check_level(level)?;
    check_sample("sample", xs, 2, "a t confidence interval")?;
    let n = xs.len() as f64;
    let mean = mean_of(xs);
    let sem = (variance_of(xs) / n).sqrt();
    let half = if sem == 0.0 {
        0.0
    } else {
        t_quantile(0.5 + level / 2.0, n - 1.0)? * sem
    };
    Ok(ConfidenceInterval {
        level,
        lower: mean - half,
        upper: mean + half,
    })
}

/// Percentile bootstrap confidence interval of the mean.
///
/// Draws `resamples` samples of size n with replacement from
/// `ChaCha8Rng::seed_from_u64(seed)` (the stream `nas_core::rng_from_seed` gives), and returns the `(1-level)/2` and `(1+level)/2`
/// quantiles (linear rule, as [`quantile`]) of their means. The same inputs and seed
/// always give the same interval; 10 000 resamples is a good default. Needs at least two
/// values, `0 < level < 1` and `resamples ≥ 1`.
pub fn bootstrap_ci(
    xs: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Result<ConfidenceInterval> {
    check_level(level)?;
    check_sample("sample", xs, 2, "a bootstrap confidence interval")?;
    if resamples == 0 {
        return Err(StatsError::InvalidResamples { resamples });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = xs.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| xs[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(cmp_finite);
    let alpha = 1.0 - level;
    Ok(ConfidenceInterval {
        level,
        lower: quantile_sorted(&means, alpha / 2.0),
        upper: quantile_sorted(&means, 1.0 - alpha / 2.0),
    })
}

fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidLevel { level })
    }
}

/// Whether all values are equal (then the mean is exact and the variance zero, with no
/// rounding residue that would make a zero-variance t statistic huge instead of zero).
fn is_constant(xs: &[f64]) -> bool {
    xs.iter().all(|&x| x == xs[0])
}

/// Mean of a non-empty finite sample.
pub(crate) fn mean_of(xs: &[f64]) -> f64 {
    if is_constant(xs) {
        return xs[0];
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample variance (ddof = 1) of a finite sample of at least two values, two-pass.
pub(crate) fn variance_of(xs: &[f64]) -> f64 {
    if is_constant(xs) {
        return 0.0;
    }
    let mean = mean_of(xs);
    xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (xs.len() - 1) as f64
}

/// Median of a non-empty finite sample (numpy's `median`).
pub(crate) fn median_of(xs: &[f64]) -> Result<f64> {
    check_finite("sample", xs)?;
    Ok(median_sorted(&sorted(xs)))
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(cmp_finite);
    v
}

fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// numpy's linear quantile of sorted values, including its two-sided interpolation
/// (`a + (b-a)·t` below t = 0.5, `b - (b-a)·(1-t)` from there), so results match bit
/// for bit in the common cases.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len() - 1;
    let virtual_index = q * last as f64;
    let below = (virtual_index.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let t = virtual_index - below as f64;
    let (a, b) = (sorted[below], sorted[above]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_small_sample_by_hand() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.n, 4);
        assert_eq!(s.mean, 2.5);
        // Σ(x - 2.5)² = 5, / 3.
        assert!((s.std.unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.median, 2.5);
        // numpy: percentile([1,2,3,4], 25) = 1.75, 75 -> 3.25
        assert_eq!((s.q1, s.q3, s.iqr), (1.75, 3.25, 1.5));
        assert_eq!((s.min, s.max), (1.0, 4.0));
    }

    #[test]
    fn single_value_has_no_std() {
        let s = summarize(&[0.7]).unwrap();
        assert_eq!(s.std, None);
        assert_eq!(
            (s.mean, s.median, s.q1, s.q3, s.iqr),
            (0.7, 0.7, 0.7, 0.7, 0.0)
        );
    }

    #[test]
    fn constant_sample_has_exact_mean_and_zero_spread() {
        let xs = [0.1; 7];
        let s = summarize(&xs).unwrap();
        assert_eq!(s.mean, 0.1);
        assert_eq!(s.std, Some(0.0));
        let ci = t_ci(&xs, 0.95).unwrap();
        assert_eq!((ci.lower, ci.upper), (0.1, 0.1));
    }

    #[test]
    fn rejects_empty_non_finite_and_bad_parameters() {
        assert!(matches!(
            summarize(&[]),
            Err(StatsError::TooFew { n: 0, min: 1, .. })
        ));
        assert!(matches!(
            summarize(&[1.0, f64::NAN]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            summarize(&[f64::INFINITY]),
            Err(StatsError::NonFinite { index: 0, .. })
        ));
        assert!(matches!(
            t_ci(&[1.0], 0.95),
            Err(StatsError::TooFew { n: 1, min: 2, .. })
        ));
        for level in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(matches!(
                t_ci(&[1.0, 2.0], level),
                Err(StatsError::InvalidLevel { .. })
            ));
        }
        assert!(matches!(
            bootstrap_ci(&[1.0, 2.0], 0.95, 0, 1),
            Err(StatsError::InvalidResamples { resamples: 0 })
        ));
        assert!(matches!(
            quantile(&[1.0], 1.5),
            Err(StatsError::InvalidQuantile { .. })
        ));
        assert!(matches!(
            quantile(&[1.0], f64::NAN),
            Err(StatsError::InvalidQuantile { .. })
        ));
    }

    #[test]
    fn quantile_interpolates_linearly() {
        let xs = [10.0, 0.0, 20.0];
        assert_eq!(quantile(&xs, 0.0).unwrap(), 0.0);
        assert_eq!(quantile(&xs, 0.25).unwrap(), 5.0);
        assert_eq!(quantile(&xs, 0.5).unwrap(), 10.0);
        assert_eq!(quantile(&xs, 0.9).unwrap(), 18.0);
        assert_eq!(quantile(&xs, 1.0).unwrap(), 20.0);
    }

    #[test]
    fn bootstrap_of_a_constant_sample_is_that_constant() {
        let ci = bootstrap_ci(&[3.5; 5], 0.95, 200, 9).unwrap();
        assert_eq!((ci.lower, ci.upper), (3.5, 3.5));
    }
}
