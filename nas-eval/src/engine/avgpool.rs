//! Average pooling on channels-last feature maps (`h x w x c` per image): NAS-Bench-201's
//! `avg_pool_3x3` (`torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)`:
//! the mean of the window's positions inside the map, so a corner averages 4 values and
//! an edge 6), the 2x2 stride-2 pooling of its residual block's shortcut, and the global
//! average pooling before a classifier.
//!
//! Every output is a sum in a fixed order (window rows, then columns) divided once by
//! the count; the backward pass gathers, for every input position, the output gradients
//! of the windows that contain it (in the same fixed order), each divided by its
//! window's count. Each value is its own sequence of IEEE operations: the same bits on
//! every kernel family.

/// A `h x w x c` feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MapGeom {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl MapGeom {
    /// Values per image.
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }
}

/// The rows (or columns) of a 3-wide window centred on `i` that lie in `0..n`.
fn span(i: usize, n: usize) -> std::ops::Range<usize> {
    i.saturating_sub(1)..(i + 2).min(n)
}

/// `avg_pool_3x3` forward over `n` images: `out` gets the mean of each 3x3 window's
/// positions inside the map.
pub(crate) fn forward_3x3(g: MapGeom, n: usize, x: &[f32], out: &mut [f32]) {
    let MapGeom { h, w, c } = g;
    for img in 0..n {
        let x = &x[img * g.len()..(img + 1) * g.len()];
        let out = &mut out[img * g.len()..(img + 1) * g.len()];
        for y in 0..h {
            for xx in 0..w {
                let o = &mut out[(y * w + xx) * c..(y * w + xx + 1) * c];
                o.fill(0.0);
                let (rows, cols) = (span(y, h), span(xx, w));
                let count = (rows.len() * cols.len()) as f32;
                for r in rows {
                    for q in cols.clone() {
                        let i = &x[(r * w + q) * c..(r * w + q + 1) * c];
                        for (o, &v) in o.iter_mut().zip(i) {
                            *o += v;
                        }
                    }
                }
                for o in o.iter_mut() {
                    *o /= count;
                }
            }
        }
    }
}

/// `avg_pool_3x3` backward: `dx` gets, at every input position, the sum over the
/// windows containing it of their output gradient divided by their count; added to
/// `dx` when `accumulate`, else written.
pub(crate) fn backward_3x3(g: MapGeom, n: usize, dy: &[f32], dx: &mut [f32], accumulate: bool) {
    let MapGeom { h, w, c } = g;
    let count = |y: usize, x: usize| (span(y, h).len() * span(x, w).len()) as f32;
    for img in 0..n {
        let dy = &dy[img * g.len()..(img + 1) * g.len()];
        let dx = &mut dx[img * g.len()..(img + 1) * g.len()];
        for y in 0..h {
            for xx in 0..w {
                let d = &mut dx[(y * w + xx) * c..(y * w + xx + 1) * c];
                if !accumulate {
                    d.fill(0.0);
                }
                // The windows containing (y, xx) are centred on its neighbours.
                for r in span(y, h) {
                    for q in span(xx, w) {
                        let k = count(r, q);
                        let o = &dy[(r * w + q) * c..(r * w + q + 1) * c];
                        for (d, &v) in d.iter_mut().zip(o) {
                            *d += v / k;
                        }
                    }
                }
            }
        }
    }
}

/// 2x2 average pooling with stride 2 (`torch.nn.AvgPool2d(2, 2)`, the shortcut of
/// NAS-Bench-201's residual reduction block) over `n` images of geometry `g`: the output
/// is `h/2 x w/2 x c` (an odd last row or column is dropped, as PyTorch), each value the
/// sum of its window in row-major order divided by 4.
pub(crate) fn forward_2x2(g: MapGeom, n: usize, x: &[f32], out: &mut [f32]) {
    let MapGeom { h, w, c } = g;
    let (ho, wo) = (h / 2, w / 2);
    for img in 0..n {
        let x = &x[img * g.len()..(img + 1) * g.len()];
        let out = &mut out[img * ho * wo * c..(img + 1) * ho * wo * c];
        for oy in 0..ho {
            for ox in 0..wo {
                let o = &mut out[(oy * wo + ox) * c..(oy * wo + ox + 1) * c];
                o.fill(0.0);
                for (r, q) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let p = ((2 * oy + r) * w + 2 * ox + q) * c;
                    for (o, &v) in o.iter_mut().zip(&x[p..p + c]) {
                        *o += v;
                    }
                }
                for o in o.iter_mut() {
                    *o /= 4.0;
                }
            }
        }
    }
}

/// Backward of [`forward_2x2`]: each input of a window gets the window's output
/// gradient divided by 4; a dropped last row or column gets 0 (written, or added to
/// when `accumulate`).
pub(crate) fn backward_2x2(g: MapGeom, n: usize, dy: &[f32], dx: &mut [f32], accumulate: bool) {
    let MapGeom { h, w, c } = g;
    let (ho, wo) = (h / 2, w / 2);
    for img in 0..n {
        let dy = &dy[img * ho * wo * c..(img + 1) * ho * wo * c];
        let dx = &mut dx[img * g.len()..(img + 1) * g.len()];
        for y in 0..h {
            for xx in 0..w {
                let d = &mut dx[(y * w + xx) * c..(y * w + xx + 1) * c];
                let (oy, ox) = (y / 2, xx / 2);
                if oy >= ho || ox >= wo {
                    if !accumulate {
                        d.fill(0.0);
                    }
                    continue;
                }
                let o = &dy[(oy * wo + ox) * c..(oy * wo + ox + 1) * c];
                for (d, &v) in d.iter_mut().zip(o) {
                    *d = if accumulate { *d + v / 4.0 } else { v / 4.0 };
                }
            }
        }
    }
}

/// Global average pooling over `n` images: `out` (`n x c`) gets each channel's mean
/// over the map's positions (summed in row-major order, divided once).
pub(crate) fn global_forward(g: MapGeom, n: usize, x: &[f32], out: &mut [f32]) {
    let (c, hw) = (g.c, (g.h * g.w) as f32);
    for img in 0..n {
        let o = &mut out[img * c..(img + 1) * c];
        o.fill(0.0);
        for p in x[img * g.len()..(img + 1) * g.len()].chunks_exact(c) {
            for (o, &v) in o.iter_mut().zip(p) {
                *o += v;
            }
        }
        for o in o.iter_mut() {
            *o /= hw;
        }
    }
}

/// Global average pooling backward: every position of an image gets its channel's
/// output gradient divided by the number of positions (written, or added when
/// `accumulate`).
pub(crate) fn global_backward(g: MapGeom, n: usize, dy: &[f32], dx: &mut [f32], accumulate: bool) {
    let (c, hw) = (g.c, (g.h * g.w) as f32);
    for img in 0..n {
        let d = &dy[img * c..(img + 1) * c];
        for p in dx[img * g.len()..(img + 1) * g.len()].chunks_exact_mut(c) {
            for (p, &v) in p.iter_mut().zip(d) {
                *p = if accumulate { *p + v / hw } else { v / hw };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{nchw, nhwc, noise};
    use super::*;
    use candle_core::{Device, Tensor, Var};

    /// NCHW candle tensor of channels-last images.
    fn close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 * y.abs().max(1.0),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// Against candle: the sum of each zero-padded window, divided by the count of real
    /// positions (PyTorch's `count_include_pad=False`); the gradient
    /// of Σ w·out by candle's autograd.
    #[test]
    fn avg_pool_3x3_agrees_with_candle_including_edges() {
        for (h, w) in [(5, 7), (1, 1), (2, 3), (8, 8)] {
            let (g, n) = (MapGeom { h, w, c: 3 }, 2);
            let mut s = 5;
            let x: Vec<f32> = (0..n * g.len()).map(|_| noise(&mut s)).collect();
            let wts: Vec<f32> = (0..n * g.len()).map(|_| noise(&mut s)).collect();
            let mut out = vec![0.0; x.len()];
            forward_3x3(g, n, &x, &mut out);
            let mut dx = vec![0.0; x.len()];
            backward_3x3(g, n, &wts, &mut dx, false);

            let xv = Var::from_tensor(&nchw(&x, (n, g.h, g.w, g.c))).unwrap();
            let padded = xv
                .pad_with_zeros(2, 1, 1)
                .unwrap()
                .pad_with_zeros(3, 1, 1)
                .unwrap();
            // The nine shifted copies of the padded map, summed (candle's avg_pool2d has
            // no backward for a stride below the window).
            let window_sum = |t: &Tensor| {
                let mut acc: Option<Tensor> = None;
                for dy in 0..3 {
                    for dx in 0..3 {
                        let part = t.narrow(2, dy, h).unwrap().narrow(3, dx, w).unwrap();
                        acc = Some(match acc {
                            None => part,
                            Some(a) => (a + part).unwrap(),
                        });
                    }
                }
                acc.unwrap()
            };
            let sum = window_sum(&padded);
            let ones = Tensor::ones((1, 1, h, w), candle_core::DType::F32, &Device::Cpu).unwrap();
            let cnt = window_sum(
                &ones
                    .pad_with_zeros(2, 1, 1)
                    .unwrap()
                    .pad_with_zeros(3, 1, 1)
                    .unwrap(),
            );
            let y = sum.broadcast_div(&cnt).unwrap();
            let want = nhwc(&y);
            close(&format!("{h}x{w} out"), &out, &want);
            let loss = (y * nchw(&wts, (n, g.h, g.w, g.c)))
                .unwrap()
                .sum_all()
                .unwrap();
            let grads = loss.backward().unwrap();
            let want = nhwc(grads.get(xv.as_tensor()).unwrap());
            close(&format!("{h}x{w} dx"), &dx, &want);

            // Accumulating adds to what is there.
            let mut acc = vec![1.0; x.len()];
            backward_3x3(g, n, &wts, &mut acc, true);
            for (a, d) in acc.iter().zip(&dx) {
                assert!((a - (1.0 + d)).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn corners_average_four_values_and_edges_six() {
        let g = MapGeom { h: 3, w: 3, c: 1 };
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut out = vec![0.0; 9];
        forward_3x3(g, 1, &x, &mut out);
        assert_eq!(out[0], (1.0 + 2.0 + 4.0 + 5.0) / 4.0);
        assert_eq!(out[1], (1.0 + 2.0 + 3.0 + 4.0 + 5.0 + 6.0) / 6.0);
        assert_eq!(out[4], 5.0);
    }

    /// Against candle's `avg_pool2d(2)` (whose backward exists when the stride equals
    /// the window), odd sizes included.
    #[test]
    fn avg_pool_2x2_agrees_with_candle() {
        for (h, w) in [(6, 4), (5, 7), (3, 2)] {
            let (g, n) = (MapGeom { h, w, c: 2 }, 2);
            let mut s = 13;
            let x: Vec<f32> = (0..n * g.len()).map(|_| noise(&mut s)).collect();
            let (ho, wo) = (h / 2, w / 2);
            let wts: Vec<f32> = (0..n * ho * wo * g.c).map(|_| noise(&mut s)).collect();
            let mut out = vec![0.0; wts.len()];
            forward_2x2(g, n, &x, &mut out);
            let mut dx = vec![0.0; x.len()];
            backward_2x2(g, n, &wts, &mut dx, false);
            let xv = Var::from_tensor(&nchw(&x, (n, g.h, g.w, g.c))).unwrap();
            let cropped = xv
                .narrow(2, 0, 2 * ho)
                .unwrap()
                .narrow(3, 0, 2 * wo)
                .unwrap();
            let y = cropped.avg_pool2d(2).unwrap();
            let got = nhwc(&y);
            close(&format!("{h}x{w} out"), &out, &got);
            let wt = nchw(&wts, (n, ho, wo, g.c));
            let grads = (y * wt).unwrap().sum_all().unwrap().backward().unwrap();
            let want = nhwc(grads.get(xv.as_tensor()).unwrap());
            close(&format!("{h}x{w} dx"), &dx, &want);
        }
    }

    #[test]
    fn global_pooling_agrees_with_candle() {
        let (g, n) = (MapGeom { h: 4, w: 5, c: 3 }, 3);
        let mut s = 9;
        let x: Vec<f32> = (0..n * g.len()).map(|_| noise(&mut s)).collect();
        let wts: Vec<f32> = (0..n * g.c).map(|_| noise(&mut s)).collect();
        let mut out = vec![0.0; n * g.c];
        global_forward(g, n, &x, &mut out);
        let mut dx = vec![0.0; x.len()];
        global_backward(g, n, &wts, &mut dx, false);
        let xv = Var::from_tensor(&nchw(&x, (n, g.h, g.w, g.c))).unwrap();
        let y = xv.mean((2, 3)).unwrap();
        close("out", &out, &y.flatten_all().unwrap().to_vec1().unwrap());
        let wt = Tensor::from_slice(&wts, (n, g.c), &Device::Cpu).unwrap();
        let grads = (y * wt).unwrap().sum_all().unwrap().backward().unwrap();
        let want: Vec<f32> = grads
            .get(xv.as_tensor())
            .unwrap()
            .permute((0, 2, 3, 1))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        close("dx", &dx, &want);
    }
}
