//! Hidden layers, their options and their canonical text form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::shape::Geometry;

/// Element-wise non-linearity after a conv or dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x)
    Relu,
    /// tanh(x)
    Tanh,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// x * Phi(x), the exact (erf) form as in PyTorch's default.
    Gelu,
}

impl Activation {
    /// Every activation, in canonical order.
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
    ];

    /// The lowercase name used in text and configs.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Gelu => "gelu",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown activation `{s}` (allowed: relu, tanh, sigmoid, gelu)"))
    }
}

/// How a convolution pads its input.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Zero padding of (k-1)/2 on every side: the feature map keeps its size (odd kernels only).
    #[default]
    Same,
    /// No padding: each side shrinks by k-1.
    Valid,
}

/// A dropout probability, stored exactly in units of 1/10000 so that layers compare and hash exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DropoutRate(u16);

impl DropoutRate {
    /// Resolution of a rate: four decimal places.
    pub const SCALE: u16 = 10_000;

    /// A rate from a probability in [0, 1) with at most four decimals.
    pub fn from_f64(p: f64) -> Result<Self, String> {
        if !(0.0..1.0).contains(&p) {
            return Err(format!("dropout rate {p} is outside [0, 1)"));
        }
        let scaled = p * f64::from(Self::SCALE);
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-6 {
            return Err(format!("dropout rate {p} has more than four decimals"));
        }
        Ok(DropoutRate(rounded as u16))
    }

    /// The probability of dropping a unit.
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Self::SCALE)
    }
}

impl fmt::Display for DropoutRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        let digits = format!("{:04}", self.0);
        write!(f, "0.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for DropoutRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p: f64 = s
            .parse()
            .map_err(|_| format!("`{s}` is not a dropout rate"))?;
        DropoutRate::from_f64(p)
    }
}

impl Serialize for DropoutRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for DropoutRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        DropoutRate::from_f64(p).map_err(serde::de::Error::custom)
    }
}

/// The kind of a hidden layer, without its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// 2-D convolution.
    Conv2d,
    /// 2x2 max pooling, stride 2.
    MaxPool2d,
    /// Fully connected layer (flattens a feature map first).
    Dense,
    /// Dropout (identity at evaluation time).
    Dropout,
}

impl LayerKind {
    /// Every kind, in canonical order.
    pub const ALL: [LayerKind; 4] = [
        LayerKind::Conv2d,
        LayerKind::MaxPool2d,
        LayerKind::Dense,
        LayerKind::Dropout,
    ];

    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Conv2d => "conv2d",
            LayerKind::MaxPool2d => "maxpool2d",
            LayerKind::Dense => "dense",
            LayerKind::Dropout => "dropout",
        }
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One hidden layer with all its options fixed.
///
/// Text forms: `conv3x3-32-relu` (add `-valid` for valid padding), `maxpool2`,
/// `dense128-relu`, `dropout0.25`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Layer {
    /// Square convolution with bias, then the activation.
    Conv2d {
        /// Output channels.
        filters: u32,
        /// Side of the square kernel.
        kernel: u32,
        /// Non-linearity after the convolution.
        activation: Activation,
        /// Padding mode.
        padding: Padding,
    },
    /// 2x2 max pooling with stride 2 (floor: an odd last row/column is dropped).
    #[serde(rename = "maxpool2d")]
    MaxPool2d,
    /// Fully connected layer with bias, then the activation.
    Dense {
        /// Output units.
        units: u32,
        /// Non-linearity after the layer.
        activation: Activation,
    },
    /// Inverted dropout with the given rate.
    Dropout {
        /// Probability of zeroing a unit during training.
        rate: DropoutRate,
    },
}

impl Layer {
    /// The layer's kind.
    pub fn kind(&self) -> LayerKind {
        match self {
            Layer::Conv2d { .. } => LayerKind::Conv2d,
            Layer::MaxPool2d => LayerKind::MaxPool2d,
            Layer::Dense { .. } => LayerKind::Dense,
            Layer::Dropout { .. } => LayerKind::Dropout,
        }
    }

    /// The geometry after this layer, or why the layer cannot follow `input`.
    pub fn output_geometry(&self, input: Geometry) -> Result<Geometry, String> {
        match (*self, input) {
            (Layer::Conv2d { .. } | Layer::MaxPool2d, Geometry::Flat { .. }) => Err(format!(
                "`{self}` comes after a dense layer, but the network flattens only once"
            )),
            (
                Layer::Conv2d {
                    filters,
                    kernel,
                    padding,
                    ..
                },
                Geometry::Spatial { height, width, .. },
            ) => {
                let (h, w) = match padding {
                    Padding::Same => (height, width),
                    Padding::Valid => (
                        (height + 1).saturating_sub(kernel),
                        (width + 1).saturating_sub(kernel),
                    ),
                };
                if h == 0 || w == 0 {
                    return Err(format!(
                        "`{self}` shrinks a {height}x{width} feature map below 1x1"
                    ));
                }
                Ok(Geometry::Spatial {
                    channels: filters,
                    height: h,
                    width: w,
                })
            }
            (
                Layer::MaxPool2d,
                Geometry::Spatial {
                    channels,
                    height,
                    width,
                },
            ) => {
                if height < 2 || width < 2 {
                    return Err(format!(
                        "`maxpool2` shrinks a {height}x{width} feature map below 1x1"
                    ));
                }
                Ok(Geometry::Spatial {
                    channels,
                    height: height / 2,
                    width: width / 2,
                })
            }
            (Layer::Dense { units, .. }, _) => Ok(Geometry::Flat { features: units }),
            (Layer::Dropout { .. }, g) => Ok(g),
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Conv2d {
                filters,
                kernel,
                activation,
                padding,
            } => {
                write!(f, "conv{kernel}x{kernel}-{filters}-{activation}")?;
                if *padding == Padding::Valid {
                    f.write_str("-valid")?;
                }
                Ok(())
            }
            Layer::MaxPool2d => f.write_str("maxpool2"),
            Layer::Dense { units, activation } => write!(f, "dense{units}-{activation}"),
            Layer::Dropout { rate } => write!(f, "dropout{rate}"),
        }
    }
}

fn parse_positive(s: &str, what: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err(format!("{what} must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a valid {what}")),
    }
}

impl FromStr for Layer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "maxpool2" {
            return Ok(Layer::MaxPool2d);
        }
        if let Some(rate) = s.strip_prefix("dropout") {
            return Ok(Layer::Dropout {
                rate: rate.parse()?,
            });
        }
        let parts: Vec<&str> = s.split('-').collect();
        if let Some(units) = parts[0].strip_prefix("dense") {
            let [_, act] = parts[..] else {
                return Err(format!("`{s}`: expected dense<units>-<activation>"));
            };
            return Ok(Layer::Dense {
                units: parse_positive(units, "number of units")?,
                activation: act.parse()?,
            });
        }
        if let Some(kernel) = parts[0].strip_prefix("conv") {
            let (filters, act, padding) = match parts[..] {
                [_, filters, act] => (filters, act, Padding::Same),
                [_, filters, act, "valid"] => (filters, act, Padding::Valid),
                _ => {
                    return Err(format!(
                        "`{s}`: expected conv<k>x<k>-<filters>-<activation>[-valid]"
                    ));
                }
            };
            let (k1, k2) = kernel
                .split_once('x')
                .ok_or_else(|| format!("`{s}`: kernel must be written <k>x<k>"))?;
            if k1 != k2 {
                return Err(format!("`{s}`: only square kernels are supported"));
            }
            return Ok(Layer::Conv2d {
                filters: parse_positive(filters, "number of filters")?,
                kernel: parse_positive(k1, "kernel size")?,
                activation: act.parse()?,
                padding,
            });
        }
        Err(format!(
            "unknown layer `{s}` (expected conv<k>x<k>-<filters>-<act>, maxpool2, dense<units>-<act> or dropout<rate>)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_round_trip_through_text() {
        for text in [
            "conv3x3-32-relu",
            "conv5x5-8-gelu-valid",
            "maxpool2",
            "dense128-tanh",
            "dropout0.25",
            "dropout0",
            "dropout0.0005",
        ] {
            let layer: Layer = text.parse().unwrap();
            assert_eq!(layer.to_string(), text);
        }
    }

    #[test]
    fn bad_layers_are_rejected_with_a_reason() {
        for (text, needle) in [
            ("conv3x5-32-relu", "square"),
            ("conv3x3-0-relu", "at least 1"),
            ("dense64-swish", "unknown activation"),
            ("dropout1.5", "outside"),
            ("dropout0.12345", "four decimals"),
            ("pool", "unknown layer"),
            ("dense-relu", "not a valid"),
        ] {
            let err = text.parse::<Layer>().unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn geometry_rules() {
        let input = Geometry::Spatial {
            channels: 1,
            height: 3,
            width: 3,
        };
        let pool = Layer::MaxPool2d;
        let g = pool.output_geometry(input).unwrap();
        assert_eq!(
            g,
            Geometry::Spatial {
                channels: 1,
                height: 1,
                width: 1
            }
        );
        assert!(pool.output_geometry(g).is_err());
        let valid5: Layer = "conv5x5-4-relu-valid".parse().unwrap();
        assert!(valid5.output_geometry(input).is_err());
        let dense: Layer = "dense8-relu".parse().unwrap();
        let flat = dense.output_geometry(input).unwrap();
        assert!(pool.output_geometry(flat).is_err());
    }
}
