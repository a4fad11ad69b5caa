//! The Wilcoxon signed-rank test of paired samples (runs paired by seed).
//!
//! Follows scipy's `wilcoxon(x, y)` with its defaults (`zero_method="wilcox"`,
//! `correction=False`, `method="auto"`). Differences `d = x − y` that are exactly zero
//! are dropped before ranking (but still count as pairs for the choice of method);
//! the remaining `|d|` get average ranks; `R+` sums the ranks of positive differences.
//! With n pairs (zeros included), the p-value comes from:
//!
//! - **exact** distribution of `R+` when n ≤ 50 and there are no zeros and no ties;
//! - **exact conditional** distribution (every sign assignment of the observed ranks
//!   equally likely) when n ≤ 13 with zeros or ties: scipy runs this as an exhaustive
//!   permutation test, computed here by dynamic programming on doubled ranks;
//! - otherwise the **normal approximation** with tie-corrected variance and no
//!   continuity correction.
//!
//! When every difference is zero, `R+ = R− = 0` and all p-values are 1 (scipy gives 1
//! for n ≤ 13 and NaN above).

use serde::Serialize;

use super::dist::{normal_cdf, normal_sf};
use super::rank::average_ranks;
use super::{PValueMethod, Result, StatsError, check_sample};

/// Largest number of pairs for which the exact distribution is used (no ties or zeros).
pub const EXACT_MAX_N: usize = 50;
/// Largest number of pairs for which the exact conditional distribution is used (ties
/// or zeros present).
pub const CONDITIONAL_MAX_N: usize = 13;

/// The result of [`wilcoxon_signed_rank`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Wilcoxon {
    /// Number of pairs.
    pub n: usize,
    /// Pairs with `x == y`, dropped from the ranking.
    pub n_zero: usize,
    /// Sum of the ranks of positive differences (`x > y`).
    pub r_plus: f64,
    /// Sum of the ranks of negative differences.
    pub r_minus: f64,
    /// `min(R+, R−)`, scipy's two-sided `statistic`.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// p-value against "x tends to be smaller than y" (scipy `less`).
    pub p_less: f64,
    /// p-value against "x tends to be larger than y" (scipy `greater`).
    pub p_greater: f64,
    /// How the p-values were computed (module docs).
    pub method: PValueMethod,
}

/// The Wilcoxon signed-rank test of paired samples `x[i]`, `y[i]` (equal lengths, at
/// least one pair, finite values).
pub fn wilcoxon_signed_rank(x: &[f64], y: &[f64]) -> Result<Wilcoxon> {
    check_sample("first sample", x, 1, "the Wilcoxon signed-rank test")?;
    check_sample("second sample", y, 1, "the Wilcoxon signed-rank test")?;
    if x.len() != y.len() {
        return Err(StatsError::LengthMismatch {
            what: "paired samples of the Wilcoxon signed-rank test".to_string(),
            left: x.len(),
            right: y.len(),
        });
    }
    let n = x.len();
    let nonzero: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(a, b)| a - b)
        .filter(|&d| d != 0.0)
        .collect();
    let n_zero = n - nonzero.len();
    let ranked = average_ranks(&nonzero.iter().map(|d| d.abs()).collect::<Vec<_>>());
    let (mut r_plus, mut r_minus) = (0.0, 0.0);
    for (d, r) in nonzero.iter().zip(&ranked.ranks) {
        if *d > 0.0 {
            r_plus += r;
        } else {
            r_minus += r;
        }
    }

    let exact_ok = n_zero == 0 && !ranked.has_ties();
    let (method, p_less, p_greater, p_two) = if n <= EXACT_MAX_N && exact_ok {
        let (less, greater) = exact_tails(&ranked.ranks, r_plus);
        (PValueMethod::Exact, less, greater, 2.0 * less.min(greater))
    } else if n <= CONDITIONAL_MAX_N {
        let (less, greater) = exact_tails(&ranked.ranks, r_plus);
        (
            PValueMethod::ExactConditional,
            less,
            greater,
            2.0 * less.min(greater),
        )
    } else {
        let m = nonzero.len() as f64;
        let mean = m * (m + 1.0) / 4.0;
        let variance = (m * (m + 1.0) * (2.0 * m + 1.0) - ranked.tie_term() / 2.0) / 24.0;
        if variance > 0.0 {
            let z = (r_plus - mean) / variance.sqrt();
            let two = 2.0 * normal_sf(z.abs());
            (PValueMethod::Asymptotic, normal_cdf(z), normal_sf(z), two)
        } else {
            // Every difference is zero: no evidence either way.
            (PValueMethod::Asymptotic, 1.0, 1.0, 1.0)
        }
    };
    Ok(Wilcoxon {
        n,
        n_zero,
        r_plus,
        r_minus,
        statistic: r_plus.min(r_minus),
        p_two_sided: p_two.min(1.0),
        p_less: p_less.min(1.0),
        p_greater: p_greater.min(1.0),
        method,
    })
}

/// `(P(S ≤ r+), P(S ≥ r+))` where S is the sum of the ranks that get a positive sign
/// when each sign is a fair coin, given the observed ranks (with ties, halves of
/// integers: doubled they are integers, so S is counted exactly).
///
/// Counts are exact in f64 while they stay below 2^53: true here, as the number of
/// ranks is at most [`EXACT_MAX_N`] ≤ 52.
fn exact_tails(ranks: &[f64], r_plus: f64) -> (f64, f64) {
    let doubled: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
    let max_sum: usize = doubled.iter().sum();
    let mut counts = vec![0.0f64; max_sum + 1];
    counts[0] = 1.0;
    let mut reach = 0;
    for &r in &doubled {
        // Each rank either joins the positive sum or not; go downwards to use it once.
        for s in (0..=reach).rev() {
            if counts[s] > 0.0 {
                counts[s + r] += counts[s];
            }
        }
        reach += r;
    }
    let total: f64 = counts.iter().sum();
    let observed = (2.0 * r_plus).round() as usize;
    let below: f64 = counts[..=observed].iter().sum();
    let above: f64 = counts[observed..].iter().sum();
    (below / total, above / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distribution_by_hand() {
        // n = 3, no ties: R+ ∈ {0,1,2,3,3,4,5,6} over the 8 sign patterns.
        let (less, greater) = exact_tails(&[1.0, 2.0, 3.0], 3.0);
        assert_eq!((less, greater), (5.0 / 8.0, 5.0 / 8.0));
        let (less, greater) = exact_tails(&[1.0, 2.0, 3.0], 0.0);
        assert_eq!((less, greater), (1.0 / 8.0, 1.0));
    }

    #[test]
    fn all_positive_differences() {
        // x > y in all 5 pairs: R+ = 15, P(R+ ≥ 15) = 1/32.
        let x = [2.0, 3.0, 4.5, 6.0, 9.0];
        let y = [1.0, 1.0, 1.0, 1.0, 1.0];
        let w = wilcoxon_signed_rank(&x, &y).unwrap();
        assert_eq!((w.r_plus, w.r_minus, w.statistic), (15.0, 0.0, 0.0));
        assert_eq!(w.method, PValueMethod::Exact);
        assert_eq!(
            (w.p_greater, w.p_less, w.p_two_sided),
            (1.0 / 32.0, 1.0, 1.0 / 16.0)
        );
        // Swapping the samples mirrors the one-sided p-values.
        let v = wilcoxon_signed_rank(&y, &x).unwrap();
        assert_eq!(
            (v.p_less, v.p_greater, v.p_two_sided),
            (1.0 / 32.0, 1.0, 1.0 / 16.0)
        );
    }

    #[test]
    fn all_zero_differences_give_p_one_at_any_size() {
        for n in [1, 5, 13, 14, 60] {
            let xs = vec![0.25; n];
            let w = wilcoxon_signed_rank(&xs, &xs).unwrap();
            assert_eq!(w.n_zero, n);
            assert_eq!((w.r_plus, w.r_minus), (0.0, 0.0));
            assert_eq!(
                (w.p_two_sided, w.p_less, w.p_greater),
                (1.0, 1.0, 1.0),
                "n = {n}"
            );
        }
    }

    #[test]
    fn zeros_switch_to_the_conditional_distribution() {
        let w = wilcoxon_signed_rank(&[1.0, 2.0, 3.0], &[1.0, 1.0, 1.0]).unwrap();
        assert_eq!((w.n, w.n_zero), (3, 1));
        assert_eq!(w.method, PValueMethod::ExactConditional);
        // Ranks 1, 2 both positive: P(S ≥ 3) = 1/4.
        assert_eq!(w.p_greater, 0.25);
    }

    #[test]
    fn rejects_unequal_lengths_and_nan() {
        assert!(matches!(
            wilcoxon_signed_rank(&[1.0, 2.0], &[1.0]),
            Err(StatsError::LengthMismatch {
                left: 2,
                right: 1,
                ..
            })
        ));
        assert!(matches!(
            wilcoxon_signed_rank(&[f64::NAN], &[1.0]),
            Err(StatsError::NonFinite { .. })
        ));
        assert!(matches!(
            wilcoxon_signed_rank(&[], &[]),
            Err(StatsError::TooFew { .. })
        ));
    }
}
