//! Helpers the engine's layer tests share: deterministic noise, and conversions between
//! the engine's channels-last images and candle's NCHW tensors.

use candle_core::{Device, Tensor};

/// A deterministic pseudo-random f32 in [-1, 1) from a 64-bit LCG state.
pub(crate) fn noise(state: &mut u64) -> f32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// `n` channels-last images (`h x w x c` each) as a contiguous NCHW tensor.
pub(crate) fn nchw(x: &[f32], (n, h, w, c): (usize, usize, usize, usize)) -> Tensor {
    Tensor::from_slice(x, (n, h, w, c), &Device::Cpu)
        .unwrap()
        .permute((0, 3, 1, 2))
        .unwrap()
        .contiguous()
        .unwrap()
}

/// An NCHW tensor's values in channels-last order.
pub(crate) fn nhwc(t: &Tensor) -> Vec<f32> {
    t.permute((0, 2, 3, 1))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}
