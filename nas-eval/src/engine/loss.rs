//! Softmax cross-entropy, fused with its gradient.

pub(crate) use crate::backend::LossSum;

/// Cross-entropy of each row of `logits` (`classes` per row) against `labels`, summed;
/// when `grad` is given it receives `scale * (softmax - onehot)`, the gradient of
/// `scale * sum of losses` (scale = 1 / batch size gives the batch-mean loss).
///
/// The softmax is computed in f64 from f32 logits; NaN or infinite logits give a NaN
/// or infinite loss, which the trainer reports as divergence.
pub(crate) fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u8],
    classes: usize,
    scale: f32,
    mut grad: Option<&mut [f32]>,
) -> LossSum {
    let mut sum = LossSum::default();
    for (i, (row, &label)) in logits.chunks_exact(classes).zip(labels).enumerate() {
        let label = usize::from(label);
        let mut best = 0;
        for (j, &z) in row.iter().enumerate() {
            if z > row[best] {
                best = j;
            }
        }
        if best == label && !row[best].is_nan() {
            sum.correct += 1;
        }
        let max = f64::from(row[best]);
        let denom: f64 = row.iter().map(|&z| (f64::from(z) - max).exp()).sum();
        let log_denom = denom.ln();
        sum.loss += -(f64::from(row[label]) - max - log_denom);
        if let Some(grad) = grad.as_deref_mut() {
            let g = &mut grad[i * classes..(i + 1) * classes];
            for (j, (gj, &z)) in g.iter_mut().zip(row).enumerate() {
                let p = (f64::from(z) - max - log_denom).exp();
                let t = if j == label { 1.0 } else { 0.0 };
                *gj = ((p - t) * f64::from(scale)) as f32;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_cost_log_classes() {
        let logits = [0.5f32; 8];
        let mut grad = [0.0f32; 8];
        let s = softmax_cross_entropy(&logits, &[1, 3], 4, 0.5, Some(&mut grad));
        assert!((s.loss - 2.0 * 4f64.ln()).abs() < 1e-12);
        assert_eq!(s.correct, 0);
        assert!((grad[1] - (0.25 - 1.0) * 0.5).abs() < 1e-7);
        assert!((grad[0] - 0.125).abs() < 1e-7);
    }

    #[test]
    fn large_logits_stay_finite_and_nan_shows() {
        let s = softmax_cross_entropy(&[1000.0, -1000.0], &[0], 2, 1.0, None);
        assert!(s.loss.abs() < 1e-12);
        assert_eq!(s.correct, 1);
        let s = softmax_cross_entropy(&[f32::NAN, 0.0], &[0], 2, 1.0, None);
        assert!(s.loss.is_nan());
        assert_eq!(s.correct, 0);
    }
}
