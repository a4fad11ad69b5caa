//! From `u8` pixels to the network's input: per-channel standardisation and the
//! channels-first to channels-last gather of a batch.
//!
//! As in PyTorch's MNIST and CIFAR tutorials, a pixel `v` becomes
//! `(v / 255 - mean_c) / std_c`, where `mean_c` and `std_c` are the mean and standard
//! deviation of channel `c` over the images of the training split (computed once, when
//! an evaluator is built, in f64; a constant channel gets `std_c = 1`). The validation
//! and test images use the same statistics.

use nas_core::InputShape;

use crate::data::Images;

/// Per-channel lookup tables from a pixel value to the network's input value.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Channel means (of v / 255).
    pub mean: Vec<f64>,
    /// Channel standard deviations (of v / 255).
    pub std: Vec<f64>,
    lut: Vec<[f32; 256]>,
}

impl Normalizer {
    /// Statistics of the images `indices` of `images`.
    pub fn fit(images: &Images, shape: InputShape, indices: &[u32]) -> Self {
        let c = shape.channels as usize;
        let hw = shape.height as usize * shape.width as usize;
        let mut counts = vec![[0u64; 256]; c];
        for &i in indices {
            let img = images.image(i as usize);
            for (ch, plane) in img.chunks_exact(hw).enumerate() {
                for &v in plane {
                    counts[ch][usize::from(v)] += 1;
                }
            }
        }
        let mut mean = Vec::with_capacity(c);
        let mut std = Vec::with_capacity(c);
        for hist in &counts {
            let n: u64 = hist.iter().sum();
            let n = n.max(1) as f64;
            let m = hist
                .iter()
                .enumerate()
                .map(|(v, &k)| v as f64 / 255.0 * k as f64)
                .sum::<f64>()
                / n;
            let var = hist
                .iter()
                .enumerate()
                .map(|(v, &k)| (v as f64 / 255.0 - m).powi(2) * k as f64)
                .sum::<f64>()
                / n;
            mean.push(m);
            std.push(if var > 0.0 { var.sqrt() } else { 1.0 });
        }
        Self::new(mean, std)
    }

    /// A normaliser with the given statistics (of `v / 255`).
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Self {
        let lut = mean
            .iter()
            .zip(&std)
            .map(|(&m, &s)| {
                let mut t = [0.0f32; 256];
                for (v, x) in t.iter_mut().enumerate() {
                    *x = ((v as f64 / 255.0 - m) / s) as f32;
                }
                t
            })
            .collect();
        Normalizer { mean, std, lut }
    }

    /// Writes images `indices` of `images`, standardised and channels-last, to `x`, and
    /// their labels to `labels`.
    pub(crate) fn gather(
        &self,
        images: &Images,
        indices: &[u32],
        x: &mut [f32],
        labels: &mut [u8],
    ) {
        let c = self.lut.len();
        let len = images.image_len();
        let hw = len / c.max(1);
        for (k, &i) in indices.iter().enumerate() {
            let img = images.image(i as usize);
            let dst = &mut x[k * len..(k + 1) * len];
            if c == 1 {
                let lut = &self.lut[0];
                for (d, &v) in dst.iter_mut().zip(img) {
                    *d = lut[usize::from(v)];
                }
            } else {
                for (ch, plane) in img.chunks_exact(hw).enumerate() {
                    let lut = &self.lut[ch];
                    for (p, &v) in plane.iter().enumerate() {
                        dst[p * c + ch] = lut[usize::from(v)];
                    }
                }
            }
            labels[k] = images.labels[i as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardises_per_channel_and_goes_channels_last() {
        // Two 2-channel 1x2 images: channel 0 = {0, 255}, channel 1 constant 51.
        let images = Images {
            pixels: vec![0, 255, 51, 51, 255, 0, 51, 51],
            labels: vec![1, 0],
        };
        let norm = Normalizer::fit(&images, InputShape::new(2, 1, 2), &[0, 1]);
        assert!((norm.mean[0] - 0.5).abs() < 1e-12);
        assert!((norm.std[0] - 0.5).abs() < 1e-12);
        assert_eq!(norm.std[1], 1.0);
        let mut x = [0.0f32; 4];
        let mut labels = [9u8; 1];
        norm.gather(&images, &[0], &mut x, &mut labels);
        // HWC: (pixel 0: ch0, ch1), (pixel 1: ch0, ch1).
        assert_eq!(x, [-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(labels, [1]);
    }
}
