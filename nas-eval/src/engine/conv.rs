//! 2-D convolution (stride 1, square kernel, zero padding) on channels-last (NHWC)
//! feature maps, as im2col + matrix product, processed in tiles of output positions so
//! that the unfolded input stays in cache.
//!
//! Shapes, per chunk of `n` images: input `n x H x W x Cin`, output
//! `n x Ho x Wo x Cout`, weight `K x Cout` with `K = k * k * Cin` ordered
//! `(ky, kx, cin)`, bias `Cout`. A row of the unfolded matrix ("col") is the receptive
//! field of one output position.
//!
//! The backward pass unfolds each tile again instead of keeping the whole unfolded input
//! from the forward pass: a second pass over cache-resident data is cheaper than
//! streaming several megabytes through memory.

use nas_core::Activation;

use super::activation::{act_backward, bias_act_forward};
use super::gemm::{Mat, matmul};
use super::simd::multiversion;

/// Target size of one tile of the unfolded input, in floats (256 KiB): small enough
/// for the L2 cache next to the gradients, large enough for an efficient product.
const TILE_FLOATS: usize = 1 << 16;
/// At least this many output positions per tile, however wide the unfolded rows: the
/// product repacks the weight for every tile, which must stay small next to the work.
/// (Measured on the reference CNN and a 64-filter 5x5 stack: 2-7% less CPU time than 16.)
const MIN_TILE_POSITIONS: usize = 256;

/// The geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel side.
    pub k: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// Input rows.
    pub hin: usize,
    /// Input columns.
    pub win: usize,
    /// Output rows.
    pub hout: usize,
    /// Output columns.
    pub wout: usize,
}

impl ConvGeom {
    /// Length of one unfolded row: `k * k * cin`.
    pub fn patch(&self) -> usize {
        self.k * self.k * self.cin
    }

    /// Output positions per image.
    pub fn positions(&self) -> usize {
        self.hout * self.wout
    }

    /// Output positions per tile.
    pub fn tile_positions(&self) -> usize {
        (TILE_FLOATS / self.patch()).max(MIN_TILE_POSITIONS)
    }

    /// Floats of scratch the layer needs for `images` images.
    pub fn scratch_len(&self, images: usize) -> usize {
        if self.is_direct() {
            self.patch() * self.cout_padded() + images * self.padded_len()
        } else {
            self.tile_positions().min(images * self.positions()) * self.patch()
        }
    }

    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.pad == 0
    }

    /// Few input channels (an image's first layer): unfolding would copy runs of one to
    /// four values and the product would have a tiny inner dimension, so the layer is
    /// computed directly instead.
    fn is_direct(&self) -> bool {
        self.cin <= DIRECT_MAX_CIN && !self.is_pointwise()
    }

    /// Output channels rounded up to a whole number of lanes.
    fn cout_padded(&self) -> usize {
        self.cout.div_ceil(LANES) * LANES
    }
}

/// Largest input-channel count computed by the direct kernels.
const DIRECT_MAX_CIN: usize = 4;
/// Output channels per block of the direct kernels (one AVX-512 register).
const LANES: usize = 16;

/// Output positions per register block of the direct forward kernel.
const QUAD: usize = 4;
/// Kernel taps per pass of the direct weight-gradient kernel (accumulators held in
/// registers).
const TAPS: usize = 8;

/// A lane block.
#[inline(always)]
fn lanes(s: &[f32], at: usize) -> &[f32; LANES] {
    s[at..at + LANES].try_into().expect("a lane block")
}

/// Stores the first `width` lanes of `acc` at `out[at..]`.
#[inline(always)]
fn store(out: &mut [f32], at: usize, acc: &[f32; LANES], width: usize) {
    if width == LANES {
        let dst: &mut [f32; LANES] = (&mut out[at..at + LANES]).try_into().expect("a lane block");
        *dst = *acc;
    } else {
        out[at..at + width].copy_from_slice(&acc[..width]);
    }
}

impl ConvGeom {
    /// Rows of the zero-padded input the direct kernels read.
    fn padded_h(&self) -> usize {
        self.hout + self.k - 1
    }
    /// Columns of the zero-padded input.
    fn padded_w(&self) -> usize {
        self.wout + self.k - 1
    }
    /// Floats of one padded image.
    fn padded_len(&self) -> usize {
        self.padded_h() * self.padded_w() * self.cin
    }
}

multiversion! {
    /// Copies `n` images into `xpad` with `pad` zero rows and columns before and enough
    /// after that every kernel tap of every output position lies inside.
    fn pad_input(g: &ConvGeom, n: usize, input: &[f32], xpad: &mut [f32]) {
        let (hp, wp, cin) = (g.padded_h(), g.padded_w(), g.cin);
        let xpad = &mut xpad[..n * g.padded_len()];
        xpad.fill(0.0);
        let row = g.win * cin;
        for img in 0..n {
            for y in 0..g.hin.min(hp - g.pad) {
                let src = &input[(img * g.hin + y) * row..][..row.min((wp - g.pad) * cin)];
                let dst = ((img * hp + y + g.pad) * wp + g.pad) * cin;
                xpad[dst..dst + src.len()].copy_from_slice(src);
            }
        }
    }
}

multiversion! {
    /// Direct forward convolution of padded input: `out = conv(input)` (no bias), with the
    /// weight padded to `cout_padded` columns in `wpad`. Four output positions of a row
    /// share each weight load.
    fn direct_forward(g: &ConvGeom, n: usize, xpad: &[f32], wpad: &[f32], out: &mut [f32]) {
        let (cin, cout, k) = (g.cin, g.cout, g.k);
        let coutp = g.cout_padded();
        let (hp, wp) = (g.padded_h(), g.padded_w());
        let row_len = wp * cin;
        for img in 0..n {
            for oy in 0..g.hout {
                let out_row = (img * g.hout + oy) * g.wout;
                let rows = &xpad[(img * hp + oy) * row_len..(img * hp + oy + k) * row_len];
                for cb in (0..coutp).step_by(LANES) {
                    let width = LANES.min(cout - cb);
                    let mut ox = 0;
                    while ox + QUAD <= g.wout {
                        let mut acc = [[0.0f32; LANES]; QUAD];
                        for ky in 0..k {
                            let row = &rows[ky * row_len..(ky + 1) * row_len];
                            for kx in 0..k {
                                let x = &row[(ox + kx) * cin..(ox + kx + QUAD) * cin];
                                for ci in 0..cin {
                                    let w = lanes(wpad, ((ky * k + kx) * cin + ci) * coutp + cb);
                                    for (q, a) in acc.iter_mut().enumerate() {
                                        let v = x[q * cin + ci];
                                        for j in 0..LANES {
                                            a[j] += v * w[j];
                                        }
                                    }
                                }
                            }
                        }
                        for (q, a) in acc.iter().enumerate() {
                            store(out, (out_row + ox + q) * cout + cb, a, width);
                        }
                        ox += QUAD;
                    }
                    while ox < g.wout {
                        let mut acc = [0.0f32; LANES];
                        for ky in 0..k {
                            let row = &rows[ky * row_len..(ky + 1) * row_len];
                            for kx in 0..k {
                                let x = &row[(ox + kx) * cin..(ox + kx + 1) * cin];
                                for (ci, &v) in x.iter().enumerate() {
                                    let w = lanes(wpad, ((ky * k + kx) * cin + ci) * coutp + cb);
                                    for j in 0..LANES {
                                        acc[j] += v * w[j];
                                    }
                                }
                            }
                        }
                        store(out, (out_row + ox) * cout + cb, &acc, width);
                        ox += 1;
                    }
                }
            }
        }
    }
}

multiversion! {
    /// Direct weight gradient from padded input: `dwpad[(ky, kx, ci)][co] = sum over
    /// positions of input * dz`, each sum taken in position order in a register; `dwpad`
    /// has `cout_padded` columns.
    fn direct_weight_grad(g: &ConvGeom, n: usize, xpad: &[f32], dz: &[f32], dwpad: &mut [f32]) {
        let (cin, cout, k) = (g.cin, g.cout, g.k);
        let coutp = g.cout_padded();
        let (hp, wp) = (g.padded_h(), g.padded_w());
        let patch = g.patch();
        let span = ((k - 1) * wp + k) * cin;
        for cb in (0..coutp).step_by(LANES) {
            let width = LANES.min(cout - cb);
            for t0 in (0..patch).step_by(TAPS) {
                let taps = TAPS.min(patch - t0);
                // Offset of each tap from its output position's window corner.
                let mut offs = [0usize; TAPS];
                for (i, off) in offs.iter_mut().enumerate().take(taps) {
                    let t = t0 + i;
                    let (ky, kx, ci) = (t / (k * cin), (t / cin) % k, t % cin);
                    *off = (ky * wp + kx) * cin + ci;
                }
                let mut acc = [[0.0f32; LANES]; TAPS];
                for img in 0..n {
                    for oy in 0..g.hout {
                        for ox in 0..g.wout {
                            let p = (img * g.hout + oy) * g.wout + ox;
                            let mut d = [0.0f32; LANES];
                            if width == LANES {
                                d = *lanes(dz, p * cout + cb);
                            } else {
                                d[..width].copy_from_slice(&dz[p * cout + cb..p * cout + cb + width]);
                            }
                            let corner = ((img * hp + oy) * wp + ox) * cin;
                            let x = &xpad[corner..corner + span];
                            for (a, &off) in acc.iter_mut().zip(&offs).take(taps) {
                                let v = x[off];
                                for j in 0..LANES {
                                    a[j] += v * d[j];
                                }
                            }
                        }
                    }
                }
                for (i, a) in acc.iter().enumerate().take(taps) {
                    let row = (t0 + i) * coutp + cb;
                    dwpad[row..row + LANES].copy_from_slice(a);
                }
            }
        }
    }
}

multiversion! {
    /// Unfolds output positions `first..first + count` (counted over the whole chunk) of
    /// `input` into rows of `col`.
    fn im2col(g: &ConvGeom, input: &[f32], first: usize, count: usize, col: &mut [f32]) {
        let (cin, k, pad) = (g.cin, g.k, g.pad);
        let patch = g.patch();
        let run = k * cin;
        let positions = g.positions();
        for (r, row) in col[..count * patch].chunks_exact_mut(patch).enumerate() {
            let p = first + r;
            let img = p / positions;
            let oy = (p % positions) / g.wout;
            let ox = p % g.wout;
            // Input columns ox - pad .. ox - pad + k, clipped to the image.
            let x_lo = ox.saturating_sub(pad);
            let x_hi = (ox + k - pad).min(g.win);
            let skip_left = (pad.saturating_sub(ox)) * cin;
            let valid = x_hi.saturating_sub(x_lo) * cin;
            for ky in 0..k {
                let dst = &mut row[ky * run..(ky + 1) * run];
                let iy = (oy + ky).wrapping_sub(pad);
                if iy >= g.hin || valid == 0 {
                    dst.fill(0.0);
                    continue;
                }
                let src_start = ((img * g.hin + iy) * g.win + x_lo) * cin;
                let src = &input[src_start..src_start + valid];
                dst[..skip_left].fill(0.0);
                for (d, s) in dst[skip_left..skip_left + valid].iter_mut().zip(src) {
                    *d = *s;
                }
                dst[skip_left + valid..].fill(0.0);
            }
        }
    }
}

multiversion! {
    /// Adds rows of `col` (gradients of unfolded positions `first..first + count`) back
    /// onto the input positions they were read from.
    fn col2im(g: &ConvGeom, col: &[f32], first: usize, count: usize, grad_in: &mut [f32]) {
        let (cin, k, pad) = (g.cin, g.k, g.pad);
        let patch = g.patch();
        let run = k * cin;
        let positions = g.positions();
        for (r, row) in col[..count * patch].chunks_exact(patch).enumerate() {
            let p = first + r;
            let img = p / positions;
            let oy = (p % positions) / g.wout;
            let ox = p % g.wout;
            let x_lo = ox.saturating_sub(pad);
            let x_hi = (ox + k - pad).min(g.win);
            let skip_left = (pad.saturating_sub(ox)) * cin;
            let valid = x_hi.saturating_sub(x_lo) * cin;
            for ky in 0..k {
                let iy = (oy + ky).wrapping_sub(pad);
                if iy >= g.hin || valid == 0 {
                    continue;
                }
                let src = &row[ky * run + skip_left..ky * run + skip_left + valid];
                let dst_start = ((img * g.hin + iy) * g.win + x_lo) * cin;
                for (d, s) in grad_in[dst_start..dst_start + valid].iter_mut().zip(src) {
                    *d += *s;
                }
            }
        }
    }
}

/// Forward pass of `n` images: `out = act(conv(input) + bias)`; `pre` receives the
/// pre-activation when the activation needs it (GELU).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    g: &ConvGeom,
    n: usize,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    act: Activation,
    out: &mut [f32],
    pre: &mut [f32],
    scratch: &mut [f32],
) {
    let total = n * g.positions();
    let w = Mat::rows(weight, g.patch(), g.cout);
    if g.is_direct() {
        let coutp = g.cout_padded();
        let (wpad, xpad) = scratch.split_at_mut(g.patch() * coutp);
        for (dst, src) in wpad
            .chunks_exact_mut(coutp)
            .zip(weight.chunks_exact(g.cout))
        {
            dst[..g.cout].copy_from_slice(src);
            dst[g.cout..].fill(0.0);
        }
        pad_input(g, n, input, xpad);
        direct_forward(g, n, xpad, wpad, out);
    } else if g.is_pointwise() {
        matmul(
            &mut out[..total * g.cout],
            Mat::rows(&input[..total * g.cin], total, g.cin),
            w,
            false,
        );
    } else {
        let tile = g.tile_positions();
        let mut first = 0;
        while first < total {
            let count = tile.min(total - first);
            im2col(g, input, first, count, scratch);
            matmul(
                &mut out[first * g.cout..(first + count) * g.cout],
                Mat::rows(&scratch[..count * g.patch()], count, g.patch()),
                w,
                false,
            );
            first += count;
        }
    }
    bias_act_forward(&mut out[..total * g.cout], pre, bias, Some(act));
}

/// Backward pass of `n` images. `grad_out` (the gradient of the output) is turned into
/// the gradient of the pre-activation in place; the weight and bias gradients are
/// written (not accumulated) to `grad_weight` and `grad_bias`; the input gradient is
/// written to `grad_in` when it is given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    g: &ConvGeom,
    n: usize,
    input: &[f32],
    weight: &[f32],
    act: Activation,
    out: &[f32],
    pre: &[f32],
    grad_out: &mut [f32],
    grad_weight: &mut [f32],
    grad_bias: &mut [f32],
    grad_in: Option<&mut [f32]>,
    scratch: &mut [f32],
) {
    let total = n * g.positions();
    let grad_out = &mut grad_out[..total * g.cout];
    act_backward(grad_out, out, pre, Some(act), grad_bias);
    let grad_out = &*grad_out;
    let wt = Mat::rows(weight, g.patch(), g.cout).t();
    let patch = g.patch();
    if g.is_direct() {
        let coutp = g.cout_padded();
        let (dwpad, xpad) = scratch.split_at_mut(patch * coutp);
        pad_input(g, n, input, xpad);
        direct_weight_grad(g, n, xpad, grad_out, dwpad);
        for (dst, src) in grad_weight
            .chunks_exact_mut(g.cout)
            .zip(dwpad.chunks_exact(coutp))
        {
            dst.copy_from_slice(&src[..g.cout]);
        }
        if let Some(gi) = grad_in {
            // Rare (a few channels after another parametrised layer): unfolded product.
            gi[..n * g.hin * g.win * g.cin].fill(0.0);
            let tile = g.tile_positions().min(scratch.len() / patch);
            let mut first = 0;
            while first < total {
                let count = tile.min(total - first);
                let dz = Mat::rows(
                    &grad_out[first * g.cout..(first + count) * g.cout],
                    count,
                    g.cout,
                );
                matmul(&mut scratch[..count * patch], dz, wt, false);
                col2im(g, scratch, first, count, gi);
                first += count;
            }
        }
        return;
    }
    if g.is_pointwise() {
        let x = Mat::rows(&input[..total * g.cin], total, g.cin);
        matmul(
            grad_weight,
            x.t(),
            Mat::rows(grad_out, total, g.cout),
            false,
        );
        if let Some(grad_in) = grad_in {
            matmul(grad_in, Mat::rows(grad_out, total, g.cout), wt, false);
        }
        return;
    }
    let mut grad_in = grad_in;
    if let Some(gi) = grad_in.as_deref_mut() {
        gi[..n * g.hin * g.win * g.cin].fill(0.0);
    }
    let tile = g.tile_positions();
    let mut first = 0;
    while first < total {
        let count = tile.min(total - first);
        let dz = Mat::rows(
            &grad_out[first * g.cout..(first + count) * g.cout],
            count,
            g.cout,
        );
        im2col(g, input, first, count, scratch);
        matmul(
            grad_weight,
            Mat::rows(&scratch[..count * patch], count, patch).t(),
            dz,
            first > 0,
        );
        if let Some(gi) = grad_in.as_deref_mut() {
            matmul(&mut scratch[..count * patch], dz, wt, false);
            col2im(g, scratch, first, count, gi);
        }
        first += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution in f64, NHWC, for checking.
    fn direct(g: &ConvGeom, n: usize, x: &[f32], w: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0f64; n * g.positions() * g.cout];
        for img in 0..n {
            for oy in 0..g.hout {
                for ox in 0..g.wout {
                    for co in 0..g.cout {
                        let mut s = 0.0f64;
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                let iy = oy as isize + ky as isize - g.pad as isize;
                                let ix = ox as isize + kx as isize - g.pad as isize;
                                if iy < 0 || ix < 0 || iy >= g.hin as isize || ix >= g.win as isize
                                {
                                    continue;
                                }
                                for ci in 0..g.cin {
                                    let xi = ((img * g.hin + iy as usize) * g.win + ix as usize)
                                        * g.cin
                                        + ci;
                                    let wi = ((ky * g.k + kx) * g.cin + ci) * g.cout + co;
                                    s += f64::from(x[xi]) * f64::from(w[wi]);
                                }
                            }
                        }
                        out[((img * g.hout + oy) * g.wout + ox) * g.cout + co] = s;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_a_direct_convolution() {
        for (cin, k, pad, hin, win) in [
            (1, 3, 1, 5, 6),
            (3, 3, 0, 5, 6),
            (5, 3, 1, 5, 6),
            (6, 5, 2, 4, 3),
            (4, 5, 2, 4, 3),
            (3, 1, 0, 3, 3),
            (7, 2, 0, 4, 4),
        ] {
            let (cout, n) = (17, 2);
            let g = ConvGeom {
                cin,
                cout,
                k,
                pad,
                hin,
                win,
                hout: hin + 2 * pad + 1 - k,
                wout: win + 2 * pad + 1 - k,
            };
            let x: Vec<f32> = (0..n * hin * win * cin)
                .map(|i| ((i * 31 % 17) as f32 - 8.0) / 9.0)
                .collect();
            let w: Vec<f32> = (0..g.patch() * cout)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 11.0)
                .collect();
            let want = direct(&g, n, &x, &w);
            let mut out = vec![0.0; want.len()];
            let mut scratch = vec![0.0; g.scratch_len(n)];
            // GELU keeps the pre-activation: the convolution itself.
            let mut pre = vec![0.0; want.len()];
            forward(
                &g,
                n,
                &x,
                &w,
                &vec![0.0; cout],
                Activation::Gelu,
                &mut out,
                &mut pre,
                &mut scratch,
            );
            for (a, b) in pre.iter().zip(&want) {
                assert!(
                    (f64::from(*a) - b).abs() < 1e-5,
                    "cin={cin} k={k} pad={pad}: {a} vs {b}"
                );
            }
        }
    }
}
