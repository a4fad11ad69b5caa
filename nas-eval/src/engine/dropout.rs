//! Inverted dropout with masks drawn from the trial's dropout stream.
//!
//! The mask of example `e` of training step `s` in dropout layer `l` is read from the
//! trial's ChaCha8 dropout stream at a fixed word position:
//! `s * batch_size * words_per_example + e * words_per_example + offset_l`, one `u32`
//! per value, kept when the word is at least `round(rate * 2^32)`. The mask therefore
//! depends only on the seed, the step, the example's place in its batch and the layer:
//! never on micro-batching or the thread count.

use rand::RngCore;

use crate::engine::NasRng;

/// One dropout layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DropoutSpec {
    /// Values per example.
    pub len: usize,
    /// Words below this are dropped.
    pub threshold: u32,
    /// 1 / (1 - rate): kept values are scaled so the expectation is unchanged.
    pub scale: f32,
    /// This layer's first word within an example's words.
    pub word_offset: usize,
}

impl DropoutSpec {
    /// A layer of `len` values dropping with probability `rate` in [0, 1).
    pub fn new(len: usize, rate: f64, word_offset: usize) -> Self {
        let threshold = (rate * 4_294_967_296.0).round().min(f64::from(u32::MAX)) as u32;
        DropoutSpec {
            len,
            threshold,
            scale: (1.0 / (1.0 - rate)) as f32,
            word_offset,
        }
    }
}

/// Where a chunk's masks start in the dropout stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaskPosition {
    /// Word position of example 0 of this step.
    pub step_base: u128,
    /// Index in the batch of the chunk's first example.
    pub first_example: usize,
    /// Words per example (all dropout layers).
    pub words_per_example: usize,
}

/// Training forward pass of `n` examples: draws the masks into `mask` and applies them.
pub(crate) fn forward_train(
    spec: &DropoutSpec,
    n: usize,
    at: MaskPosition,
    rng: &mut NasRng,
    input: &[f32],
    out: &mut [f32],
    mask: &mut [f32],
) {
    for e in 0..n {
        let word = at.step_base
            + ((at.first_example + e) * at.words_per_example + spec.word_offset) as u128;
        rng.set_word_pos(word);
        let range = e * spec.len..(e + 1) * spec.len;
        for m in &mut mask[range.clone()] {
            *m = if rng.next_u32() >= spec.threshold {
                spec.scale
            } else {
                0.0
            };
        }
        for ((o, x), m) in out[range.clone()]
            .iter_mut()
            .zip(&input[range.clone()])
            .zip(&mask[range])
        {
            *o = *x * *m;
        }
    }
}

/// Backward pass: `grad_in = grad_out * mask`.
pub(crate) fn backward(n: usize, len: usize, grad_out: &[f32], mask: &[f32], grad_in: &mut [f32]) {
    for ((gi, go), m) in grad_in[..n * len]
        .iter_mut()
        .zip(&grad_out[..n * len])
        .zip(&mask[..n * len])
    {
        *gi = *go * *m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::rng_from_seed;

    #[test]
    fn masks_drop_about_the_rate_and_rescale() {
        let spec = DropoutSpec::new(1000, 0.25, 0);
        let at = MaskPosition {
            step_base: 0,
            first_example: 0,
            words_per_example: 1000,
        };
        let mut rng = rng_from_seed(3);
        let x = vec![1.0f32; 4000];
        let mut out = vec![0.0; 4000];
        let mut mask = vec![0.0; 4000];
        forward_train(&spec, 4, at, &mut rng, &x, &mut out, &mut mask);
        let kept = out.iter().filter(|&&v| v != 0.0).count();
        assert!((2800..3200).contains(&kept), "{kept}");
        assert!(
            out.iter()
                .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6)
        );
    }

    #[test]
    fn masks_do_not_depend_on_chunking() {
        let spec = DropoutSpec::new(10, 0.5, 3);
        let whole = MaskPosition {
            step_base: 77,
            first_example: 0,
            words_per_example: 20,
        };
        let x = vec![1.0f32; 40];
        let (mut out, mut mask) = (vec![0.0; 40], vec![0.0; 40]);
        forward_train(
            &spec,
            4,
            whole,
            &mut rng_from_seed(1),
            &x,
            &mut out,
            &mut mask,
        );
        let (mut out2, mut mask2) = (vec![0.0; 20], vec![0.0; 20]);
        let second_half = MaskPosition {
            first_example: 2,
            ..whole
        };
        forward_train(
            &spec,
            2,
            second_half,
            &mut rng_from_seed(1),
            &x,
            &mut out2,
            &mut mask2,
        );
        assert_eq!(&mask[20..], &mask2[..]);
    }
}
