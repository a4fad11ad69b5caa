//! Kendall's rank correlation τ-b between two paired samples, with its two-sided
//! p-value, as `scipy.stats.kendalltau(x, y)` computes them (`variant="b"`,
//! `method="auto"`): how far two benchmarks rank the same architectures alike.
//!
//! Source: M. G. Kendall, "The treatment of ties in ranking problems", Biometrika 33
//! (1945) (τ-b); the variance of the statistic under ties from Kendall & Gibbons, *Rank
//! Correlation Methods* (1990), eq. 4.4, as scipy uses it.

use crate::dist::normal_sf;
use crate::{PValueMethod, Result, StatsError, check_sample};

/// Kendall's τ-b of paired samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KendallTau {
    /// Pairs of values.
    pub n: usize,
    /// τ-b in [-1, 1]: (concordant - discordant) / sqrt((n0 - ties in x)(n0 - ties in
    /// y)), n0 = n(n-1)/2 pairs. 0 when every x or every y is tied.
    pub tau: f64,
    /// Two-sided p-value of "no association".
    pub p_value: f64,
    /// How the p-value was computed: exact (no ties, and n ≤ 33 or at most one
    /// discordant or concordant pair: scipy's `auto` rule) or the normal approximation
    /// with tie correction.
    pub method: PValueMethod,
}

/// Kendall's τ-b of `x` and `y` (paired by index) and its two-sided p-value.
///
/// Equal values tie exactly. Where scipy returns NaN (every x or every y tied) the
/// result is τ = 0 and p = 1: the data carry no evidence of an association. O(n²) in
/// time (n = 15,625, every NAS-Bench-201 cell, takes well under a second), O(n) in
/// memory.
///
/// # Errors
/// Fewer than 2 pairs, lengths that differ, or a non-finite value.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> Result<KendallTau> {
    check_sample("first sample", x, 2, "Kendall's tau")?;
    check_sample("second sample", y, 2, "Kendall's tau")?;
    if x.len() != y.len() {
        return Err(StatsError::LengthMismatch {
            what: "Kendall's tau samples".into(),
            left: x.len(),
            right: y.len(),
        });
    }
    let n = x.len();
    // Sum over pairs of sign(dx) * sign(dy), and the discordant pairs, exactly.
    let mut s: i64 = 0;
    let mut discordant: u64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            let sx = sign(x[i], x[j]);
            let sy = sign(y[i], y[j]);
            s += sx * sy;
            if sx * sy < 0 {
                discordant += 1;
            }
        }
    }
    let (xtie, x0, x1) = ties(x);
    let (ytie, y0, y1) = ties(y);
    let total = (n as u64) * (n as u64 - 1) / 2;
    if xtie == total || ytie == total {
        return Ok(KendallTau {
            n,
            tau: 0.0,
            p_value: 1.0,
            method: PValueMethod::Asymptotic,
        });
    }
    // One square root of the product (scipy divides by two roots, which leaves
    // perfect agreement 1 ulp below 1).
    let tau = (s as f64 / ((total - xtie) as f64 * (total - ytie) as f64).sqrt()).clamp(-1.0, 1.0);
    let no_ties = xtie == 0 && ytie == 0;
    if no_ties && (n <= 33 || discordant.min(total - discordant) <= 1) {
        return Ok(KendallTau {
            n,
            tau,
            p_value: exact_p(n as u64, total - discordant),
            method: PValueMethod::Exact,
        });
    }
    let nf = n as f64;
    let m = nf * (nf - 1.0);
    let var = (m * (2.0 * nf + 5.0) - x1 - y1) / 18.0
        + (2.0 * xtie as f64 * ytie as f64) / m
        + x0 * y0 / (9.0 * m * (nf - 2.0));
    let z = s as f64 / var.sqrt();
    Ok(KendallTau {
        n,
        tau,
        p_value: (2.0 * normal_sf(z.abs())).min(1.0),
        method: PValueMethod::Asymptotic,
    })
}

fn sign(a: f64, b: f64) -> i64 {
    if a < b {
        -1
    } else if a > b {
        1
    } else {
        0
    }
}

/// Tie terms of a sample: (Σ t(t-1)/2, Σ t(t-1)(t-2), Σ t(t-1)(2t+5)) over its groups of
/// t equal values.
fn ties(xs: &[f64]) -> (u64, f64, f64) {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (mut pairs, mut t0, mut t1) = (0u64, 0.0, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        // `==`, not total order: -0.0 and 0.0 tie.
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as u64;
        if t > 1 {
            let tf = t as f64;
            pairs += t * (t - 1) / 2;
            t0 += tf * (tf - 1.0) * (tf - 2.0);
            t1 += tf * (tf - 1.0) * (2.0 * tf + 5.0);
        }
        i = j;
    }
    (pairs, t0, t1)
}

/// Two-sided exact p-value of `concordant` concordant pairs among n values without ties:
/// twice the probability, under a uniformly random permutation, of at most
/// min(concordant, discordant) inversions (the distribution is symmetric), from the
/// Mahonian numbers; scipy's `_kendall_p_exact`, including its shortcuts.
fn exact_p(n: u64, concordant: u64) -> f64 {
    let total = n * (n - 1) / 2;
    let c = concordant.min(total - concordant);
    let factorial = |k: u64| (1..=k).map(|i| i as f64).product::<f64>();
    let prob = if n <= 2 {
        1.0
    } else if c == 0 {
        if n < 171 { 2.0 / factorial(n) } else { 0.0 }
    } else if c == 1 {
        if n < 172 { 2.0 / factorial(n - 1) } else { 0.0 }
    } else if 4 * c == n * (n - 1) {
        1.0
    } else {
        // Permutations of 1..j with k inversions, k <= c, built up j = 2..n.
        let c = c as usize;
        let mut counts = vec![0.0f64; c + 1];
        counts[0] = 1.0;
        counts[1] = 1.0;
        for j in 3..=n as usize {
            let mut running = 0.0;
            for v in counts.iter_mut() {
                running += *v;
                *v = running;
            }
            if j <= c {
                for k in (j..=c).rev() {
                    counts[k] -= counts[k - j];
                }
            }
        }
        2.0 * counts.iter().sum::<f64>() / factorial(n)
    };
    prob.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_agreement_and_reversal_are_plus_and_minus_one() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let r = kendall_tau(&x, &x).unwrap();
        assert_eq!((r.tau, r.method), (1.0, PValueMethod::Exact));
        // 2 / 5! = 1/60: only the identity and the reversal are as extreme.
        assert!((r.p_value - 2.0 / 120.0).abs() < 1e-15);
        let rev = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(kendall_tau(&x, &rev).unwrap().tau, -1.0);
    }

    #[test]
    fn the_exact_distribution_counts_inversions() {
        // n = 4: inversion counts 0..6 have 1, 3, 5, 6, 5, 3, 1 permutations (24).
        // 2 concordant of 6: P(at most 2 inversions) = 9/24, two-sided 18/24.
        assert!((exact_p(4, 2) - 18.0 / 24.0).abs() < 1e-15);
        assert!((exact_p(4, 4) - 18.0 / 24.0).abs() < 1e-15);
        assert_eq!(exact_p(4, 3), 1.0);
    }

    #[test]
    fn fully_tied_samples_give_no_evidence_and_bad_input_is_refused() {
        let r = kendall_tau(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((r.tau, r.p_value), (0.0, 1.0));
        assert!(matches!(
            kendall_tau(&[1.0], &[1.0]),
            Err(StatsError::TooFew { .. })
        ));
        assert!(matches!(
            kendall_tau(&[1.0, 2.0], &[1.0, 2.0, 3.0]),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            kendall_tau(&[1.0, f64::NAN], &[1.0, 2.0]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
    }
}
