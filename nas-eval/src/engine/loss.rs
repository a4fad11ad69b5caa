//! Softmax cross-entropy, fused with its gradient.
//!
//! Computed in f64 with the engine's own [`exp`] and [`ln`] (basic IEEE operations
//! only, in a fixed order), not the platform's libm: glibc picks FMA or non-FMA
//! versions of `exp` and `log` by CPU, and other libms round differently.

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
        let denom: f64 = row.iter().map(|&z| exp(f64::from(z) - max)).sum();
        let log_denom = ln(denom);
        sum.loss += -(f64::from(row[label]) - max - log_denom);
        if let Some(grad) = grad.as_deref_mut() {
            let g = &mut grad[i * classes..(i + 1) * classes];
            for (j, (gj, &z)) in g.iter_mut().zip(row).enumerate() {
                let p = exp(f64::from(z) - max - log_denom);
                let t = if j == label { 1.0 } else { 0.0 };
                *gj = ((p - t) * f64::from(scale)) as f32;
            }
        }
    }
    sum
}

/// ln 2 split for Cody-Waite reduction: the high part has 32 significant bits, so
/// `n * LN2_HI` is exact for |n| < 2^21 (fdlibm's constants).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// e^x in f64 from basic operations: x = n ln 2 + r with |r| <= ln 2 / 2, e^r by its
/// Taylor series to r^13 (truncation below 2^-56), times 2^n. Within a few ulps of
/// the exact value; NaN stays NaN; overflows to infinity, underflows to zero.
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.79 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    // Adding and subtracting 1.5 * 2^52 rounds to the nearest integer.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let n = (x * std::f64::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // 1/k! for k = 13 down to 2.
    const INV_FACT: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
    let mut p = INV_FACT[0];
    for &c in &INV_FACT[1..] {
        p = p * r + c;
    }
    let y = (p * r + 1.0) * r + 1.0;
    // 2^n in two factors so that neither overflows nor underflows: n in [-1075, 1025].
    let n = n as i64;
    let half = n / 2;
    let pow2 = |k: i64| f64::from_bits(((k + 1023) as u64) << 52);
    y * pow2(half) * pow2(n - half)
}

/// ln x in f64 from basic operations: x = m 2^e with m in (sqrt(2)/2, sqrt(2)],
/// ln m = 2 atanh(s) with s = (m - 1) / (m + 1), by its series to s^21. Within a few
/// ulps; NaN or negative: NaN; 0: -infinity.
pub(crate) fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut x, mut e) = (x, 0i64);
    if x < f64::MIN_POSITIVE {
        x *= 18_014_398_509_481_984.0; // 2^54: subnormals become normal
        e = -54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    // 1/(2j+1) for j = 10 down to 1.
    const INV_ODD: [f64; 10] = [
        1.0 / 21.0,
        1.0 / 19.0,
        1.0 / 17.0,
        1.0 / 15.0,
        1.0 / 13.0,
        1.0 / 11.0,
        1.0 / 9.0,
        1.0 / 7.0,
        1.0 / 5.0,
        1.0 / 3.0,
    ];
    let mut p = INV_ODD[0];
    for &c in &INV_ODD[1..] {
        p = p * z + c;
    }
    let ln_m = 2.0 * s + 2.0 * s * (z * p);
    let e = e as f64;
    e * LN2_HI + (ln_m + e * LN2_LO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_ln_are_within_a_few_ulps_of_std() {
        let ulps = |a: f64, b: f64| (a - b).abs() / (b.abs() * f64::EPSILON);
        let mut worst = (0.0f64, 0.0f64);
        for i in -700_000..=700_000 {
            let x = i as f64 * 1e-3 + 1e-7;
            worst.0 = worst.0.max(ulps(exp(x), x.exp()));
        }
        for i in 1..=1_000_000 {
            let x = i as f64 * 1.37e-3;
            if (x - 1.0).abs() > 1e-3 {
                worst.1 = worst.1.max(ulps(ln(x), x.ln()));
            }
            let tiny = x * 1e-310;
            worst.1 = worst.1.max(ulps(ln(tiny), tiny.ln()));
        }
        assert!(worst.0 < 4.0 && worst.1 < 4.0, "{worst:?}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(ln(1.0), 0.0);
        assert!(exp(f64::NAN).is_nan() && ln(f64::NAN).is_nan() && ln(-1.0).is_nan());
        assert_eq!(exp(1000.0), f64::INFINITY);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        assert!((exp(709.7) / 709.7f64.exp() - 1.0).abs() < 1e-14);
        assert!((exp(-740.0) / (-740.0f64).exp() - 1.0).abs() < 1e-3);
    }

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
