//! Transcendental functions that strategies need, in plain IEEE arithmetic of a fixed
//! order (no libm, whose `ln` and `exp` may differ in the last bit across platforms and
//! glibc's CPU-dispatched variants), so that a run's proposals are the same bits on every
//! CPU: the natural logarithm, the exponential, a real power and a standard normal draw
//! from a strategy's stream. Used by BANANAS (nas-bo: Thompson sampling's normal draws)
//! and BOHB (nas-mf: the kernel bandwidth's `n^(-1/(d+4))`).

use rand::Rng;

use crate::NasRng;

/// Terms of the atanh series: |s| < 0.172 and s^2 < 0.0295, so the 13th term is below
/// 1e-20 of the sum.
const SERIES_TERMS: u32 = 13;

/// The natural logarithm of a positive, finite `x`: `x = m 2^e` with `m` in
/// [sqrt(1/2), sqrt(2)), `ln x = e ln 2 + 2 atanh((m - 1) / (m + 1))` by its series.
/// Within 4 ulp of the platform's `ln` (checked in the tests).
pub fn ln(x: f64) -> f64 {
    debug_assert!(x > 0.0 && x.is_finite(), "ln of {x}");
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    if biased == 0 {
        // Subnormal: scale into the normal range (exact), then shift back.
        return ln(x * (1u64 << 54) as f64) - 54.0 * std::f64::consts::LN_2;
    }
    let mut e = biased - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = s;
    for k in 1..SERIES_TERMS {
        term *= s2;
        sum += term / f64::from(2 * k + 1);
    }
    2.0 * sum + e as f64 * std::f64::consts::LN_2
}

/// Terms of the Taylor series of `exp(r)` for |r| <= ln(2)/2 < 0.347: the 18th term is
/// below 1e-22 of the sum.
const EXP_TERMS: u32 = 18;

/// The exponential of a finite `x`: `x = k ln 2 + r` with |r| <= ln(2)/2, `exp(r)` by
/// its Taylor series (Horner, fixed order), scaled by 2^k exactly. Within 4 ulp of the
/// platform's `exp` (checked in the tests); 0 below -745, infinity above 709.8.
pub fn exp(x: f64) -> f64 {
    debug_assert!(!x.is_nan(), "exp of NaN");
    if x < -745.0 {
        return 0.0;
    }
    if x > 709.78 {
        return f64::INFINITY;
    }
    let k = (x / std::f64::consts::LN_2).round();
    // ln 2 split in a part exact in 32 bits and the rest, so `k * LN2_HI` is exact.
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut sum = 1.0;
    for n in (1..EXP_TERMS).rev() {
        sum = 1.0 + sum * r / f64::from(n);
    }
    // 2^k, in two steps so that k down to -1074 and up to 1023 stay exact.
    let k = k as i32;
    let half = k / 2;
    sum * pow2(half) * pow2(k - half)
}

/// 2^k for -1022 <= k <= 1023 exactly, as bits; below, by halving (still exact down to
/// the subnormals).
fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << 52) * pow2(k + 52) / f64::from_bits(((52 + 1023) as u64) << 52)
    }
}

/// `x^y` for a positive, finite `x`: `exp(y ln x)`, within a few ulp of the platform's
/// `powf` (checked in the tests).
pub fn powf(x: f64, y: f64) -> f64 {
    exp(y * ln(x))
}

/// A standard normal draw (Marsaglia's polar method, the second value discarded).
pub fn standard_normal(rng: &mut NasRng) -> f64 {
    loop {
        let u = 2.0 * rng.random::<f64>() - 1.0;
        let v = 2.0 * rng.random::<f64>() - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * ln(s) / s).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_from_seed;

    /// Asserts `ours(x)` is within 4 ulp of the platform's `libm(x)` at every `x`.
    fn within_four_ulp(ours: fn(f64) -> f64, libm: fn(f64) -> f64, xs: Vec<f64>) {
        for x in xs {
            let (ours, libm) = (ours(x), libm(x));
            let ulp = libm.abs() * f64::EPSILON;
            assert!(
                (ours - libm).abs() <= 4.0 * ulp.max(f64::MIN_POSITIVE),
                "{x}: {ours} {libm}"
            );
        }
    }

    #[test]
    fn ln_agrees_with_the_platform_s_within_four_ulp() {
        let mut rng = rng_from_seed(1);
        let mut xs: Vec<f64> = vec![1.0, 2.0, 0.5, 1e-300, 5e-324, 1e300, 0.999_999, 1.000_001];
        xs.extend((0..10_000).map(|_| rng.random::<f64>()));
        xs.extend((0..1_000).map(|i| f64::from(i) * 0.37 + 1e-3));
        within_four_ulp(ln, f64::ln, xs);
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(2.0), std::f64::consts::LN_2);
    }

    #[test]
    fn exp_and_powf_agree_with_the_platform_s_within_four_ulp() {
        let mut rng = rng_from_seed(4);
        let mut xs: Vec<f64> = vec![0.0, 1.0, -1.0, 0.5, 700.0, -700.0, -740.0, 1e-12, -1e-12];
        xs.extend((0..10_000).map(|_| 40.0 * rng.random::<f64>() - 20.0));
        within_four_ulp(exp, f64::exp, xs);
        assert_eq!(exp(0.0), 1.0);
        assert_eq!((exp(-800.0), exp(800.0)), (0.0, f64::INFINITY));
        for n in 1..300u32 {
            for d in 1..40u32 {
                let (x, y) = (f64::from(n), -1.0 / f64::from(d + 4));
                let (ours, libm) = (powf(x, y), x.powf(y));
                assert!((ours - libm).abs() <= 8.0 * libm * f64::EPSILON, "{x}^{y}");
            }
        }
    }

    #[test]
    fn normal_draws_are_standard_and_pinned() {
        let mut rng = rng_from_seed(2);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / f64::from(n);
        let var = draws.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / f64::from(n);
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
        // The same bits on every platform: a changed method changes every BANANAS run.
        let first = standard_normal(&mut rng_from_seed(3));
        assert_eq!(first.to_bits(), 0x3fca_9ca8_0b0d_2ab2, "{first}");
    }
}
