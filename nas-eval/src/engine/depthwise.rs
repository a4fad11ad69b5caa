//! Depthwise convolution on channels-last feature maps: each channel convolved with its
//! own `k x k` filter (`torch.nn.Conv2d(c, c, k, stride, padding=k // 2, groups=c,
//! bias=False)`), the middle layer of a MobileNetV2 inverted residual block (Sandler et
//! al., CVPR 2018), which NAS-Bench-Macro's blocks use with k = 3 and 5 and stride 1 or 2.
//!
//! # Numerics
//!
//! Each value is one chain of correctly rounded fused multiply-adds
//! ([`fma`](super::simd::fma)) in a fixed order, like the engine's other sums of
//! products: an output `(y, x, c)` chains its taps in row-major `(ky, kx)` order,
//! skipping taps that fall in the padding; an input gradient chains the taps of the
//! outputs that read it in the same order; a weight gradient `(ky, kx, c)` chains over
//! the images of the micro-batch, then the output positions in row-major order. Skipped
//! padding taps are products with zero, so the sums are those of the padded definition.

use super::simd::fma;

/// One depthwise layer's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DwGeom {
    /// Channels (in and out).
    pub c: usize,
    /// Input rows.
    pub hin: usize,
    /// Input columns.
    pub win: usize,
    /// Filter size (odd).
    pub k: usize,
    /// Stride (1 or 2).
    pub stride: usize,
}

impl DwGeom {
    /// Padding on every side: `k / 2`.
    pub fn pad(&self) -> usize {
        self.k / 2
    }
    /// Output rows: `(hin + 2 pad − k) / stride + 1`, as PyTorch.
    pub fn hout(&self) -> usize {
        (self.hin + 2 * self.pad() - self.k) / self.stride + 1
    }
    /// Output columns.
    pub fn wout(&self) -> usize {
        (self.win + 2 * self.pad() - self.k) / self.stride + 1
    }
    /// Values per input image.
    pub fn in_len(&self) -> usize {
        self.hin * self.win * self.c
    }
    /// Values per output image.
    pub fn out_len(&self) -> usize {
        self.hout() * self.wout() * self.c
    }
    /// Weights: `k x k x c`.
    pub fn weight_len(&self) -> usize {
        self.k * self.k * self.c
    }
    /// The input row (or column) tap `t` of output `o` reads, if it is inside `0..n`.
    fn tap(&self, o: usize, t: usize, n: usize) -> Option<usize> {
        (o * self.stride + t)
            .checked_sub(self.pad())
            .filter(|&i| i < n)
    }
}

/// Forward over `n` images: `out[y][x][c] = Σ_(ky,kx) x[y s + ky − p][x s + kx − p][c]
/// · w[ky][kx][c]`.
pub(crate) fn forward(g: &DwGeom, n: usize, x: &[f32], w: &[f32], out: &mut [f32]) {
    let (c, k) = (g.c, g.k);
    let (hout, wout) = (g.hout(), g.wout());
    for img in 0..n {
        let x = &x[img * g.in_len()..(img + 1) * g.in_len()];
        let out = &mut out[img * g.out_len()..(img + 1) * g.out_len()];
        for oy in 0..hout {
            for ox in 0..wout {
                let o = &mut out[(oy * wout + ox) * c..(oy * wout + ox + 1) * c];
                o.fill(0.0);
                for ky in 0..k {
                    let Some(iy) = g.tap(oy, ky, g.hin) else {
                        continue;
                    };
                    for kx in 0..k {
                        let Some(ix) = g.tap(ox, kx, g.win) else {
                            continue;
                        };
                        let xi = &x[(iy * g.win + ix) * c..(iy * g.win + ix + 1) * c];
                        let wi = &w[(ky * k + kx) * c..(ky * k + kx + 1) * c];
                        for ((o, &a), &b) in o.iter_mut().zip(xi).zip(wi) {
                            *o = fma(a, b, *o);
                        }
                    }
                }
            }
        }
    }
}

/// Input gradient over `n` images: `dx[iy][ix][c]` chains `dy[oy][ox][c] · w[ky][kx][c]`
/// over the taps `(ky, kx)` (row-major) whose output reads `(iy, ix)`; written, or
/// continued from `dx`'s value when `accumulate`.
pub(crate) fn backward_input(
    g: &DwGeom,
    n: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let (c, k, s, p) = (g.c, g.k, g.stride, g.pad());
    let (hout, wout) = (g.hout(), g.wout());
    // Output index o reading input i through tap t: o s + t − p = i.
    let out_of = |i: usize, t: usize, n_out: usize| {
        let num = (i + p).checked_sub(t)?;
        (num % s == 0 && num / s < n_out).then_some(num / s)
    };
    for img in 0..n {
        let dy = &dy[img * g.out_len()..(img + 1) * g.out_len()];
        let dx = &mut dx[img * g.in_len()..(img + 1) * g.in_len()];
        for iy in 0..g.hin {
            for ix in 0..g.win {
                let d = &mut dx[(iy * g.win + ix) * c..(iy * g.win + ix + 1) * c];
                if !accumulate {
                    d.fill(0.0);
                }
                for ky in 0..k {
                    let Some(oy) = out_of(iy, ky, hout) else {
                        continue;
                    };
                    for kx in 0..k {
                        let Some(ox) = out_of(ix, kx, wout) else {
                            continue;
                        };
                        let gi = &dy[(oy * wout + ox) * c..(oy * wout + ox + 1) * c];
                        let wi = &w[(ky * k + kx) * c..(ky * k + kx + 1) * c];
                        for ((d, &a), &b) in d.iter_mut().zip(gi).zip(wi) {
                            *d = fma(a, b, *d);
                        }
                    }
                }
            }
        }
    }
}

/// Weight gradient of `n` images: `dw[ky][kx][c]` chains `x[..][c] · dy[oy][ox][c]` over
/// the images, then the output positions in row-major order (padding taps skipped),
/// continuing from `dw`'s value (zero it first for a fresh sum).
pub(crate) fn backward_weight(g: &DwGeom, n: usize, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (c, k) = (g.c, g.k);
    let (hout, wout) = (g.hout(), g.wout());
    for ky in 0..k {
        for kx in 0..k {
            let d = &mut dw[(ky * k + kx) * c..(ky * k + kx + 1) * c];
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
                        let xi = &x[(iy * g.win + ix) * c..(iy * g.win + ix + 1) * c];
                        let gi = &dy[(oy * wout + ox) * c..(oy * wout + ox + 1) * c];
                        for ((d, &a), &b) in d.iter_mut().zip(xi).zip(gi) {
                            *d = fma(a, b, *d);
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

    /// The layer and the gradients of `Σ wts·out` for random data.
    struct Run {
        x: Vec<f32>,
        w: Vec<f32>,
        wts: Vec<f32>,
        out: Vec<f32>,
        dx: Vec<f32>,
        dw: Vec<f32>,
    }

    fn run(g: &DwGeom, n: usize, seed: u64) -> Run {
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

    fn geoms() -> Vec<DwGeom> {
        let mut v = Vec::new();
        for (k, stride) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
            for (hin, win) in [(7, 6), (4, 4), (1, 2)] {
                v.push(DwGeom {
                    c: 3,
                    hin,
                    win,
                    k,
                    stride,
                });
            }
        }
        v
    }

    /// Against candle's grouped `conv2d` (groups = channels) and its autograd. candle
    /// 0.11's conv2d backward sizes the input gradient's columns from the rows' output
    /// padding, so a strided layer on a non-square map fails there ("shape mismatch in
    /// add"): those geometries are checked by finite differences only.
    #[test]
    fn agrees_with_candle_grouped_conv() {
        let dev = &Device::Cpu;
        for g in geoms() {
            if g.stride > 1 && g.hin != g.win {
                continue;
            }
            let n = 2;
            let r = run(&g, n, 3);
            let xv = Var::from_tensor(&nchw(&r.x, (n, g.hin, g.win, g.c))).unwrap();
            // PyTorch's layout: c x 1 x k x k.
            let wv = Var::from_tensor(
                &Tensor::from_slice(&r.w, (g.k, g.k, g.c), dev)
                    .unwrap()
                    .permute((2, 0, 1))
                    .unwrap()
                    .reshape((g.c, 1, g.k, g.k))
                    .unwrap(),
            )
            .unwrap();
            let y = xv
                .conv2d(wv.as_tensor(), g.pad(), g.stride, 1, g.c)
                .unwrap();
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
            let wts = nchw(&r.wts, (n, g.hout(), g.wout(), g.c));
            let grads = (y * wts).unwrap().sum_all().unwrap().backward().unwrap();
            close("dx", &r.dx, &nhwc(grads.get(xv.as_tensor()).unwrap()));
            let dw: Vec<f32> = grads
                .get(wv.as_tensor())
                .unwrap()
                .reshape((g.c, g.k, g.k))
                .unwrap()
                .permute((1, 2, 0))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            close("dw", &r.dw, &dw);
        }
    }

    /// Central differences of `Σ wts·out` in f64 (the layer is linear in x and in w, so
    /// the differences are exact up to rounding).
    #[test]
    fn gradients_match_finite_differences() {
        for g in geoms() {
            let n = 2;
            let r = run(&g, n, 8);
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
                assert!((f64::from(r.dx[j]) - fd).abs() < 1e-3, "dx[{j}] {g:?}");
            }
            for j in 0..r.w.len() {
                let (mut a, mut b) = (r.w.clone(), r.w.clone());
                a[j] += h;
                b[j] -= h;
                let fd = (loss(&r.x, &a) - loss(&r.x, &b)) / (2.0 * f64::from(h));
                assert!((f64::from(r.dw[j]) - fd).abs() < 1e-3, "dw[{j}] {g:?}");
            }
        }
    }

    #[test]
    fn output_sizes_follow_pytorch() {
        let g = |hin, k, stride| DwGeom {
            c: 1,
            hin,
            win: hin,
            k,
            stride,
        };
        assert_eq!(g(32, 3, 1).hout(), 32);
        assert_eq!(g(32, 3, 2).hout(), 16);
        assert_eq!(g(7, 5, 2).hout(), 4);
        assert_eq!(g(1, 5, 2).hout(), 1);
    }
}
