//! The trial's random streams: weight initialisation, batch order and dropout each draw
//! from their own stream of the trial seed, so that changing one (e.g. adding dropout)
//! never shifts the others.

use nas_core::{NasRng, rng_from_seed};

/// Streams of the trial RNG (`rng_from_seed(trial seed)` with `set_stream`).
pub mod streams {
    /// Weight initialisation.
    pub const INIT: u64 = 1;
    /// Batch order (one shuffle per epoch).
    pub const SHUFFLE: u64 = 2;
    /// Dropout masks.
    pub const DROPOUT: u64 = 3;
}

/// The trial RNG on one of its [`streams`].
pub fn trial_stream(seed: u64, stream: u64) -> NasRng {
    let mut rng = rng_from_seed(seed);
    rng.set_stream(stream);
    rng
}
