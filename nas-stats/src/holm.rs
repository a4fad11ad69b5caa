//! Holm-Bonferroni correction for multiple comparisons.

use super::rank::cmp_finite;
use super::{Result, StatsError};

/// Holm's step-down adjusted p-values, in the order of the input.
///
/// Sorted ascending, the i-th smallest (0-based) of m p-values is adjusted to
/// `max over j ≤ i of min(1, (m − j)·p(j))`: monotone in the raw p-values, capped at 1.
/// Rejecting where the adjusted value is ≤ α controls the family-wise error rate at α.
/// Every p-value must lie in [0, 1]; an empty input gives an empty output.
pub fn holm_bonferroni(p: &[f64]) -> Result<Vec<f64>> {
    if let Some(index) = p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(StatsError::InvalidPValue {
            index,
            value: p[index],
        });
    }
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| cmp_finite(&p[i], &p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    Ok(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_example_by_hand() {
        // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 -> max 0.06.
        let adj = holm_bonferroni(&[0.01, 0.04, 0.03, 0.005]).unwrap();
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
    }

    #[test]
    fn caps_at_one_and_keeps_order() {
        assert_eq!(holm_bonferroni(&[0.9, 0.5]).unwrap(), [1.0, 1.0]);
        assert_eq!(holm_bonferroni(&[0.2]).unwrap(), [0.2]);
        assert!(holm_bonferroni(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_values_outside_the_unit_interval() {
        for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            assert!(matches!(
                holm_bonferroni(&[0.1, bad]),
                Err(StatsError::InvalidPValue { index: 1, .. })
            ));
        }
    }
}
