//! Average ranks across blocks and the Friedman test.
//!
//! A block is one problem instance on which every treatment was measured (e.g. one
//! seed, or one dataset); a treatment is one search strategy. Ranks are given within
//! each block, ties sharing their average rank.

use serde::Serialize;

use super::dist::chi_squared_sf;
use super::rank::average_ranks;
use super::{Result, StatsError, check_finite};

/// Which value gets rank 1 within a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankOrder {
    /// The smallest value ranks 1 (losses, error rates, costs; scipy's `rankdata`).
    Ascending,
    /// The largest value ranks 1 (accuracies, rewards).
    Descending,
}

/// The result of [`friedman`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Friedman {
    /// Number of treatments (k).
    pub n_treatments: usize,
    /// Number of blocks (n).
    pub n_blocks: usize,
    /// Mean rank of each treatment over the blocks, in input order (1 = best by the
    /// requested [`RankOrder`]); they sum to k(k+1)/2.
    pub average_ranks: Vec<f64>,
    /// The tie-corrected Friedman chi-square statistic (the same for either order).
    pub statistic: f64,
    /// Degrees of freedom, k − 1.
    pub df: f64,
    /// P(χ²(k−1) ≥ statistic).
    pub p_value: f64,
}

/// Average ranks and the Friedman test, as scipy's `friedmanchisquare(*treatments)`.
///
/// `treatments[j][i]` is treatment j measured in block i: every treatment needs the
/// same number of blocks. Needs at least 2 treatments (scipy needs 3; the formula holds
/// for 2) and 2 blocks, finite values. When every block is fully tied the statistic is
/// 0 and the p-value 1 (scipy: NaN).
pub fn friedman<T: AsRef<[f64]>>(treatments: &[T], order: RankOrder) -> Result<Friedman> {
    let k = treatments.len();
    if k < 2 {
        return Err(StatsError::TooFew {
            what: "Friedman table (treatments)".to_string(),
            n: k,
            min: 2,
            statistic: "the Friedman test",
        });
    }
    let n = treatments[0].as_ref().len();
    for (j, t) in treatments.iter().enumerate() {
        let t = t.as_ref();
        if t.len() != n {
            return Err(StatsError::LengthMismatch {
                what: format!("blocks of treatment 0 and treatment {j} of the Friedman table"),
                left: n,
                right: t.len(),
            });
        }
        check_finite(&format!("Friedman treatment {j}"), t)?;
    }
    if n < 2 {
        return Err(StatsError::TooFew {
            what: "Friedman table (blocks)".to_string(),
            n,
            min: 2,
            statistic: "the Friedman test",
        });
    }

    let mut rank_sums = vec![0.0; k];
    let mut ties = 0.0;
    let mut block = vec![0.0; k];
    for i in 0..n {
        for (b, t) in block.iter_mut().zip(treatments) {
            *b = t.as_ref()[i];
        }
        let ranked = average_ranks(&block);
        for (sum, r) in rank_sums.iter_mut().zip(&ranked.ranks) {
            *sum += r;
        }
        ties += ranked.tie_term();
    }
    let (kf, nf) = (k as f64, n as f64);
    // Integers below 2^53 throughout: `c` is exactly 0 only when every block is tied.
    let c = 1.0 - ties / (kf * (kf * kf - 1.0) * nf);
    let (statistic, p_value) = if c > 0.0 {
        let ssbn: f64 = rank_sums.iter().map(|s| s * s).sum();
        let chi2 = ((12.0 / (kf * nf * (kf + 1.0)) * ssbn - 3.0 * nf * (kf + 1.0)) / c).max(0.0);
        (chi2, chi_squared_sf(chi2, kf - 1.0)?)
    } else {
        (0.0, 1.0)
    };
    let average_ranks = rank_sums
        .iter()
        .map(|s| {
            let mean = s / nf;
            match order {
                RankOrder::Ascending => mean,
                RankOrder::Descending => kf + 1.0 - mean,
            }
        })
        .collect();
    Ok(Friedman {
        n_treatments: k,
        n_blocks: n,
        average_ranks,
        statistic,
        df: kf - 1.0,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistent_order_by_hand() {
        // Three treatments, five blocks, always ranked 2, 3, 1:
        // rank sums 10, 15, 5; χ² = 12/(3·5·4)·350 − 3·5·4 = 10 (scipy: 10.0).
        let t = [
            vec![1.0, 2.0, 3.0, 4.0, 5.0],
            vec![2.0, 3.0, 4.0, 5.0, 6.0],
            vec![0.0, 0.0, 0.0, 0.0, 1.0],
        ];
        let f = friedman(&t, RankOrder::Ascending).unwrap();
        assert_eq!(f.average_ranks, [2.0, 3.0, 1.0]);
        assert!((f.statistic - 10.0).abs() < 1e-12);
        assert!((f.p_value - (-5.0f64).exp()).abs() < 1e-15); // χ²(2) sf = e^(−x/2)
        let d = friedman(&t, RankOrder::Descending).unwrap();
        assert_eq!(d.average_ranks, [2.0, 1.0, 3.0]);
        assert_eq!(d.statistic, f.statistic);
    }

    #[test]
    fn two_treatments_reduce_to_the_sign_test_statistic() {
        // k = 2 without ties: χ² = (n+ − n−)² / n. Here x wins 5 of 6 blocks: 16/6.
        let x = [2.0, 3.0, 4.0, 5.0, 6.0, 0.0];
        let y = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let f = friedman(&[x, y], RankOrder::Ascending).unwrap();
        assert!((f.statistic - 16.0 / 6.0).abs() < 1e-12, "{f:?}");
        assert_eq!(f.df, 1.0);
    }

    #[test]
    fn all_blocks_tied_is_defined() {
        let f = friedman(&[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], RankOrder::Ascending).unwrap();
        assert_eq!((f.statistic, f.p_value), (0.0, 1.0));
        assert_eq!(f.average_ranks, [2.0, 2.0, 2.0]);
    }

    #[test]
    fn rejects_bad_tables() {
        let one: [&[f64]; 1] = [&[1.0, 2.0]];
        assert!(matches!(
            friedman(&one, RankOrder::Ascending),
            Err(StatsError::TooFew { n: 1, min: 2, .. })
        ));
        let one_block: [&[f64]; 2] = [&[1.0], &[2.0]];
        assert!(matches!(
            friedman(&one_block, RankOrder::Ascending),
            Err(StatsError::TooFew { n: 1, min: 2, .. })
        ));
        let ragged: [&[f64]; 2] = [&[1.0, 2.0], &[2.0]];
        assert!(matches!(
            friedman(&ragged, RankOrder::Ascending),
            Err(StatsError::LengthMismatch {
                left: 2,
                right: 1,
                ..
            })
        ));
        let nan: [&[f64]; 2] = [&[1.0, 2.0], &[2.0, f64::NAN]];
        assert!(matches!(
            friedman(&nan, RankOrder::Ascending),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
    }
}
