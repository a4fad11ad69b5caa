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
//!
//! The vector kernels ([`Kernel`]s run by [`dispatch`]) compute the same chains, lane by
//! lane, with the vector FMA instruction (correctly rounded like [`fma`]), channels in
//! vectors of the family's width: every kernel family gives the scalar code's bits.

// Vector loads and stores of channel runs (bounds checked by slicing first).
#![allow(unsafe_code)]

use super::simd::{Kernel, Simd, SimdPath, dispatch, fma};

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

/// Forward over `n` images on the kernel family `path` (every family gives the same
/// bits: each lane is the scalar chain of correctly rounded FMAs):
/// `out[y][x][c] = Σ_(ky,kx) x[y s + ky − p][x s + kx − p][c] · w[ky][kx][c]`.
pub(crate) fn forward(path: SimdPath, g: &DwGeom, n: usize, x: &[f32], w: &[f32], out: &mut [f32]) {
    assert!(x.len() >= n * g.in_len() && out.len() >= n * g.out_len() && w.len() >= g.weight_len());
    dispatch(path, Forward { g, n, x, w, out });
}

/// Input gradient over `n` images on `path`, as [`backward_input_scalar`] (the same bits).
pub(crate) fn backward_input(
    path: SimdPath,
    g: &DwGeom,
    n: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    assert!(dx.len() >= n * g.in_len() && dy.len() >= n * g.out_len() && w.len() >= g.weight_len());
    dispatch(
        path,
        BackwardInput {
            g,
            n,
            dy,
            w,
            dx,
            accumulate,
        },
    );
}

/// Weight gradient of `n` images on `path`, as [`backward_weight_scalar`] (the same bits).
pub(crate) fn backward_weight(
    path: SimdPath,
    g: &DwGeom,
    n: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
) {
    assert!(x.len() >= n * g.in_len() && dy.len() >= n * g.out_len() && dw.len() >= g.weight_len());
    dispatch(path, BackwardWeight { g, n, x, dy, dw });
}

/// `m <= S::LANES` values at `p` (zeros in the other lanes).
///
/// # Safety
/// `p..p + m` must be readable.
#[inline(always)]
unsafe fn load<S: Simd>(s: S, p: *const f32, m: usize) -> S::V {
    // SAFETY: forwarded to the caller.
    unsafe {
        if m == S::LANES {
            s.load(p)
        } else {
            s.load_part(p, m)
        }
    }
}

/// Stores the first `m <= S::LANES` lanes of `v` at `p`.
///
/// # Safety
/// `p..p + m` must be writable.
#[inline(always)]
unsafe fn store<S: Simd>(s: S, p: *mut f32, v: S::V, m: usize) {
    // SAFETY: forwarded to the caller.
    unsafe {
        if m == S::LANES {
            s.store(p, v)
        } else {
            s.store_part(p, v, m)
        }
    }
}

struct Forward<'a> {
    g: &'a DwGeom,
    n: usize,
    x: &'a [f32],
    w: &'a [f32],
    out: &'a mut [f32],
}

impl Kernel for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let Forward { g, n, x, w, out } = self;
        let (c, k) = (g.c, g.k);
        let (hout, wout) = (g.hout(), g.wout());
        for img in 0..n {
            let x = &x[img * g.in_len()..(img + 1) * g.in_len()];
            let out = &mut out[img * g.out_len()..(img + 1) * g.out_len()];
            for oy in 0..hout {
                for ox in 0..wout {
                    let o = &mut out[(oy * wout + ox) * c..(oy * wout + ox + 1) * c];
                    for c0 in (0..c).step_by(S::LANES) {
                        let m = (c - c0).min(S::LANES);
                        let mut acc = s.zero();
                        for ky in 0..k {
                            let Some(iy) = g.tap(oy, ky, g.hin) else {
                                continue;
                            };
                            for kx in 0..k {
                                let Some(ix) = g.tap(ox, kx, g.win) else {
                                    continue;
                                };
                                let xi = &x[(iy * g.win + ix) * c + c0..][..m];
                                let wi = &w[(ky * k + kx) * c + c0..][..m];
                                // SAFETY: both slices hold `m` values.
                                let (a, b) =
                                    unsafe { (load(s, xi.as_ptr(), m), load(s, wi.as_ptr(), m)) };
                                acc = s.fma(a, b, acc);
                            }
                        }
                        // SAFETY: `o[c0..]` holds `m` values.
                        unsafe { store(s, o[c0..][..m].as_mut_ptr(), acc, m) };
                    }
                }
            }
        }
    }

    fn run_scalar(self) {
        forward_scalar(self.g, self.n, self.x, self.w, self.out);
    }
}

struct BackwardInput<'a> {
    g: &'a DwGeom,
    n: usize,
    dy: &'a [f32],
    w: &'a [f32],
    dx: &'a mut [f32],
    accumulate: bool,
}

impl Kernel for BackwardInput<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let BackwardInput {
            g,
            n,
            dy,
            w,
            dx,
            accumulate,
        } = self;
        let (c, k, st, p) = (g.c, g.k, g.stride, g.pad());
        let (hout, wout) = (g.hout(), g.wout());
        let out_of = |i: usize, t: usize, n_out: usize| {
            let num = (i + p).checked_sub(t)?;
            (num % st == 0 && num / st < n_out).then_some(num / st)
        };
        for img in 0..n {
            let dy = &dy[img * g.out_len()..(img + 1) * g.out_len()];
            let dx = &mut dx[img * g.in_len()..(img + 1) * g.in_len()];
            for iy in 0..g.hin {
                for ix in 0..g.win {
                    let d = &mut dx[(iy * g.win + ix) * c..(iy * g.win + ix + 1) * c];
                    for c0 in (0..c).step_by(S::LANES) {
                        let m = (c - c0).min(S::LANES);
                        let dp = d[c0..][..m].as_mut_ptr();
                        let mut acc = if accumulate {
                            // SAFETY: `d[c0..]` holds `m` values.
                            unsafe { load(s, dp, m) }
                        } else {
                            s.zero()
                        };
                        for ky in 0..k {
                            let Some(oy) = out_of(iy, ky, hout) else {
                                continue;
                            };
                            for kx in 0..k {
                                let Some(ox) = out_of(ix, kx, wout) else {
                                    continue;
                                };
                                let gi = &dy[(oy * wout + ox) * c + c0..][..m];
                                let wi = &w[(ky * k + kx) * c + c0..][..m];
                                // SAFETY: both slices hold `m` values.
                                let (a, b) =
                                    unsafe { (load(s, gi.as_ptr(), m), load(s, wi.as_ptr(), m)) };
                                acc = s.fma(a, b, acc);
                            }
                        }
                        // SAFETY: `d[c0..]` holds `m` values.
                        unsafe { store(s, dp, acc, m) };
                    }
                }
            }
        }
    }

    fn run_scalar(self) {
        backward_input_scalar(self.g, self.n, self.dy, self.w, self.dx, self.accumulate);
    }
}

struct BackwardWeight<'a> {
    g: &'a DwGeom,
    n: usize,
    x: &'a [f32],
    dy: &'a [f32],
    dw: &'a mut [f32],
}

impl Kernel for BackwardWeight<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let BackwardWeight { g, n, x, dy, dw } = self;
        let (c, k) = (g.c, g.k);
        let (hout, wout) = (g.hout(), g.wout());
        for ky in 0..k {
            for kx in 0..k {
                let d = &mut dw[(ky * k + kx) * c..(ky * k + kx + 1) * c];
                for c0 in (0..c).step_by(S::LANES) {
                    let m = (c - c0).min(S::LANES);
                    let dp = d[c0..][..m].as_mut_ptr();
                    // SAFETY: `d[c0..]` holds `m` values.
                    let mut acc = unsafe { load(s, dp, m) };
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
                                let xi = &x[(iy * g.win + ix) * c + c0..][..m];
                                let gi = &dy[(oy * wout + ox) * c + c0..][..m];
                                // SAFETY: both slices hold `m` values.
                                let (a, b) =
                                    unsafe { (load(s, xi.as_ptr(), m), load(s, gi.as_ptr(), m)) };
                                acc = s.fma(a, b, acc);
                            }
                        }
                    }
                    // SAFETY: `d[c0..]` holds `m` values.
                    unsafe { store(s, dp, acc, m) };
                }
            }
        }
    }

    fn run_scalar(self) {
        backward_weight_scalar(self.g, self.n, self.x, self.dy, self.dw);
    }
}

/// The scalar reference of [`forward`]: `out[y][x][c] = Σ_(ky,kx) x[y s + ky − p][x s + kx − p][c]
/// · w[ky][kx][c]`.
fn forward_scalar(g: &DwGeom, n: usize, x: &[f32], w: &[f32], out: &mut [f32]) {
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

/// The scalar reference of [`backward_input`]: `dx[iy][ix][c]` chains `dy[oy][ox][c] · w[ky][kx][c]`
/// over the taps `(ky, kx)` (row-major) whose output reads `(iy, ix)`; written, or
/// continued from `dx`'s value when `accumulate`.
fn backward_input_scalar(
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

/// The scalar reference of [`backward_weight`]: `dw[ky][kx][c]` chains `x[..][c] · dy[oy][ox][c]` over
/// the images, then the output positions in row-major order (padding taps skipped),
/// continuing from `dw`'s value (zero it first for a fresh sum).
fn backward_weight_scalar(g: &DwGeom, n: usize, x: &[f32], dy: &[f32], dw: &mut [f32]) {
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
        forward(SimdPath::Scalar, g, n, &x, &w, &mut out);
        let mut dx = vec![0.0; x.len()];
        backward_input(SimdPath::Scalar, g, n, &wts, &w, &mut dx, false);
        let mut dw = vec![0.0; w.len()];
        backward_weight(SimdPath::Scalar, g, n, &x, &wts, &mut dw);
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
                forward(SimdPath::Scalar, &g, n, x, w, &mut out);
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

    #[test]
    fn every_kernel_family_gives_the_scalar_bits() {
        // Channel counts below, at and above a vector of 8 and 16 lanes, so that whole
        // and partial vectors both run.
        for c in [3, 8, 16, 21, 40] {
            for (k, stride) in [(3, 1), (5, 2)] {
                let g = DwGeom {
                    c,
                    hin: 7,
                    win: 6,
                    k,
                    stride,
                };
                let n = 2;
                let want = run(&g, n, 7 + c as u64);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                for path in SimdPath::supported() {
                    let mut out = vec![0.0; want.out.len()];
                    forward(path, &g, n, &want.x, &want.w, &mut out);
                    assert_eq!(bits(&out), bits(&want.out), "{path} forward c {c} k {k}");
                    // Accumulating: the chains continue from the values there (ones).
                    let mut dx = vec![0.0; want.dx.len()];
                    backward_input(path, &g, n, &want.wts, &want.w, &mut dx, false);
                    assert_eq!(bits(&dx), bits(&want.dx), "{path} input gradient c {c}");
                    let mut acc_scalar = vec![1.0; want.dx.len()];
                    backward_input(
                        SimdPath::Scalar,
                        &g,
                        n,
                        &want.wts,
                        &want.w,
                        &mut acc_scalar,
                        true,
                    );
                    let mut acc = vec![1.0; want.dx.len()];
                    backward_input(path, &g, n, &want.wts, &want.w, &mut acc, true);
                    assert_eq!(bits(&acc), bits(&acc_scalar), "{path} accumulated c {c}");
                    let mut dw = vec![0.5; want.dw.len()];
                    let mut dw_scalar = vec![0.5; want.dw.len()];
                    backward_weight(path, &g, n, &want.x, &want.wts, &mut dw);
                    backward_weight(SimdPath::Scalar, &g, n, &want.x, &want.wts, &mut dw_scalar);
                    assert_eq!(bits(&dw), bits(&dw_scalar), "{path} weight gradient c {c}");
                }
            }
        }
    }
}
