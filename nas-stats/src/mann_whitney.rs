//! The Mann-Whitney U test (Wilcoxon rank-sum) of two independent samples.
//!
//! Written here rather than taken from statrs: statrs 0.19's exact p-value is wrong when
//! the first sample is not the larger one (it returned p = 1 for every such exact case
//! of the scipy fixture, and for some others too, e.g. complete separation with the
//! first sample on top). This follows scipy's `mannwhitneyu` with its
//! defaults (`method="auto"`, `use_continuity=True`):
//!
//! - **exact** when there are no ties (in the pooled sample) and at least one sample
//!   has 8 or fewer values (scipy's rule: asymptotic as soon as both exceed 8, or on any
//!   tie);
//! - otherwise the **normal approximation** with tie-corrected variance and a 0.5
//!   continuity correction.

use serde::Serialize;

use super::dist::normal_sf;
use super::rank::average_ranks;
use super::{PValueMethod, Result, check_sample};

/// Largest size of the smaller sample for which the exact distribution is used.
pub const EXACT_MAX_SMALLER_N: usize = 8;

/// The result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of the first sample: the number of pairs (x, y) with x > y, ties counting ½
    /// (scipy's `statistic`).
    pub u1: f64,
    /// U of the second sample, `n1·n2 − u1`.
    pub u2: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// p-value against "the first sample is stochastically smaller" (scipy `less`).
    pub p_less: f64,
    /// p-value against "the first sample is stochastically larger" (scipy `greater`).
    pub p_greater: f64,
    /// Exact or normal approximation, by the rule in the module docs.
    pub method: PValueMethod,
}

/// The Mann-Whitney U test of `x` against `y` (each at least one finite value).
///
/// When every value is equal, U = n1·n2/2 and all p-values are 1.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Result<MannWhitney> {
    check_sample("first sample", x, 1, "the Mann-Whitney U test")?;
    check_sample("second sample", y, 1, "the Mann-Whitney U test")?;
    let (n1, n2) = (x.len(), y.len());
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let ranked = average_ranks(&pooled);
    let r1: f64 = ranked.ranks[..n1].iter().sum();
    let nn = (n1 * n2) as f64;
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = nn - u1;

    let null = if n1.min(n2) <= EXACT_MAX_SMALLER_N && !ranked.has_ties() {
        NullU::Exact(ExactU::new(n1, n2))
    } else {
        let n = (n1 + n2) as f64;
        let variance = nn / 12.0 * ((n + 1.0) - ranked.tie_term() / (n * (n - 1.0)));
        NullU::Normal {
            mean: nn / 2.0,
            sd: variance.max(0.0).sqrt(),
        }
    };
    Ok(MannWhitney {
        u1,
        u2,
        p_two_sided: (2.0 * null.sf(u1.max(u2))).min(1.0),
        p_less: null.sf(u2),
        p_greater: null.sf(u1),
        method: match null {
            NullU::Exact(_) => PValueMethod::Exact,
            NullU::Normal { .. } => PValueMethod::Asymptotic,
        },
    })
}

/// The null distribution of U used for the p-values.
enum NullU {
    Exact(ExactU),
    Normal { mean: f64, sd: f64 },
}

impl NullU {
    /// P(U ≥ u) under the null (with the continuity correction for the normal).
    fn sf(&self, u: f64) -> f64 {
        match *self {
            // Without ties U is an integer; rounding only removes summation residue.
            NullU::Exact(ref dist) => dist.sf(u.round() as usize),
            NullU::Normal { mean, sd } if sd > 0.0 => normal_sf((u - mean - 0.5) / sd),
            // Every value tied: no information, U sits at its mean.
            NullU::Normal { .. } => 1.0,
        }
    }
}

/// The exact null distribution of U for sample sizes (n1, n2).
struct ExactU {
    max_u: usize,
    /// P(U = u) for u = 0..=max_u/2, the lower half (the distribution is symmetric).
    lower_pmf: Vec<f64>,
}

impl ExactU {
    /// Builds the lower half of the distribution by the recurrence on the largest of the
    /// pooled values: with i values from one sample and j from the other, the largest
    /// belongs to the first with probability i/(i+j) and then beats all j, so
    /// `p(i, j, u) = i/(i+j)·p(i-1, j, u-j) + j/(i+j)·p(i, j-1, u)`.
    /// Probabilities rather than counts: every term is positive (no cancellation) and
    /// nothing overflows. Cost O(n1 · n2 · n1·n2/2), like scipy's.
    fn new(n1: usize, n2: usize) -> Self {
        let (m, large) = (n1.min(n2), n1.max(n2));
        let max_u = m * large;
        let width = max_u / 2 + 1;
        // prev[i][u] = p(i, j-1, u); cur[i][u] = p(i, j, u); j = 0 is the point mass at 0.
        let mut prev = vec![0.0f64; (m + 1) * width];
        for i in 0..=m {
            prev[i * width] = 1.0;
        }
        let mut cur = vec![0.0f64; (m + 1) * width];
        for j in 1..=large {
            cur.fill(0.0);
            cur[0] = 1.0; // i = 0: nothing from the first sample, U = 0
            for i in 1..=m {
                let from_first = i as f64 / (i + j) as f64;
                let from_second = j as f64 / (i + j) as f64;
                for u in 0..width {
                    let mut p = from_second * prev[i * width + u];
                    if u >= j {
                        p += from_first * cur[(i - 1) * width + u - j];
                    }
                    cur[i * width + u] = p;
                }
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        Self {
            max_u,
            lower_pmf: prev[m * width..].to_vec(),
        }
    }

    /// P(U ≤ k) for k ≤ max_u/2.
    fn lower_cdf(&self, k: usize) -> f64 {
        self.lower_pmf[..=k].iter().sum::<f64>().min(1.0)
    }

    /// P(U ≥ k), summing the shorter tail.
    fn sf(&self, k: usize) -> f64 {
        if k == 0 {
            1.0
        } else if k > self.max_u {
            0.0
        } else if 2 * k >= self.max_u {
            self.lower_cdf(self.max_u - k)
        } else {
            1.0 - self.lower_cdf(k - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatsError;

    #[test]
    fn exact_distribution_by_enumeration() {
        // n1 = n2 = 2: the 6 arrangements give U = 0, 1, 2, 2, 3, 4.
        let d = ExactU::new(2, 2);
        assert_eq!(d.lower_pmf.len(), 3);
        let want = [1.0 / 6.0, 2.0 / 6.0, 4.0 / 6.0];
        for (k, w) in want.iter().enumerate() {
            assert!((d.lower_cdf(k) - w).abs() < 1e-15, "cdf({k})");
        }
        assert!((d.sf(3) - 2.0 / 6.0).abs() < 1e-15);
        assert!((d.sf(1) - 5.0 / 6.0).abs() < 1e-15);
        assert_eq!(d.sf(0), 1.0);
        assert_eq!(d.sf(5), 0.0);
    }

    #[test]
    fn first_sample_smaller_gets_a_small_less_p_value() {
        // Complete separation, x below y, n = 3 + 3: P(U = 0) = 1/20.
        let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!((r.u1, r.u2), (0.0, 9.0));
        assert_eq!(r.method, PValueMethod::Exact);
        assert!((r.p_less - 0.05).abs() < 1e-15);
        assert!((r.p_two_sided - 0.1).abs() < 1e-15);
        assert_eq!(r.p_greater, 1.0);
        // And the mirror image.
        let m = mann_whitney_u(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((m.u1, m.p_greater, m.p_less), (9.0, r.p_less, 1.0));
        assert_eq!(m.p_two_sided, r.p_two_sided);
    }

    #[test]
    fn identical_constants_have_p_one() {
        let r = mann_whitney_u(&[2.0; 4], &[2.0; 5]).unwrap();
        assert_eq!(r.u1, 10.0);
        assert_eq!(r.method, PValueMethod::Asymptotic);
        assert_eq!((r.p_two_sided, r.p_less, r.p_greater), (1.0, 1.0, 1.0));
    }

    #[test]
    fn method_follows_scipy_auto() {
        let a: Vec<f64> = (0..9).map(f64::from).collect();
        let b: Vec<f64> = (0..9).map(|i| f64::from(i) + 0.5).collect();
        assert_eq!(
            mann_whitney_u(&a, &b).unwrap().method,
            PValueMethod::Asymptotic
        );
        assert_eq!(
            mann_whitney_u(&a[..8], &b).unwrap().method,
            PValueMethod::Exact
        );
        assert_eq!(
            mann_whitney_u(&a[..8], &a[..3]).unwrap().method,
            PValueMethod::Asymptotic
        );
    }

    #[test]
    fn rejects_empty_and_nan() {
        assert!(matches!(
            mann_whitney_u(&[], &[1.0]),
            Err(StatsError::TooFew { n: 0, .. })
        ));
        assert!(matches!(
            mann_whitney_u(&[1.0], &[f64::NAN]),
            Err(StatsError::NonFinite { index: 0, ref what, .. }) if what == "second sample"
        ));
    }
}
