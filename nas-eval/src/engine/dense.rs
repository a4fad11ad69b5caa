//! Fully connected layers (the classifier head is one without activation).
//!
//! Per chunk of `n` examples: input `n x nin`, output `n x nout`, weight `nin x nout`
//! (row-major, so the forward pass is `x W`), bias `nout`. A dense layer after a
//! feature map reads it flattened in the engine's (h, w, c) order; the weight
//! initialisation and the candle reference account for that.

use nas_core::Activation;

use super::activation::{act_backward, bias_act_forward};
use super::gemm::{Mat, matmul};
use super::simd::SimdPath;

/// The shape of one dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DenseGeom {
    /// Inputs per example.
    pub nin: usize,
    /// Outputs per example.
    pub nout: usize,
}

/// Forward pass: `out = act(x W + b)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    path: SimdPath,
    g: &DenseGeom,
    n: usize,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    act: Option<Activation>,
    out: &mut [f32],
    pre: &mut [f32],
) {
    let out = &mut out[..n * g.nout];
    matmul(
        path,
        out,
        Mat::rows(&input[..n * g.nin], n, g.nin),
        Mat::rows(weight, g.nin, g.nout),
        false,
    );
    bias_act_forward(path, out, pre, bias, act);
}

/// Backward pass: turns `grad_out` into the pre-activation gradient in place, writes the
/// weight and bias gradients, and the input gradient when asked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    path: SimdPath,
    g: &DenseGeom,
    n: usize,
    input: &[f32],
    weight: &[f32],
    act: Option<Activation>,
    out: &[f32],
    pre: &[f32],
    grad_out: &mut [f32],
    grad_weight: &mut [f32],
    grad_bias: &mut [f32],
    grad_in: Option<&mut [f32]>,
) {
    let grad_out = &mut grad_out[..n * g.nout];
    act_backward(path, grad_out, out, pre, act, grad_bias, false);
    let dz = Mat::rows(grad_out, n, g.nout);
    matmul(
        path,
        grad_weight,
        Mat::rows(&input[..n * g.nin], n, g.nin).t(),
        dz,
        false,
    );
    if let Some(grad_in) = grad_in {
        matmul(
            path,
            grad_in,
            dz,
            Mat::rows(weight, g.nin, g.nout).t(),
            false,
        );
    }
}
