//! 2-D convolution (stride 1, square kernel, zero padding) on channels-last (NHWC)
//! feature maps, computed directly, image by image, from a zero-padded copy of the
//! image (no unfolded im2col matrix).
//!
//! Shapes, per chunk of `n` images: input `n x H x W x Cin`, output
//! `n x Ho x Wo x Cout`, weight `K x Cout` with `K = k * k * Cin` ordered
//! `(ky, kx, cin)`, bias `Cout`.
//!
//! The three products of a layer are chains of fused multiply-adds in a fixed order
//! (see [`kernels`](super::kernels)):
//!
//! - forward: output `(y, x, co)` chains its receptive field in `(ky, kx, ci)` order;
//! - weight gradient: `dW[(ky, kx, ci)][co]` chains the output positions of the chunk,
//!   image by image, in row-major order;
//! - input gradient: a correlation of the zero-padded output gradient with the weight
//!   flipped in space and transposed, `W'[(ky', kx', co)][ci] = W[(k-1-ky', k-1-kx',
//!   ci)][co]`: input `(y, x, ci)` chains `(ky', kx', co)` in that order.
//!
//! Working image by image keeps the padded copies (a few tens of KiB) in cache.

use nas_core::Activation;

use super::activation::{act_backward, bias_act_forward};
use super::kernels::{Conv, PAD_LANES, WeightGrad, pad_lanes};
use super::simd::{SimdPath, dispatch};

/// The geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel side.
    pub k: usize,
    /// Zero padding before the first row and column (the padding after is whatever
    /// makes the output `hout x wout`).
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
    /// Length of one receptive field: `k * k * cin`.
    pub fn patch(&self) -> usize {
        self.k * self.k * self.cin
    }

    /// Output positions per image.
    pub fn positions(&self) -> usize {
        self.hout * self.wout
    }

    /// Rows of the padded input: every tap of every output row inside.
    fn padded_h(&self) -> usize {
        self.hout + self.k - 1
    }

    /// Columns of the padded input.
    fn padded_w(&self) -> usize {
        self.wout + self.k - 1
    }

    /// Floats of one padded input image.
    fn padded_len(&self) -> usize {
        self.padded_h() * self.padded_w() * self.cin
    }

    /// Rows and columns of the padded output gradient the input gradient reads.
    fn grad_padded(&self) -> (usize, usize) {
        (self.hin + self.k - 1, self.win + self.k - 1)
    }

    /// Zero rows (and columns) before the output gradient in its padded copy.
    fn grad_pad(&self) -> usize {
        self.k - 1 - self.pad
    }
}

/// A conv layer's working copies, one set per workspace. The zero borders of the padded
/// copies are written once, when the buffers are made: every image then only copies
/// its interior.
#[derive(Debug, Clone, Default)]
pub(crate) struct Buffers {
    /// The input image, zero-padded: `padded_h x padded_w x cin`.
    xpad: Vec<f32>,
    /// The output gradient, zero-padded for the input gradient's correlation.
    gpad: Vec<f32>,
    /// The output gradient with rows zero-padded to whole vectors (when `cout` is not a
    /// whole number of them).
    dzpad: Vec<f32>,
    /// The weight with rows zero-padded to whole vectors (when `cout` is not).
    wfwd: Vec<f32>,
    /// The weight flipped and transposed for the input gradient.
    wflip: Vec<f32>,
    /// One image's input gradient, before it is added to a gradient that other
    /// consumers of the input wrote ([`backward_plain`] with `accumulate`).
    gacc: Vec<f32>,
}

impl Buffers {
    /// The buffers of a layer of geometry `g`; `input_grad`: whether it passes a gradient
    /// back to its input.
    pub fn new(g: &ConvGeom, input_grad: bool) -> Self {
        let (gh, gw) = g.grad_padded();
        let whole = g.cout.is_multiple_of(PAD_LANES);
        let cout_p = pad_lanes(g.cout);
        Buffers {
            xpad: vec![0.0; g.padded_len()],
            gpad: if input_grad {
                vec![0.0; gh * gw * g.cout]
            } else {
                Vec::new()
            },
            dzpad: if whole {
                Vec::new()
            } else {
                vec![0.0; g.positions() * cout_p]
            },
            wfwd: if whole {
                Vec::new()
            } else {
                vec![0.0; g.patch() * cout_p]
            },
            wflip: if input_grad {
                vec![0.0; g.k * g.k * g.cout * pad_lanes(g.cin)]
            } else {
                Vec::new()
            },
            gacc: Vec::new(),
        }
    }

    /// Readies the weight of the next forward passes: rows padded to whole vectors
    /// (nothing to do when they are).
    pub fn set_forward_weight(&mut self, g: &ConvGeom, weight: &[f32]) {
        if !self.wfwd.is_empty() {
            let ldw = pad_lanes(g.cout);
            for (dst, src) in self
                .wfwd
                .chunks_exact_mut(ldw)
                .zip(weight.chunks_exact(g.cout))
            {
                dst[..g.cout].copy_from_slice(src);
            }
        }
    }

    /// Readies the weight of the next input gradients, when the layer passes one back:
    /// `W'[(ky', kx', co)][ci] = W[(k-1-ky', k-1-kx', ci)][co]`, rows padded to
    /// `pad_lanes(cin)`.
    pub fn set_flipped_weight(&mut self, g: &ConvGeom, weight: &[f32]) {
        if !self.wflip.is_empty() {
            let (k, ldi) = (g.k, pad_lanes(g.cin));
            for ky in 0..k {
                for kx in 0..k {
                    let src_tap = ((k - 1 - ky) * k + (k - 1 - kx)) * g.cin;
                    for co in 0..g.cout {
                        let dst = &mut self.wflip[((ky * k + kx) * g.cout + co) * ldi..][..g.cin];
                        for (ci, d) in dst.iter_mut().enumerate() {
                            *d = weight[(src_tap + ci) * g.cout + co];
                        }
                    }
                }
            }
        }
    }
}

/// Copies an `h x w x c` channels-last image into the interior of `dst`, a
/// `rows x cols x c` image whose other values are zero, at row and column `at`; what
/// falls outside `dst` is dropped.
fn copy_interior(
    src: &[f32],
    (h, w, c): (usize, usize, usize),
    at: usize,
    dst: &mut [f32],
    rows: usize,
    cols: usize,
) {
    let take = w.min(cols.saturating_sub(at));
    for y in 0..h.min(rows.saturating_sub(at)) {
        let from = &src[y * w * c..][..take * c];
        dst[((y + at) * cols + at) * c..][..take * c].copy_from_slice(from);
    }
}

/// Image `img` of `input` as the convolution reads it, and its row width. When
/// `in_pad > 0`, `input` is stored with `in_pad` zero rows and columns around every
/// image (`(hin + 2 in_pad) x (win + 2 in_pad) x cin` floats an image, see
/// [`forward_plain`]) and is read in place. Otherwise the image is copied into the
/// interior of the zero-bordered `xpad`, or read as it is by a 1x1 convolution without
/// padding (its padded copy would equal it).
fn image_view<'a>(
    g: &ConvGeom,
    input: &'a [f32],
    in_pad: usize,
    img: usize,
    xpad: &'a mut [f32],
) -> (&'a [f32], usize) {
    if in_pad > 0 {
        assert!(
            in_pad >= g.pad,
            "conv: input stored with less padding than it reads"
        );
        let wp = g.win + 2 * in_pad;
        let image_len = (g.hin + 2 * in_pad) * wp * g.cin;
        let image = &input[img * image_len..(img + 1) * image_len];
        // The tap at (0, 0) of output (0, 0) reads stored row and column in_pad - pad.
        let skip = in_pad - g.pad;
        return (&image[(skip * wp + skip) * g.cin..], wp);
    }
    let in_len = g.hin * g.win * g.cin;
    let image = &input[img * in_len..(img + 1) * in_len];
    if g.k == 1 && g.pad == 0 {
        return (image, g.win);
    }
    copy_interior(
        image,
        (g.hin, g.win, g.cin),
        g.pad,
        xpad,
        g.padded_h(),
        g.padded_w(),
    );
    (xpad, g.padded_w())
}

/// Forward pass of `n` images: `out = act(conv(input) + bias)` (`bufs` holds the weight
/// when it needs padding, see [`Buffers::set_forward_weight`]); `pre` receives the pre-activation when the activation
/// needs it (GELU).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    path: SimdPath,
    g: &ConvGeom,
    n: usize,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    act: Activation,
    out: &mut [f32],
    pre: &mut [f32],
    bufs: &mut Buffers,
) {
    let Buffers { xpad, wfwd, .. } = bufs;
    let weight: &[f32] = if wfwd.is_empty() { weight } else { wfwd };
    let ldw = pad_lanes(g.cout);
    let out_len = g.positions() * g.cout;
    let gelu = act == Activation::Gelu;
    for img in 0..n {
        let (x, wp) = image_view(g, input, 0, img, xpad);
        let o = &mut out[img * out_len..(img + 1) * out_len];
        let conv = Conv::new(
            (x, g.cin, wp),
            (g.k, g.hout, g.wout),
            (weight, ldw, g.cout),
            (o, g.cout),
        );
        if act == Activation::Relu {
            // Bias and ReLU applied by the kernel before it stores its sums.
            dispatch(path, conv.with_bias(bias, true));
            continue;
        }
        dispatch(path, conv);
        let p = if gelu {
            &mut pre[img * out_len..(img + 1) * out_len]
        } else {
            &mut []
        };
        bias_act_forward(path, o, p, bias, Some(act));
    }
}

/// Forward pass of `n` images without bias or activation: `out = conv(input)` (the
/// convolutions of cell networks, each followed by batch normalisation:
/// `nn.Conv2d(.., bias=False)`). Same products, in the same order, as [`forward`].
///
/// `in_pad`: 0 when `input` is `n x hin x win x cin`; otherwise every image is stored
/// inside `in_pad >= pad` zero rows and columns, `n x (hin + 2 in_pad) x (win + 2
/// in_pad) x cin`, and is read in place instead of being copied into a padded buffer
/// (the same values, so the same bits).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_plain(
    path: SimdPath,
    g: &ConvGeom,
    n: usize,
    input: &[f32],
    in_pad: usize,
    weight: &[f32],
    out: &mut [f32],
    bufs: &mut Buffers,
) {
    let Buffers { xpad, wfwd, .. } = bufs;
    let weight: &[f32] = if wfwd.is_empty() { weight } else { wfwd };
    let ldw = pad_lanes(g.cout);
    let out_len = g.positions() * g.cout;
    for img in 0..n {
        let (x, wp) = image_view(g, input, in_pad, img, xpad);
        dispatch(
            path,
            Conv::new(
                (x, g.cin, wp),
                (g.k, g.hout, g.wout),
                (weight, ldw, g.cout),
                (&mut out[img * out_len..(img + 1) * out_len], g.cout),
            ),
        );
    }
}

/// The gradients of image `img` from the gradient `dz` of its pre-activation: the
/// weight gradient, a new sum or (`continued`) continuing the chains of earlier images,
/// and, when `grad_in` is given, the image's input gradient, written to it or (`true`)
/// added to what it holds (`bufs` holds the flipped weight, see
/// [`Buffers::set_flipped_weight`]).
#[allow(clippy::too_many_arguments)]
fn image_gradients(
    path: SimdPath,
    g: &ConvGeom,
    (input, in_pad): (&[f32], usize),
    img: usize,
    dz: &[f32],
    grad_weight: &mut [f32],
    continued: bool,
    grad_in: Option<(&mut [f32], bool)>,
    bufs: &mut Buffers,
) {
    let Buffers {
        xpad,
        gpad,
        dzpad,
        wflip,
        gacc,
        ..
    } = bufs;
    let ldz = pad_lanes(g.cout);
    let (x, wp) = image_view(g, input, in_pad, img, xpad);
    let dz_rows: &[f32] = if g.cout == ldz {
        dz
    } else {
        for (dst, src) in dzpad.chunks_exact_mut(ldz).zip(dz.chunks_exact(g.cout)) {
            dst[..g.cout].copy_from_slice(src);
        }
        dzpad
    };
    dispatch(
        path,
        WeightGrad::new(
            (x, g.cin, wp),
            (g.k, g.hout, g.wout),
            (dz_rows, ldz, g.cout),
            grad_weight,
            continued,
        ),
    );
    let Some((gi, accumulate)) = grad_in else {
        return;
    };
    let (gh, gw) = g.grad_padded();
    // A 1x1 convolution without padding correlates the gradient itself.
    let dzp: &[f32] = if g.k == 1 && g.pad == 0 {
        dz
    } else {
        copy_interior(dz, (g.hout, g.wout, g.cout), g.grad_pad(), gpad, gh, gw);
        gpad
    };
    let dst: &mut [f32] = if accumulate {
        gacc.resize(gi.len(), 0.0);
        gacc
    } else {
        &mut *gi
    };
    dispatch(
        path,
        Conv::new(
            (dzp, g.cout, gw),
            (g.k, g.hin, g.win),
            (wflip, pad_lanes(g.cin), g.cin),
            (&mut *dst, g.cin),
        ),
    );
    if accumulate {
        for (a, &b) in gi.iter_mut().zip(gacc.iter()) {
            *a += b;
        }
    }
}

/// Backward pass of `n` images, continuing the gradient sums of earlier images of the
/// chunk unless `first`. `grad_out` (the gradient of the output) is turned into the
/// gradient of the pre-activation in place (`act` None: it already is); the weight and bias gradients are written
/// (`first`) or accumulated to `grad_weight` and `grad_bias`; the input gradient is
/// written to `grad_in` when it is given (`bufs` holds the flipped weight, see
/// [`Buffers::set_flipped_weight`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    path: SimdPath,
    g: &ConvGeom,
    n: usize,
    input: &[f32],
    act: Option<Activation>,
    out: &[f32],
    pre: &[f32],
    grad_out: &mut [f32],
    grad_weight: &mut [f32],
    grad_bias: &mut [f32],
    grad_in: Option<&mut [f32]>,
    bufs: &mut Buffers,
    first: bool,
) {
    let mut grad_in = grad_in;
    let in_len = g.hin * g.win * g.cin;
    let out_len = g.positions() * g.cout;
    for img in 0..n {
        let continued = !first || img > 0;
        let dz = &mut grad_out[img * out_len..(img + 1) * out_len];
        let pre = if act == Some(Activation::Gelu) {
            &pre[img * out_len..(img + 1) * out_len]
        } else {
            &[]
        };
        act_backward(
            path,
            dz,
            &out[img * out_len..(img + 1) * out_len],
            pre,
            act,
            grad_bias,
            continued,
        );
        let gi = grad_in
            .as_deref_mut()
            .map(|gi| (&mut gi[img * in_len..(img + 1) * in_len], false));
        image_gradients(
            path,
            g,
            (input, 0),
            img,
            dz,
            grad_weight,
            continued,
            gi,
            bufs,
        );
    }
}

/// Backward pass of [`forward_plain`] over `n` images: the weight gradient of the
/// micro-batch is written to `grad_weight` (images in order, one chain per weight), and
/// the input gradient, when `grad_in` is given, is written to it or (`accumulate`) added
/// to what it holds, image by image. `input` is stored as `in_pad` says (see
/// [`forward_plain`]); the input gradient is always `n x hin x win x cin`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_plain(
    path: SimdPath,
    g: &ConvGeom,
    n: usize,
    input: &[f32],
    in_pad: usize,
    grad_out: &[f32],
    grad_weight: &mut [f32],
    grad_in: Option<(&mut [f32], bool)>,
    bufs: &mut Buffers,
) {
    let mut grad_in = grad_in;
    let in_len = g.hin * g.win * g.cin;
    let out_len = g.positions() * g.cout;
    for img in 0..n {
        let dz = &grad_out[img * out_len..(img + 1) * out_len];
        let gi = grad_in
            .as_mut()
            .map(|(gi, add)| (&mut gi[img * in_len..(img + 1) * in_len], *add));
        image_gradients(
            path,
            g,
            (input, in_pad),
            img,
            dz,
            grad_weight,
            img > 0,
            gi,
            bufs,
        );
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
            for path in SimdPath::supported() {
                let mut out = vec![0.0; want.len()];
                let mut bufs = Buffers::new(&g, false);
                bufs.set_forward_weight(&g, &w);
                // GELU keeps the pre-activation: the convolution itself.
                let mut pre = vec![0.0; want.len()];
                forward(
                    path,
                    &g,
                    n,
                    &x,
                    &w,
                    &vec![0.0; cout],
                    Activation::Gelu,
                    &mut out,
                    &mut pre,
                    &mut bufs,
                );
                for (a, b) in pre.iter().zip(&want) {
                    assert!(
                        (f64::from(*a) - b).abs() < 1e-5,
                        "{path}: cin={cin} k={k} pad={pad}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// A stride-1 convolution of `hw x hw` maps that keeps their size.
    fn same_size(cin: usize, cout: usize, k: usize, pad: usize, hw: usize) -> ConvGeom {
        ConvGeom {
            cin,
            cout,
            k,
            pad,
            hin: hw,
            win: hw,
            hout: hw,
            wout: hw,
        }
    }

    /// Fixed input, weight and output gradient of `n` images of `g`, in [-1, 1].
    fn data(g: &ConvGeom, n: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = (0..n * g.hin * g.win * g.cin)
            .map(|i| ((i * 31 % 17) as f32 - 8.0) / 9.0)
            .collect();
        let w = (0..g.patch() * g.cout)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 11.0)
            .collect();
        let dy = (0..n * g.positions() * g.cout)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0)
            .collect();
        (x, w, dy)
    }

    #[test]
    fn an_accumulated_input_gradient_adds_what_a_fresh_one_writes() {
        // 1x1 convolutions read their input without a padded copy: both paths.
        for (cin, k, pad, hw) in [(16, 1, 0, 2), (5, 1, 0, 3), (4, 3, 1, 3)] {
            let (cout, n) = (32, 3);
            let g = same_size(cin, cout, k, pad, hw);
            let (x, w, dy) = data(&g, n);
            let path = SimdPath::best();
            let mut bufs = Buffers::new(&g, true);
            bufs.set_flipped_weight(&g, &w);
            let mut gw = vec![0.0; g.patch() * cout];
            let mut fresh = vec![0.0; x.len()];
            backward_plain(
                path,
                &g,
                n,
                &x,
                0,
                &dy,
                &mut gw,
                Some((&mut fresh, false)),
                &mut bufs,
            );
            let base: Vec<f32> = (0..x.len()).map(|i| i as f32 * 0.01).collect();
            let mut acc = base.clone();
            backward_plain(
                path,
                &g,
                n,
                &x,
                0,
                &dy,
                &mut gw,
                Some((&mut acc, true)),
                &mut bufs,
            );
            for i in 0..x.len() {
                assert!(
                    (acc[i] - (base[i] + fresh[i])).abs() < 1e-5,
                    "cin {cin} k {k}: {i}: {} vs {} + {}",
                    acc[i],
                    base[i],
                    fresh[i]
                );
            }
        }
    }

    /// `x` (`n x h x w x c`) stored inside `pad` zero rows and columns.
    fn stored_padded(
        x: &[f32],
        (n, h, w, c): (usize, usize, usize, usize),
        pad: usize,
    ) -> Vec<f32> {
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        let mut out = vec![0.0; n * hp * wp * c];
        for (image, stored) in x
            .chunks_exact(h * w * c)
            .zip(out.chunks_exact_mut(hp * wp * c))
        {
            copy_interior(image, (h, w, c), pad, stored, hp, wp);
        }
        out
    }

    #[test]
    fn an_input_stored_padded_gives_the_same_bits_as_a_plain_one() {
        for (cin, k, pad, in_pad, hw) in [
            (16, 3, 1, 1, 5),
            (5, 1, 0, 1, 4),
            (3, 3, 1, 2, 3),
            (16, 5, 2, 2, 6),
        ] {
            let (cout, n) = (24, 3);
            let g = same_size(cin, cout, k, pad, hw);
            let (x, w, dy) = data(&g, n);
            let xp = stored_padded(&x, (n, hw, hw, cin), in_pad);
            for path in SimdPath::supported() {
                let run = |input: &[f32], stored: usize| {
                    let mut bufs = Buffers::new(&g, true);
                    bufs.set_forward_weight(&g, &w);
                    bufs.set_flipped_weight(&g, &w);
                    let mut out = vec![0.0; dy.len()];
                    forward_plain(path, &g, n, input, stored, &w, &mut out, &mut bufs);
                    let mut gw = vec![0.0; w.len()];
                    let mut gx = vec![0.0; x.len()];
                    backward_plain(
                        path,
                        &g,
                        n,
                        input,
                        stored,
                        &dy,
                        &mut gw,
                        Some((&mut gx, false)),
                        &mut bufs,
                    );
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    (bits(&out), bits(&gw), bits(&gx))
                };
                assert_eq!(
                    run(&x, 0),
                    run(&xp, in_pad),
                    "{path}: cin={cin} k={k} pad={pad} stored with {in_pad}"
                );
            }
        }
    }
}
