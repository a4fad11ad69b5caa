//! Average ranks with tie bookkeeping, shared by the rank tests.

use std::cmp::Ordering;

/// Ranks 1..=n of finite values (ties share their average rank) and the sizes of the
/// tie groups.
pub(crate) struct Ranked {
    /// `ranks[i]` is the rank of the i-th input.
    pub ranks: Vec<f64>,
    /// One entry per group of equal values (size 1 for untied values).
    pub group_sizes: Vec<usize>,
}

impl Ranked {
    /// Whether any two values are equal.
    pub fn has_ties(&self) -> bool {
        self.group_sizes.iter().any(|&t| t > 1)
    }

    /// Σ (t³ − t) over the tie groups: the tie correction of rank-test variances.
    pub fn tie_term(&self) -> f64 {
        self.group_sizes
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * t * t - t
            })
            .sum()
    }
}

/// Ascending order of finite values; `-0.0` and `0.0` compare equal.
pub(crate) fn cmp_finite(a: &f64, b: &f64) -> Ordering {
    a.partial_cmp(b).unwrap_or(Ordering::Equal)
}

/// Average ranks (1 = smallest) of finite values.
pub(crate) fn average_ranks(xs: &[f64]) -> Ranked {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| cmp_finite(&xs[i], &xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut group_sizes = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && xs[order[end]] == xs[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their mean is exact in f64.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        group_sizes.push(end - start);
        start = end;
    }
    Ranked { ranks, group_sizes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_the_average_rank() {
        // scipy.stats.rankdata([3, 2, 1, 2, 2, 2, 1]) = [7, 4.5, 1.5, 4.5, 4.5, 4.5, 1.5]
        let r = average_ranks(&[3.0, 2.0, 1.0, 2.0, 2.0, 2.0, 1.0]);
        assert_eq!(r.ranks, [7.0, 4.5, 1.5, 4.5, 4.5, 4.5, 1.5]);
        assert_eq!(r.group_sizes, [2, 4, 1]);
        assert!(r.has_ties());
        assert_eq!(r.tie_term(), (8.0 - 2.0) + (64.0 - 4.0));
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        let r = average_ranks(&[0.0, -0.0, 1.0]);
        assert_eq!(r.ranks, [1.5, 1.5, 3.0]);
    }

    #[test]
    fn no_ties_gives_a_permutation() {
        let r = average_ranks(&[0.3, -1.0, 2.5, 0.0]);
        assert_eq!(r.ranks, [3.0, 1.0, 4.0, 2.0]);
        assert!(!r.has_ties());
        assert_eq!(r.tie_term(), 0.0);
    }
}
