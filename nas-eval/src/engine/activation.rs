//! Bias + activation, fused into one pass over a layer's output, and its backward.
//!
//! Activations follow PyTorch: `relu` passes NaN through (so a diverging network shows
//! it in its loss), its derivative at 0 is 0; `gelu` is the exact erf form.

use nas_core::Activation;

use super::simd::{SimdPath, multiversion};

/// 1/sqrt(2 pi): the standard normal density at 0.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// `1 + erf(x)` without a library call: the Chebyshev fit of erfc in Numerical Recipes
/// (fractional error below 1.2e-7), with [`exp`]. NaN stays NaN.
#[inline(always)]
#[allow(clippy::excessive_precision)] // the published coefficients
fn one_plus_erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut p = 0.170_872_77;
    p = p * t - 0.822_152_23;
    p = p * t + 1.488_515_87;
    p = p * t - 1.135_203_98;
    p = p * t + 0.278_868_07;
    p = p * t - 0.186_288_06;
    p = p * t + 0.096_784_18;
    p = p * t + 0.374_091_96;
    p = p * t + 1.000_023_68;
    p = p * t - 1.265_512_23;
    let erfc = t * exp(p - z * z);
    if x >= 0.0 { 2.0 - erfc } else { erfc }
}

/// GELU, exact (erf) form: `x * Phi(x)`.
#[inline(always)]
fn gelu(z: f32) -> f32 {
    0.5 * z * one_plus_erf(z * std::f32::consts::FRAC_1_SQRT_2)
}

/// d GELU / dz = `Phi(z) + z * phi(z)`.
#[inline(always)]
fn gelu_derivative(z: f32) -> f32 {
    0.5 * one_plus_erf(z * std::f32::consts::FRAC_1_SQRT_2) + z * INV_SQRT_2PI * exp(-0.5 * z * z)
}

/// e^x in f32 without a library call, so that loops over it vectorise: Cephes' `expf`
/// (range reduction by ln 2, degree-6 polynomial; about 1 ulp on [-87, 88]). Arguments
/// are clamped to [-87.3, 88.3]; NaN stays NaN.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published.
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * (r * r) + r + 1.0;
    // 2^n from its exponent bits. `shifted` is 1.5 * 2^23 + n, whose low mantissa bits
    // are n (in [-126, 127] after the clamp): integer operations on the bits, which
    // vectorise, where `n as i32` (a saturating conversion) would not. A NaN x gives
    // some scale, and y carries the NaN.
    let k = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(k.wrapping_add(127) << 23);
    y * scale
}

/// tanh in f32 without a library call (Cephes' `tanhf`: an odd polynomial below 0.625,
/// `1 - 2 / (e^(2|x|) + 1)` above; about 2 ulp).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published.
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = -5.704_988_7e-3;
    p = p * z + 2.063_908_9e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 1.333_144_2e-1;
    p = p * z - 3.333_328_2e-1;
    let small = p * z * x + x;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let large = if x < 0.0 { -large } else { large };
    if a < 0.625 { small } else { large }
}

/// The logistic function without a library call.
#[inline(always)]
pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

multiversion! {
    fn bias_relu(out: &mut [f32], bias: &[f32]) {
        for row in out.chunks_exact_mut(bias.len()) {
            for (y, b) in row.iter_mut().zip(bias) {
                let z = *y + *b;
                *y = if z < 0.0 { 0.0 } else { z };
            }
        }
    }
}

multiversion! {
    fn bias_tanh(out: &mut [f32], bias: &[f32]) {
        for row in out.chunks_exact_mut(bias.len()) {
            for (y, b) in row.iter_mut().zip(bias) {
                *y = tanh(*y + *b);
            }
        }
    }
}

multiversion! {
    fn bias_sigmoid(out: &mut [f32], bias: &[f32]) {
        for row in out.chunks_exact_mut(bias.len()) {
            for (y, b) in row.iter_mut().zip(bias) {
                *y = sigmoid(*y + *b);
            }
        }
    }
}

multiversion! {
    fn bias_gelu(out: &mut [f32], pre: &mut [f32], bias: &[f32]) {
        for (row, pre_row) in out.chunks_exact_mut(bias.len()).zip(pre.chunks_exact_mut(bias.len())) {
            for ((y, z), b) in row.iter_mut().zip(pre_row.iter_mut()).zip(bias) {
                *z = *y + *b;
                *y = gelu(*z);
            }
        }
    }
}

multiversion! {
    fn bias_only(out: &mut [f32], bias: &[f32]) {
        for row in out.chunks_exact_mut(bias.len()) {
            for (y, b) in row.iter_mut().zip(bias) {
                *y += *b;
            }
        }
    }
}

/// `out = act(out + bias)` row by row (`bias.len()` values per row). For GELU the
/// pre-activation is kept in `pre` (the backward needs it); other activations are
/// differentiated from their output and leave `pre` untouched.
pub(crate) fn bias_act_forward(
    path: SimdPath,
    out: &mut [f32],
    pre: &mut [f32],
    bias: &[f32],
    act: Option<Activation>,
) {
    debug_assert_eq!(out.len() % bias.len(), 0);
    match act {
        None => bias_only(path, out, bias),
        Some(Activation::Relu) => bias_relu(path, out, bias),
        Some(Activation::Tanh) => bias_tanh(path, out, bias),
        Some(Activation::Sigmoid) => bias_sigmoid(path, out, bias),
        Some(Activation::Gelu) => bias_gelu(path, out, &mut pre[..out.len()], bias),
    }
}

/// Applies `f(gradient, output)` to every value of `grad` (rows of `sums.len()` values)
/// and adds the column sums of the result to `sums`. Rows are added four at a time,
/// `sums += (r0 + r1) + (r2 + r3)`, then the leftover rows one by one: a fixed order
/// that keeps the sums' dependency chains short.
#[inline(always)]
fn backward_rows(grad: &mut [f32], out: &[f32], sums: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    let n = sums.len();
    let mut g_blocks = grad.chunks_exact_mut(4 * n);
    let mut y_blocks = out.chunks_exact(4 * n);
    for (g4, y4) in (&mut g_blocks).zip(&mut y_blocks) {
        let (g01, g23) = g4.split_at_mut(2 * n);
        let (g0, g1) = g01.split_at_mut(n);
        let (g2, g3) = g23.split_at_mut(n);
        let (y01, y23) = y4.split_at(2 * n);
        let (y0, y1) = y01.split_at(n);
        let (y2, y3) = y23.split_at(n);
        for j in 0..n {
            let a = f(g0[j], y0[j]);
            let b = f(g1[j], y1[j]);
            let c = f(g2[j], y2[j]);
            let d = f(g3[j], y3[j]);
            g0[j] = a;
            g1[j] = b;
            g2[j] = c;
            g3[j] = d;
            sums[j] += (a + b) + (c + d);
        }
    }
    let rest = g_blocks.into_remainder();
    for (g, y) in rest
        .chunks_exact_mut(n)
        .zip(y_blocks.remainder().chunks_exact(n))
    {
        for j in 0..n {
            let v = f(g[j], y[j]);
            g[j] = v;
            sums[j] += v;
        }
    }
}

multiversion! {
    fn relu_backward(grad: &mut [f32], out: &[f32], sums: &mut [f32]) {
        backward_rows(grad, out, sums, |g, y| if y > 0.0 { g } else { 0.0 });
    }
}

multiversion! {
    fn tanh_backward(grad: &mut [f32], out: &[f32], sums: &mut [f32]) {
        backward_rows(grad, out, sums, |g, y| g * (1.0 - y * y));
    }
}

multiversion! {
    fn sigmoid_backward(grad: &mut [f32], out: &[f32], sums: &mut [f32]) {
        backward_rows(grad, out, sums, |g, y| g * (y * (1.0 - y)));
    }
}

multiversion! {
    fn gelu_backward(grad: &mut [f32], pre: &[f32], sums: &mut [f32]) {
        backward_rows(grad, pre, sums, |g, z| g * gelu_derivative(z));
    }
}

multiversion! {
    /// The column sums of `grad`, in [`backward_rows`]' order, without writing `grad`.
    fn identity_backward(grad: &[f32], sums: &mut [f32]) {
        let n = sums.len();
        let mut blocks = grad.chunks_exact(4 * n);
        for g4 in &mut blocks {
            let (g01, g23) = g4.split_at(2 * n);
            let (g0, g1) = g01.split_at(n);
            let (g2, g3) = g23.split_at(n);
            for j in 0..n {
                sums[j] += (g0[j] + g1[j]) + (g2[j] + g3[j]);
            }
        }
        for g in blocks.remainder().chunks_exact(n) {
            for j in 0..n {
                sums[j] += g[j];
            }
        }
    }
}

/// Turns the gradient with respect to a layer's output into the gradient with respect
/// to its pre-activation, in place, and writes its column sums (the bias gradient) to
/// `bias_grad`, or adds them to what it holds when `accumulate` (so that the bias
/// gradient of a chunk processed image by image continues one sum).
pub(crate) fn act_backward(
    path: SimdPath,
    grad: &mut [f32],
    out: &[f32],
    pre: &[f32],
    act: Option<Activation>,
    bias_grad: &mut [f32],
    accumulate: bool,
) {
    let out = &out[..grad.len()];
    if !accumulate {
        bias_grad.fill(0.0);
    }
    match act {
        None => identity_backward(path, grad, bias_grad),
        Some(Activation::Relu) => relu_backward(path, grad, out, bias_grad),
        Some(Activation::Tanh) => tanh_backward(path, grad, out, bias_grad),
        Some(Activation::Sigmoid) => sigmoid_backward(path, grad, out, bias_grad),
        Some(Activation::Gelu) => gelu_backward(path, grad, &pre[..out.len()], bias_grad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_match_their_definitions() {
        let z = [-2.0f32, -0.5, 0.0, 0.7, 3.0];
        let bias = [0.0f32];
        for (act, path) in Activation::ALL
            .into_iter()
            .flat_map(|a| SimdPath::supported().into_iter().map(move |p| (a, p)))
        {
            let mut out = z.to_vec();
            let mut pre = vec![0.0; z.len()];
            bias_act_forward(path, &mut out, &mut pre, &bias, Some(act));
            for (y, &x) in out.iter().zip(&z) {
                let x = f64::from(x);
                let want = match act {
                    Activation::Relu => x.max(0.0),
                    Activation::Tanh => x.tanh(),
                    Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                    Activation::Gelu => 0.5 * x * (1.0 + libm_erf(x / 2f64.sqrt())),
                };
                assert!(
                    (f64::from(*y) - want).abs() < 1e-6,
                    "{act} on {path} at {x}: {y} vs {want}"
                );
            }
        }
    }

    fn libm_erf(x: f64) -> f64 {
        candle_core::cpu::erf::erf_f64(x)
    }

    #[test]
    fn fast_exp_tanh_and_sigmoid_are_accurate() {
        let mut worst = [0.0f64; 3];
        for i in -200_000..=200_000 {
            let x = i as f32 * 4e-4;
            let xd = f64::from(x);
            let errs = [
                (f64::from(exp(x)) / xd.exp() - 1.0).abs(),
                (f64::from(tanh(x)) - xd.tanh()).abs() / xd.tanh().abs().max(1e-30),
                (f64::from(sigmoid(x)) - 1.0 / (1.0 + (-xd).exp())).abs(),
            ];
            for (w, e) in worst.iter_mut().zip(errs) {
                *w = w.max(e);
            }
        }
        // Relative 2e-7 (exp, tanh), absolute 1e-7 (sigmoid): a few f32 ulps.
        assert!(
            worst[0] < 2e-7 && worst[1] < 2e-7 && worst[2] < 1e-7,
            "{worst:?}"
        );
        assert!(exp(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert_eq!(exp(-1000.0), exp(-87.3));
        assert!(exp(100.0).is_finite());
    }

    #[test]
    fn fast_gelu_and_its_derivative_are_accurate() {
        let mut worst = [0.0f64; 2];
        for i in -100_000..=100_000 {
            let x = i as f32 * 1e-4;
            let xd = f64::from(x);
            let cdf = 0.5 * (1.0 + libm_erf(xd / 2f64.sqrt()));
            let want = xd * cdf;
            let dwant = cdf + xd * (-0.5 * xd * xd).exp() / (2.0 * std::f64::consts::PI).sqrt();
            worst[0] = worst[0].max((f64::from(gelu(x)) - want).abs() / xd.abs().max(1.0));
            worst[1] = worst[1].max((f64::from(gelu_derivative(x)) - dwant).abs());
        }
        // A few f32 ulps of max(|x|, 1).
        assert!(worst[0] < 5e-7 && worst[1] < 5e-7, "{worst:?}");
        assert!(gelu(f32::NAN).is_nan());
        assert!(gelu(-30.0).abs() < 1e-30);
        assert_eq!(gelu(30.0), 30.0);
    }

    #[test]
    fn relu_keeps_nan_so_divergence_shows() {
        let mut out = [f32::NAN, -1.0];
        bias_act_forward(
            SimdPath::best(),
            &mut out,
            &mut [],
            &[0.0],
            Some(Activation::Relu),
        );
        assert!(out[0].is_nan());
        assert_eq!(out[1], 0.0);
    }

    #[test]
    fn backward_passes_write_bias_gradients() {
        // Six rows of two: four added as a block, two one by one.
        let out = [
            1.0f32, -1.0, 2.0, 0.0, 3.0, 5.0, 1.0, 1.0, -2.0, 4.0, 0.5, 0.5,
        ];
        let mut grad = [
            1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
        ];
        let mut sums = [f32::NAN; 2];
        act_backward(
            SimdPath::best(),
            &mut grad,
            &out,
            &[],
            Some(Activation::Relu),
            &mut sums,
            false,
        );
        assert_eq!(
            grad,
            [
                1.0, 0.0, 3.0, 0.0, 5.0, 6.0, 7.0, 8.0, 0.0, 10.0, 11.0, 12.0
            ]
        );
        assert_eq!(sums, [27.0, 36.0]);
        let mut grad = [1.0f32; 12];
        act_backward(
            SimdPath::best(),
            &mut grad,
            &out,
            &[],
            None,
            &mut sums,
            false,
        );
        assert_eq!(sums, [6.0, 6.0]);
        act_backward(
            SimdPath::best(),
            &mut grad,
            &out,
            &[],
            None,
            &mut sums,
            true,
        );
        assert_eq!(sums, [12.0, 12.0]);
    }

    #[test]
    fn every_path_gives_the_same_bits() {
        // 37 columns (not a multiple of any vector width) by 23 rows, values over the
        // ranges where each function changes branch (tanh at 0.625, clamps of exp).
        let (rows, cols) = (23, 37);
        let z: Vec<f32> = (0..rows * cols)
            .map(|i| {
                ((i * 7919 % 4001) as f32 - 2000.0) * 0.013 * if i % 11 == 0 { 9.0 } else { 1.0 }
            })
            .collect();
        let bias: Vec<f32> = (0..cols).map(|j| (j as f32 - 18.0) * 0.01).collect();
        let grad: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 1e-3)
            .collect();
        let run = |path: SimdPath, act: Option<Activation>| {
            let mut out = z.clone();
            let mut pre = vec![0.0; z.len()];
            bias_act_forward(path, &mut out, &mut pre, &bias, act);
            let mut g = grad.clone();
            let mut sums = vec![0.0; cols];
            act_backward(path, &mut g, &out, &pre, act, &mut sums, false);
            [out, pre, g, sums]
                .iter()
                .flat_map(|v| v.iter().map(|x| x.to_bits()))
                .collect::<Vec<u32>>()
        };
        for act in Activation::ALL.into_iter().map(Some).chain([None]) {
            let want = run(SimdPath::Scalar, act);
            for path in SimdPath::supported() {
                assert!(run(path, act) == want, "{act:?} on {path}");
            }
        }
    }
}
