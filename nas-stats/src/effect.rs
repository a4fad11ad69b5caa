//! Effect sizes.

use super::Result;
use super::mann_whitney::mann_whitney_u;

/// The Vargha-Delaney A12: the probability that a value drawn from `x` is larger than
/// one drawn from `y`, ties counting half — `U1 / (n1·n2)`.
///
/// 0.5 means no effect; Vargha and Delaney (2000) call |A12 − 0.5| ≥ 0.06, 0.14, 0.21
/// small, medium and large. "Larger" is better only if the metric is (for an error
/// rate, A12 < 0.5 favours `x`). Needs at least one finite value per sample.
pub fn a12(x: &[f64], y: &[f64]) -> Result<f64> {
    let u = mann_whitney_u(x, y)?;
    Ok(u.u1 / (x.len() * y.len()) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatsError;

    #[test]
    fn by_hand() {
        // Pairs: (3,1) win, (3,3) tie, (3,5) loss, (4,1) win, (4,3) win, (4,5) loss.
        assert_eq!(a12(&[3.0, 4.0], &[1.0, 3.0, 5.0]).unwrap(), 3.5 / 6.0);
        assert_eq!(a12(&[2.0; 3], &[2.0; 4]).unwrap(), 0.5);
        assert_eq!(a12(&[5.0, 6.0], &[1.0]).unwrap(), 1.0);
        assert_eq!(a12(&[1.0], &[5.0, 6.0]).unwrap(), 0.0);
    }

    #[test]
    fn rejects_nan() {
        assert!(matches!(
            a12(&[f64::NAN], &[1.0]),
            Err(StatsError::NonFinite { .. })
        ));
    }
}
