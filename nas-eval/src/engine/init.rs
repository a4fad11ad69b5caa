//! PyTorch's default initialisation, drawn from the trial's ChaCha8 init stream.
//!
//! `nn.Conv2d` and `nn.Linear` initialise weights with `kaiming_uniform_(a = sqrt(5))`
//! and biases uniformly, which both come to `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
//! Values are drawn layer by layer, weights then biases, weights in PyTorch's order
//! (`out x in x kh x kw` for a convolution, `out x in` for a dense layer, with `in`
//! in (c, h, w) order after a feature map), and stored at their place in the engine's
//! layout. The draw order therefore does not depend on the engine's memory layout.

use rand::RngCore;

use super::NasRng;

/// A uniform draw in `[-bound, bound)` from 24 random bits (exact in f32).
pub(crate) fn uniform(rng: &mut NasRng, bound: f32) -> f32 {
    let u = (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
    (2.0 * u - 1.0) * bound
}

/// The bound `1/sqrt(fan_in)`.
pub(crate) fn bound(fan_in: usize) -> f32 {
    (1.0 / (fan_in as f64).sqrt()) as f32
}
