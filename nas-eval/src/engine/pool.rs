//! 2x2 max pooling with stride 2 on channels-last feature maps (floor: an odd last row
//! or column is dropped, as in PyTorch).
//!
//! The forward pass records which element of each window won (the first maximum in
//! row-major window order, NaN winning as in PyTorch), and the backward pass routes each
//! output gradient to exactly that element; everything else gets zero. candle 0.11's
//! `max_pool2d` backward gets this wrong, which is why the engine has its own.

use super::simd::multiversion;

/// The geometry of one pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    /// Channels.
    pub c: usize,
    /// Input rows.
    pub hin: usize,
    /// Input columns.
    pub win: usize,
}

impl PoolGeom {
    /// Output rows.
    pub fn hout(&self) -> usize {
        self.hin / 2
    }
    /// Output columns.
    pub fn wout(&self) -> usize {
        self.win / 2
    }
    /// Values per input image.
    pub fn in_len(&self) -> usize {
        self.hin * self.win * self.c
    }
}

/// Whether `v` beats the current maximum `m`: larger, or NaN over a number (PyTorch
/// keeps the first NaN).
#[inline(always)]
fn beats(v: f32, m: f32) -> bool {
    v > m || (v.is_nan() && !m.is_nan())
}

multiversion! {
    /// Pools `n` images; `arg` receives the winner (0..4, row-major in the window) of
    /// each output value.
    pub(crate) fn forward(g: &PoolGeom, n: usize, input: &[f32], out: &mut [f32], arg: &mut [u8]) {
        let (c, win) = (g.c, g.win);
        let (hout, wout) = (g.hout(), g.wout());
        for img in 0..n {
            let x = &input[img * g.in_len()..(img + 1) * g.in_len()];
            for oy in 0..hout {
                for ox in 0..wout {
                    let o = ((img * hout + oy) * wout + ox) * c;
                    let top = (2 * oy * win + 2 * ox) * c;
                    let bottom = top + win * c;
                    let a = &x[top..top + c];
                    let b = &x[top + c..top + 2 * c];
                    let d = &x[bottom..bottom + c];
                    let e = &x[bottom + c..bottom + 2 * c];
                    let out = &mut out[o..o + c];
                    let arg = &mut arg[o..o + c];
                    for i in 0..c {
                        let mut m = a[i];
                        let mut w = 0u8;
                        if beats(b[i], m) {
                            m = b[i];
                            w = 1;
                        }
                        if beats(d[i], m) {
                            m = d[i];
                            w = 2;
                        }
                        if beats(e[i], m) {
                            m = e[i];
                            w = 3;
                        }
                        out[i] = m;
                        arg[i] = w;
                    }
                }
            }
        }
    }
}

/// Routes each output gradient to its window's winner (zeros elsewhere); with `RELU`,
/// only where the pooled value is positive: the gradient of `pool(relu(z))` with respect
/// to `z`, the same bits as routing and then applying ReLU's derivative to the winner
/// (whose value is the pooled one) without reading the feature map.
#[inline(always)]
fn route<const RELU: bool>(
    g: &PoolGeom,
    n: usize,
    grad_out: &[f32],
    arg: &[u8],
    pooled: &[f32],
    grad_in: &mut [f32],
) {
    let c = g.c;
    let (hout, wout) = (g.hout(), g.wout());
    let row_in = g.win * c;
    let row_out = wout * c;
    if g.hin % 2 == 1 || g.win % 2 == 1 {
        grad_in[..n * g.in_len()].fill(0.0);
    }
    for img in 0..n {
        for oy in 0..hout {
            let o = (img * hout + oy) * row_out;
            let go = &grad_out[o..o + row_out];
            let arg = &arg[o..o + row_out];
            let y = if RELU { &pooled[o..o + row_out] } else { go };
            for r in 0..2u8 {
                let start = (img * g.hin + 2 * oy + usize::from(r)) * row_in;
                let gi = &mut grad_in[start..start + 2 * row_out];
                let (left_id, right_id) = (2 * r, 2 * r + 1);
                for (((pair, go), a), y) in gi
                    .chunks_exact_mut(2 * c)
                    .zip(go.chunks_exact(c))
                    .zip(arg.chunks_exact(c))
                    .zip(y.chunks_exact(c))
                {
                    let (left, right) = pair.split_at_mut(c);
                    for i in 0..c {
                        let v = if !RELU || y[i] > 0.0 { go[i] } else { 0.0 };
                        left[i] = if a[i] == left_id { v } else { 0.0 };
                        right[i] = if a[i] == right_id { v } else { 0.0 };
                    }
                }
            }
        }
    }
}

multiversion! {
    /// Writes the input gradient of `n` images from the output gradient.
    pub(crate) fn backward(g: &PoolGeom, n: usize, grad_out: &[f32], arg: &[u8], grad_in: &mut [f32]) {
        route::<false>(g, n, grad_out, arg, &[], grad_in);
    }
}

multiversion! {
    /// The gradient of `pool(relu(z))` with respect to `z` from the output gradient and
    /// the pooled values `pooled`: the fusion of [`backward`] and ReLU's backward, for a
    /// ReLU layer followed by pooling.
    pub(crate) fn backward_relu(g: &PoolGeom, n: usize, grad_out: &[f32], arg: &[u8], pooled: &[f32], grad_in: &mut [f32]) {
        route::<true>(g, n, grad_out, arg, pooled, grad_in);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::simd::SimdPath;

    #[test]
    fn pools_and_routes_gradients_to_the_winner_only() {
        // One channel, 3x3: the last row and column are dropped.
        let g = PoolGeom {
            c: 1,
            hin: 3,
            win: 3,
        };
        let x = [1.0, 5.0, 9.0, 2.0, 3.0, 9.0, 9.0, 9.0, 9.0];
        let mut out = [0.0];
        let mut arg = [0u8];
        forward(SimdPath::Scalar, &g, 1, &x, &mut out, &mut arg);
        assert_eq!(out, [5.0]);
        assert_eq!(arg, [1]);
        let mut gi = [7.0f32; 9];
        backward(SimdPath::Scalar, &g, 1, &[2.0], &arg, &mut gi);
        assert_eq!(gi, [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn fused_relu_backward_gives_the_bits_of_routing_then_relu() {
        use crate::engine::activation::act_backward;
        use nas_core::Activation;
        // 3 channels, 5x7 (odd: a dropped row and column), values of both signs, zeros,
        // ties and a NaN.
        let g = PoolGeom {
            c: 3,
            hin: 5,
            win: 7,
        };
        let x: Vec<f32> = (0..g.in_len())
            .map(|i| match i % 17 {
                0 => 0.0,
                5 => f32::NAN,
                9 => -0.0,
                k => (k as f32 - 8.0) * 0.25,
            })
            .collect();
        let outs = g.hout() * g.wout() * g.c;
        let go: Vec<f32> = (0..outs).map(|i| i as f32 * 0.5 - 3.0).collect();
        for path in SimdPath::supported() {
            let (mut pooled, mut arg) = (vec![0.0; outs], vec![0u8; outs]);
            forward(path, &g, 1, &x, &mut pooled, &mut arg);
            let mut routed = vec![9.0; g.in_len()];
            backward(path, &g, 1, &go, &arg, &mut routed);
            let mut sums = vec![0.0; g.c];
            act_backward(
                path,
                &mut routed,
                &x,
                &[],
                Some(Activation::Relu),
                &mut sums,
                false,
            );
            let mut fused = vec![9.0; g.in_len()];
            backward_relu(path, &g, 1, &go, &arg, &pooled, &mut fused);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&routed), bits(&fused), "{path}");
        }
    }

    #[test]
    fn ties_go_to_the_first_and_nan_wins() {
        let g = PoolGeom {
            c: 2,
            hin: 2,
            win: 2,
        };
        // Channel 0: all equal; channel 1: a NaN in the third slot.
        let x = [1.0, 0.0, 1.0, 4.0, 1.0, f32::NAN, 1.0, 3.0];
        let mut out = [0.0; 2];
        let mut arg = [0u8; 2];
        forward(SimdPath::Scalar, &g, 1, &x, &mut out, &mut arg);
        assert_eq!(arg, [0, 2]);
        assert_eq!(out[0], 1.0);
        assert!(out[1].is_nan());
    }
}
