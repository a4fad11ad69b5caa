//! The genome: a sequence of hidden layers, its canonical text, stable id and cost.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::layer::Layer;
use crate::shape::{Geometry, InputShape};

/// Separator between layers in the canonical text form.
pub const LAYER_SEPARATOR: &str = " > ";

/// A stable 64-bit identifier of an architecture: FNV-1a of its canonical text.
///
/// It never depends on Rust's randomized hasher, so it is the same on every machine,
/// in every run and in every file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ArchId(pub u64);

impl fmt::Display for ArchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// FNV-1a, 64 bit: a tiny, fully specified hash.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A candidate network: its hidden layers in order. The classifier head (a dense layer to
/// the number of classes, after flattening) is implied and never part of the genome.
///
/// Text form: layers joined by ` > `, e.g. `conv3x3-32-relu > maxpool2 > dense128-relu`.
/// It serializes as that text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Architecture {
    layers: Vec<Layer>,
}

/// Per-network cost, computed analytically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cost {
    /// Trainable parameters, head included.
    pub params: u64,
    /// Multiply-accumulates of one forward pass of one example, head included.
    pub macs: u64,
}

impl Architecture {
    /// An architecture from its layers (no validity check: see [`Architecture::geometries`]).
    pub fn new(layers: Vec<Layer>) -> Self {
        Architecture { layers }
    }

    /// The hidden layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Consumes the architecture, returning its layers.
    pub fn into_layers(self) -> Vec<Layer> {
        self.layers
    }

    /// Number of hidden layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// The stable id of this architecture.
    pub fn id(&self) -> ArchId {
        ArchId(fnv1a64(self.to_string().as_bytes()))
    }

    /// The geometry after each hidden layer, or the first reason this network cannot be
    /// built on `input`: a conv or pool after the first dense layer, or a feature map
    /// shrunk below 1x1.
    pub fn geometries(&self, input: InputShape) -> Result<Vec<Geometry>, String> {
        let mut g = input.geometry();
        let mut out = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            g = layer.output_geometry(g)?;
            out.push(g);
        }
        Ok(out)
    }

    /// Parameters and forward MACs per example with a head of `classes` outputs.
    pub fn cost(&self, input: InputShape, classes: u32) -> Result<Cost, String> {
        let mut cost = Cost::default();
        let mut prev = input.geometry();
        for (layer, next) in self.layers.iter().zip(self.geometries(input)?) {
            match (*layer, prev, next) {
                (
                    Layer::Conv2d {
                        filters, kernel, ..
                    },
                    Geometry::Spatial { channels, .. },
                    Geometry::Spatial { height, width, .. },
                ) => {
                    let fan_in = u64::from(kernel) * u64::from(kernel) * u64::from(channels);
                    cost.params += fan_in * u64::from(filters) + u64::from(filters);
                    cost.macs += fan_in * u64::from(filters) * u64::from(height) * u64::from(width);
                }
                (Layer::Dense { units, .. }, _, _) => {
                    cost.params += prev.len() * u64::from(units) + u64::from(units);
                    cost.macs += prev.len() * u64::from(units);
                }
                _ => {}
            }
            prev = next;
        }
        cost.params += prev.len() * u64::from(classes) + u64::from(classes);
        cost.macs += prev.len() * u64::from(classes);
        Ok(cost)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.layers.is_empty() {
            return f.write_str("empty");
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                f.write_str(LAYER_SEPARATOR)?;
            }
            write!(f, "{layer}")?;
        }
        Ok(())
    }
}

impl FromStr for Architecture {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed == "empty" {
            return Ok(Architecture::default());
        }
        if trimmed.is_empty() {
            return Err(Error::ParseArchitecture {
                text: text.to_string(),
                reason: "no layers (write layers separated by `>`)".into(),
            });
        }
        let layers = trimmed
            .split('>')
            .map(str::parse::<Layer>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| Error::ParseArchitecture {
                text: text.to_string(),
                reason,
            })?;
        Ok(Architecture { layers })
    }
}

impl Serialize for Architecture {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Architecture {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CNN: &str = "conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2";

    #[test]
    fn text_round_trips_and_ids_are_stable() {
        let a: Architecture = CNN.parse().unwrap();
        assert_eq!(a.to_string(), CNN);
        assert_eq!(a.depth(), 4);
        // Whitespace does not matter; the canonical text does.
        let b: Architecture = "conv3x3-16-relu>maxpool2 >conv3x3-32-relu>  maxpool2"
            .parse()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        // FNV-1a of the canonical text, computed independently.
        assert_eq!(ArchId(fnv1a64(b"")).to_string(), "cbf29ce484222325");
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn cost_of_the_reference_cnn() {
        let a: Architecture = CNN.parse().unwrap();
        let cost = a.cost(InputShape::new(1, 28, 28), 10).unwrap();
        // conv1: 9*1*16+16, conv2: 9*16*32+32, head: 7*7*32*10+10
        assert_eq!(cost.params, 160 + 4640 + 15690);
        assert_eq!(cost.macs, 9 * 16 * 784 + 9 * 16 * 32 * 196 + 1568 * 10);
    }

    #[test]
    fn invalid_networks_say_why() {
        let a: Architecture = "dense64-relu > conv3x3-8-relu".parse().unwrap();
        let err = a.geometries(InputShape::new(1, 28, 28)).unwrap_err();
        assert!(err.contains("flattens only once"), "{err}");
        let b: Architecture = "maxpool2 > maxpool2 > maxpool2".parse().unwrap();
        assert!(b.geometries(InputShape::new(1, 4, 4)).is_err());
        assert!(b.geometries(InputShape::new(1, 8, 8)).is_ok());
    }

    #[test]
    fn serializes_as_text() {
        let a: Architecture = CNN.parse().unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{CNN}\""));
        let back: Architecture = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
