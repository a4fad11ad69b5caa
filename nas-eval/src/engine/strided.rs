//! Strided convolution without bias on channels-last feature maps (`torch.nn.Conv2d(cin,
//! cout, k, stride, padding, bias=False)`): the stride-2 convolution of NAS-Bench-201's
//! residual reduction block (Dong & Yang, ICLR 2020: ReLU → 3x3 conv stride 2 → BN),
//! which the engine's stride-1 kernels ([`super::conv`]) do not cover.
//!
//! # Numerics
//!
//! Each value is one chain of correctly rounded fused multiply-adds
//! ([`fma`](super::simd::fma)) in the order of the engine's contract for convolutions:
//! an output `(y, x, co)` chains `x[..][ci] · w[(ky, kx, ci)][co]` for `ky`, then `kx`,
//! then `ci`, skipping taps in the padding (products with zero); an input gradient
//! chains `dy[..][co] · w[(ky, kx, ci)][co]` over the taps `(ky, kx)` whose output reads
//! it, then `co`; a weight gradient chains over the micro-batch's images, then the
//! output positions in row-major order. The loops over output channels hold one chain
//! per channel, so vectorising them changes no bit.
//!
//! The networks run [`forward_fast`] and [`backward_fast`]: the patches unfolded
//! (im2col) and the engine's fixed-order matrix products, with the forward values and the
//! weight gradient bit-identical to the direct loops here (kept as the tests'
//! reference), and the input gradient in its own documented order.

use super::gemm::{Mat, matmul};
use super::simd::SimdPath;
#[cfg(test)]
use super::simd::fma;

/// One layer's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StridedGeom {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Input rows.
    pub hin: usize,
    /// Input columns.
    pub win: usize,
    /// Filter size.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl StridedGeom {
    /// Output rows: `(hin + 2 pad − k) / stride + 1`, as PyTorch.
    pub fn hout(&self) -> usize {
        (self.hin + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Output columns.
    pub fn wout(&self) -> usize {
        (self.win + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Values per input image.
    pub fn in_len(&self) -> usize {
        self.hin * self.win * self.cin
    }
    /// Values per output image.
    #[cfg(test)]
    pub fn out_len(&self) -> usize {
        self.hout() * self.wout() * self.cout
    }
    /// Weights: `(k · k · cin) x cout`, row `(ky, kx, ci)`.
    pub fn weight_len(&self) -> usize {
        self.k * self.k * self.cin * self.cout
    }
    /// The input row (or column) that tap `t` of output `o` reads, if inside `0..n`.
    fn tap(&self, o: usize, t: usize, n: usize) -> Option<usize> {
        (o * self.stride + t)
            .checked_sub(self.pad)
            .filter(|&i| i < n)
    }
    /// The output that reads input `i` through tap `t`, if any.
    #[cfg(test)]
    fn reader(&self, i: usize, t: usize, n_out: usize) -> Option<usize> {
        let num = (i + self.pad).checked_sub(t)?;
        (num % self.stride == 0 && num / self.stride < n_out).then_some(num / self.stride)
    }
}

/// Forward over `n` images into `out` (`n x hout x wout x cout`).
#[cfg(test)]
pub(crate) fn forward(g: &StridedGeom, n: usize, x: &[f32], w: &[f32], out: &mut [f32]) {
    let (cin, cout, k) = (g.cin, g.cout, g.k);
    let (hout, wout) = (g.hout(), g.wout());
    for img in 0..n {
        let x = &x[img * g.in_len()..(img + 1) * g.in_len()];
        let out = &mut out[img * g.out_len()..(img + 1) * g.out_len()];
        for oy in 0..hout {
            for ox in 0..wout {
                let o = &mut out[(oy * wout + ox) * cout..(oy * wout + ox + 1) * cout];
                o.fill(0.0);
                for ky in 0..k {
                    let Some(iy) = g.tap(oy, ky, g.hin) else {
                        continue;
                    };
                    for kx in 0..k {
                        let Some(ix) = g.tap(ox, kx, g.win) else {
                            continue;
                        };
                        let xi = &x[(iy * g.win + ix) * cin..(iy * g.win + ix + 1) * cin];
                        for (ci, &a) in xi.iter().enumerate() {
                            let row = ((ky * k + kx) * cin + ci) * cout;
                            for (o, &b) in o.iter_mut().zip(&w[row..row + cout]) {
                                *o = fma(a, b, *o);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Input gradient over `n` images (written, or continued from `dx` when `accumulate`).
#[cfg(test)]
pub(crate) fn backward_input(
    g: &StridedGeom,
    n: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let (cin, cout, k) = (g.cin, g.cout, g.k);
    let (hout, wout) = (g.hout(), g.wout());
    for img in 0..n {
        let dy = &dy[img * g.out_len()..(img + 1) * g.out_len()];
        let dx = &mut dx[img * g.in_len()..(img + 1) * g.in_len()];
        for iy in 0..g.hin {
            for ix in 0..g.win {
                let d = &mut dx[(iy * g.win + ix) * cin..(iy * g.win + ix + 1) * cin];
                if !accumulate {
                    d.fill(0.0);
                }
                for ky in 0..k {
                    let Some(oy) = g.reader(iy, ky, hout) else {
                        continue;
                    };
                    for kx in 0..k {
                        let Some(ox) = g.reader(ix, kx, wout) else {
                            continue;
                        };
                        let gi = &dy[(oy * wout + ox) * cout..(oy * wout + ox + 1) * cout];
                        for (ci, d) in d.iter_mut().enumerate() {
                            let row = ((ky * k + kx) * cin + ci) * cout;
                            for (&a, &b) in gi.iter().zip(&w[row..row + cout]) {
                                *d = fma(a, b, *d);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Weight gradient of `n` images, continued from `dw`'s values (zero it for a fresh
/// sum).
#[cfg(test)]
pub(crate) fn backward_weight(g: &StridedGeom, n: usize, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (cin, cout, k) = (g.cin, g.cout, g.k);
    let (hout, wout) = (g.hout(), g.wout());
    for ky in 0..k {
        for kx in 0..k {
            for ci in 0..cin {
                let row = ((ky * k + kx) * cin + ci) * cout;
                let d = &mut dw[row..row + cout];
                for img in 0..n {
                    let x = &x[img * g.in_len()..(img + 1) * g.in_len()];
                    let dy = &dy[img * g.out_len()..(img + 1) * g.out_len()];
                    for oy in 0..hout {
                        let Some(iy) = g.tap(oy, ky, g.hin) else {
                            continue;
                        };
                        for ox in 0..wout {
                            let Some(ix) = g.tap(ox, kx, g.win) else {
                                continue;
                            };
                            let a = x[(iy * g.win + ix) * cin + ci];
                            let gi = &dy[(oy * wout + ox) * cout..(oy * wout + ox + 1) * cout];
                            for (d, &b) in d.iter_mut().zip(gi) {
                                *d = fma(a, b, *d);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Unfolds `n` images into `patches` (`n · hout · wout` rows of `k · k · cin`, row
/// `(img, oy, ox)`, column `(ky, kx, ci)`, zero where a tap falls in the padding).
fn unfold(g: &StridedGeom, n: usize, x: &[f32], patches: &mut [f32]) {
    let (cin, k) = (g.cin, g.k);
    let (hout, wout) = (g.hout(), g.wout());
    let kk = k * k * cin;
    for img in 0..n {
        let x = &x[img * g.in_len()..(img + 1) * g.in_len()];
        for oy in 0..hout {
            for ox in 0..wout {
                let row = &mut patches[((img * hout + oy) * wout + ox) * kk..][..kk];
                for ky in 0..k {
                    for kx in 0..k {
                        let dst = &mut row[(ky * k + kx) * cin..][..cin];
                        match (g.tap(oy, ky, g.hin), g.tap(ox, kx, g.win)) {
                            (Some(iy), Some(ix)) => {
                                dst.copy_from_slice(&x[(iy * g.win + ix) * cin..][..cin])
                            }
                            _ => dst.fill(0.0),
                        }
                    }
                }
            }
        }
    }
}

/// Floats of the unfolded patches of `n` images (the scratch [`forward_fast`] and
/// [`backward_fast`] need).
pub(crate) fn patches_len(g: &StridedGeom, n: usize) -> usize {
    n * g.hout() * g.wout() * g.k * g.k * g.cin
}

/// [`forward`] as one matrix product of the unfolded patches (`patches`, see
/// [`patches_len`]) with the weight: the same chains (padding taps are products with
/// zero, which leave a chain's value unchanged), the same bits, on the engine's
/// vectorised product kernels.
pub(crate) fn forward_fast(
    path: SimdPath,
    g: &StridedGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
    patches: &mut [f32],
) {
    let rows = n * g.hout() * g.wout();
    let kk = g.k * g.k * g.cin;
    unfold(g, n, x, patches);
    matmul(
        path,
        &mut out[..rows * g.cout],
        Mat::rows(&patches[..rows * kk], rows, kk),
        Mat::rows(&w[..kk * g.cout], kk, g.cout),
        false,
    );
}

/// The gradients of [`forward_fast`] over `n` images: the weight gradient written to
/// `dw` (one chain per weight over the images, then the output positions: the bits of
/// [`backward_weight`]), and, when `dx` is given, the input gradient written to it or
/// (`true`) added to it. The input gradient is computed per patch entry (a chain over
/// the output channels, one product) and then gathered: every input sums the entries
/// that read it in output-position order, then tap order; a different order from
/// [`backward_input`] (its values agree to rounding), fixed, and the same on every
/// kernel family. `patches` and `dpatches` are scratch of [`patches_len`] floats.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_fast(
    path: SimdPath,
    g: &StridedGeom,
    n: usize,
    x: &[f32],
    dy: &[f32],
    w: &[f32],
    dw: &mut [f32],
    dx: Option<(&mut [f32], bool)>,
    patches: &mut [f32],
    dpatches: &mut [f32],
) {
    let (hout, wout) = (g.hout(), g.wout());
    let rows = n * hout * wout;
    let (cin, k) = (g.cin, g.k);
    let kk = k * k * cin;
    let dy = Mat::rows(&dy[..rows * g.cout], rows, g.cout);
    unfold(g, n, x, patches);
    matmul(
        path,
        &mut dw[..kk * g.cout],
        Mat::rows(&patches[..rows * kk], rows, kk).t(),
        dy,
        false,
    );
    let Some((dx, accumulate)) = dx else {
        return;
    };
    matmul(
        path,
        &mut dpatches[..rows * kk],
        dy,
        Mat::rows(&w[..kk * g.cout], kk, g.cout).t(),
        false,
    );
    let dx = &mut dx[..n * g.in_len()];
    if !accumulate {
        dx.fill(0.0);
    }
    for img in 0..n {
        let dxi = &mut dx[img * g.in_len()..(img + 1) * g.in_len()];
        for oy in 0..hout {
            for ox in 0..wout {
                let row = &dpatches[((img * hout + oy) * wout + ox) * kk..][..kk];
                for ky in 0..k {
                    let Some(iy) = g.tap(oy, ky, g.hin) else {
                        continue;
                    };
                    for kx in 0..k {
                        let Some(ix) = g.tap(ox, kx, g.win) else {
                            continue;
                        };
                        let d = &mut dxi[(iy * g.win + ix) * cin..][..cin];
                        for (d, &v) in d.iter_mut().zip(&row[(ky * k + kx) * cin..][..cin]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{nchw, nhwc, noise};
    use super::*;
    use candle_core::{Device, Tensor, Var};

    struct Run {
        x: Vec<f32>,
        w: Vec<f32>,
        wts: Vec<f32>,
        out: Vec<f32>,
        dx: Vec<f32>,
        dw: Vec<f32>,
    }

    fn run(g: &StridedGeom, n: usize, seed: u64) -> Run {
        let mut s = seed;
        let x: Vec<f32> = (0..n * g.in_len()).map(|_| noise(&mut s)).collect();
        let w: Vec<f32> = (0..g.weight_len()).map(|_| noise(&mut s)).collect();
        let wts: Vec<f32> = (0..n * g.out_len()).map(|_| noise(&mut s)).collect();
        let mut out = vec![0.0; n * g.out_len()];
        forward(g, n, &x, &w, &mut out);
        let mut dx = vec![0.0; x.len()];
        backward_input(g, n, &wts, &w, &mut dx, false);
        let mut dw = vec![0.0; w.len()];
        backward_weight(g, n, &x, &wts, &mut dw);
        Run {
            x,
            w,
            wts,
            out,
            dx,
            dw,
        }
    }

    fn geoms() -> Vec<StridedGeom> {
        let mut v = Vec::new();
        for (k, stride, pad) in [(3, 2, 1), (3, 1, 1), (1, 1, 0), (2, 2, 0), (5, 2, 2)] {
            for (hin, win) in [(8, 8), (7, 7), (5, 6), (2, 2)] {
                if hin + 2 * pad < k || win + 2 * pad < k {
                    continue;
                }
                v.push(StridedGeom {
                    cin: 3,
                    cout: 4,
                    hin,
                    win,
                    k,
                    stride,
                    pad,
                });
            }
        }
        v
    }

    /// Against candle's `conv2d` and its autograd (square maps only for strides above
    /// 1: candle 0.11's backward mis-sizes the input gradient of a strided non-square
    /// map; those are checked by finite differences below).
    #[test]
    fn agrees_with_candle() {
        let dev = &Device::Cpu;
        for g in geoms() {
            if g.stride > 1 && g.hin != g.win {
                continue;
            }
            let n = 2;
            let r = run(&g, n, 4);
            let xv = Var::from_tensor(&nchw(&r.x, (n, g.hin, g.win, g.cin))).unwrap();
            // PyTorch's layout: cout x cin x k x k.
            let wv = Var::from_tensor(
                &Tensor::from_slice(&r.w, (g.k, g.k, g.cin, g.cout), dev)
                    .unwrap()
                    .permute((3, 2, 0, 1))
                    .unwrap()
                    .contiguous()
                    .unwrap(),
            )
            .unwrap();
            let y = xv.conv2d(wv.as_tensor(), g.pad, g.stride, 1, 1).unwrap();
            let close = |what: &str, a: &[f32], b: &[f32]| {
                assert_eq!(a.len(), b.len(), "{what} {g:?}");
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (p - q).abs() <= 1e-5 * q.abs().max(1.0),
                        "{what}[{i}] {g:?}: {p} vs candle {q}"
                    );
                }
            };
            close("out", &r.out, &nhwc(&y));
            let wts = nchw(&r.wts, (n, g.hout(), g.wout(), g.cout));
            let grads = (y * wts).unwrap().sum_all().unwrap().backward().unwrap();
            close("dx", &r.dx, &nhwc(grads.get(xv.as_tensor()).unwrap()));
            let dw: Vec<f32> = grads
                .get(wv.as_tensor())
                .unwrap()
                .permute((2, 3, 1, 0))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            close("dw", &r.dw, &dw);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for g in geoms() {
            let n = 2;
            let r = run(&g, n, 6);
            let loss = |x: &[f32], w: &[f32]| -> f64 {
                let mut out = vec![0.0; n * g.out_len()];
                forward(&g, n, x, w, &mut out);
                out.iter()
                    .zip(&r.wts)
                    .map(|(&o, &v)| f64::from(o) * f64::from(v))
                    .sum()
            };
            let h = 1e-2f32;
            for j in 0..r.x.len() {
                let (mut a, mut b) = (r.x.clone(), r.x.clone());
                a[j] += h;
                b[j] -= h;
                let fd = (loss(&a, &r.w) - loss(&b, &r.w)) / (2.0 * f64::from(h));
                assert!((f64::from(r.dx[j]) - fd).abs() < 2e-3, "dx[{j}] {g:?}");
            }
            for j in 0..r.w.len() {
                let (mut a, mut b) = (r.w.clone(), r.w.clone());
                a[j] += h;
                b[j] -= h;
                let fd = (loss(&r.x, &a) - loss(&r.x, &b)) / (2.0 * f64::from(h));
                assert!((f64::from(r.dw[j]) - fd).abs() < 2e-3, "dw[{j}] {g:?}");
            }
        }
    }

    #[test]
    fn the_fast_path_keeps_the_bits_of_the_direct_loops() {
        for g in geoms() {
            let n = 3;
            let r = run(&g, n, 41);
            for path in SimdPath::supported() {
                let mut patches = vec![0.0; patches_len(&g, n)];
                let mut dpatches = vec![0.0; patches_len(&g, n)];
                let mut out = vec![0.0; n * g.out_len()];
                forward_fast(path, &g, n, &r.x, &r.w, &mut out, &mut patches);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out), bits(&r.out), "{g:?} {path}");
                let mut dw = vec![0.0; g.weight_len()];
                let mut dx = vec![0.5; n * g.in_len()];
                backward_fast(
                    path,
                    &g,
                    n,
                    &r.x,
                    &r.wts,
                    &r.w,
                    &mut dw,
                    Some((&mut dx, false)),
                    &mut patches,
                    &mut dpatches,
                );
                assert_eq!(bits(&dw), bits(&r.dw), "{g:?} {path}");
                for (a, b) in dx.iter().zip(&r.dx) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{g:?} {path}: {a} vs {b}"
                    );
                }
                // Added to what the gradient held (entry by entry: the rounding differs
                // from adding the finished sum).
                let mut dx2 = vec![0.5; n * g.in_len()];
                backward_fast(
                    path,
                    &g,
                    n,
                    &r.x,
                    &r.wts,
                    &r.w,
                    &mut dw,
                    Some((&mut dx2, true)),
                    &mut patches,
                    &mut dpatches,
                );
                for (a, b) in dx2.iter().zip(&dx) {
                    assert!(
                        (a - (b + 0.5)).abs() <= 1e-6 * (1.0 + b.abs()),
                        "{a} vs {b}"
                    );
                }
            }
        }
    }
}
