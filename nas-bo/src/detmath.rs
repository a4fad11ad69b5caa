//! The two transcendental steps BANANAS needs, in plain IEEE arithmetic of a fixed order
//! (no libm, whose `ln` may differ in the last bit across platforms), so that a run's
//! proposals are the same bits on every CPU: the natural logarithm and a standard normal
//! draw from the strategy's stream.

use rand::Rng;

use nas_core::NasRng;

/// Terms of the atanh series: |s| < 0.172 and s^2 < 0.0295, so the 13th term is below
/// 1e-20 of the sum.
const SERIES_TERMS: u32 = 13;

/// The natural logarithm of a positive, finite `x`: `x = m 2^e` with `m` in
/// [sqrt(1/2), sqrt(2)), `ln x = e ln 2 + 2 atanh((m - 1) / (m + 1))` by its series.
/// Within 4 ulp of the platform's `ln` (checked in the tests): it only scales normal draws.
pub(crate) fn ln(x: f64) -> f64 {
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

/// A standard normal draw (Marsaglia's polar method, the second value discarded).
pub(crate) fn standard_normal(rng: &mut NasRng) -> f64 {
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
    use nas_core::rng_from_seed;

    #[test]
    fn ln_agrees_with_the_platform_s_within_four_ulp() {
        let mut rng = rng_from_seed(1);
        let mut xs: Vec<f64> = vec![1.0, 2.0, 0.5, 1e-300, 5e-324, 1e300, 0.999_999, 1.000_001];
        xs.extend((0..10_000).map(|_| rng.random::<f64>()));
        xs.extend((0..1_000).map(|i| f64::from(i) * 0.37 + 1e-3));
        for x in xs {
            let (ours, libm) = (ln(x), x.ln());
            let ulp = libm.abs() * f64::EPSILON;
            assert!(
                (ours - libm).abs() <= 4.0 * ulp.max(f64::MIN_POSITIVE),
                "{x}: {ours} {libm}"
            );
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(2.0), std::f64::consts::LN_2);
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
