//! Architectures of every space kind, their canonical text and stable id: chains of
//! hidden layers ([`Chain`]), NAS-Bench-201-style cells ([`Cell`]) and MobileNet-style
//! macro networks ([`MacroNet`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cell::Cell;
use crate::error::Error;
use crate::layer::Layer;
use crate::macro_net::MacroNet;
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
    let mut hash = Fnv1a::new();
    hash.update(bytes);
    hash.0
}

/// FNV-1a's state, fed byte by byte: the hash of text as it is written (no string built).
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl fmt::Write for Fnv1a {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.update(s.as_bytes());
        Ok(())
    }
}

/// A chain network (`kind = "chain"`): its hidden layers in order. The classifier head (a
/// dense layer to the number of classes, after flattening) is implied and never part of
/// the genome.
///
/// Text form: layers joined by ` > `, e.g. `conv3x3-32-relu > maxpool2 > dense128-relu`
/// (`empty` for no layer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Chain {
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

impl Chain {
    /// A chain from its layers (no validity check: see [`Chain::geometries`]).
    pub fn new(layers: Vec<Layer>) -> Self {
        Chain { layers }
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

impl fmt::Display for Chain {
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

impl FromStr for Chain {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed == "empty" {
            return Ok(Chain::default());
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
        Ok(Chain { layers })
    }
}

/// A candidate network of any space kind. Its text (`Display`) is canonical: two
/// architectures are equal exactly when their texts are, and the [`ArchId`] is a hash of
/// the text. It serializes as that text, and `FromStr` reads any kind's text back (a cell
/// starts with `|`, a macro network with a block name, anything else is a chain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Architecture {
    /// A chain of hidden layers (`kind = "chain"`).
    Chain(Chain),
    /// A NAS-Bench-201-style cell (`kind = "cell"`).
    Cell(Cell),
    /// A MobileNet-style macro network (`kind = "macro"`).
    Macro(MacroNet),
}

impl Default for Architecture {
    /// The empty chain.
    fn default() -> Self {
        Architecture::Chain(Chain::default())
    }
}

impl Architecture {
    /// A chain architecture from its layers (no validity check).
    pub fn new(layers: Vec<Layer>) -> Self {
        Architecture::Chain(Chain::new(layers))
    }

    /// The stable id of this architecture: FNV-1a of its canonical text (hashed as it
    /// is written: the same bytes in the same order as `fnv1a64(self.to_string())`).
    pub fn id(&self) -> ArchId {
        let mut hash = Fnv1a::new();
        // The hasher never fails, and neither does the text (as for `to_string`).
        fmt::Write::write_fmt(&mut hash, format_args!("{self}"))
            .expect("an architecture's text is always written");
        ArchId(hash.0)
    }

    /// The chain, if this is one.
    pub fn as_chain(&self) -> Option<&Chain> {
        match self {
            Architecture::Chain(c) => Some(c),
            _ => None,
        }
    }

    /// The name of its space kind: `chain`, `cell` or `macro`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Architecture::Chain(_) => "chain",
            Architecture::Cell(_) => "cell",
            Architecture::Macro(_) => "macro",
        }
    }
}

impl From<Chain> for Architecture {
    fn from(c: Chain) -> Self {
        Architecture::Chain(c)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Architecture::Chain(c) => c.fmt(f),
            Architecture::Cell(c) => c.fmt(f),
            Architecture::Macro(m) => m.fmt(f),
        }
    }
}

impl FromStr for Architecture {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('|') {
            return text.parse().map(Architecture::Cell);
        }
        let first = trimmed
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        if crate::macro_net::Block::looks_like(first) {
            return text.parse().map(Architecture::Macro);
        }
        text.parse().map(Architecture::Chain)
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
        assert_eq!(a.as_chain().unwrap().depth(), 4);
        // Whitespace does not matter; the canonical text does.
        let b: Architecture = "conv3x3-16-relu>maxpool2 >conv3x3-32-relu>  maxpool2"
            .parse()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        // FNV-1a of the canonical text, computed independently.
        assert_eq!(ArchId(fnv1a64(b"")).to_string(), "cbf29ce484222325");
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        // The id hashes the text as it is written: the hash of the whole text, for every
        // kind of architecture.
        for text in [
            CNN,
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
            "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity",
        ] {
            let a: Architecture = text.parse().unwrap();
            assert_eq!(a.id(), ArchId(fnv1a64(a.to_string().as_bytes())), "{text}");
            assert_eq!(a.to_string(), text);
        }
    }

    #[test]
    fn cost_of_the_reference_cnn() {
        let a: Chain = CNN.parse().unwrap();
        let cost = a.cost(InputShape::new(1, 28, 28), 10).unwrap();
        // conv1: 9*1*16+16, conv2: 9*16*32+32, head: 7*7*32*10+10
        assert_eq!(cost.params, 160 + 4640 + 15690);
        assert_eq!(cost.macs, 9 * 16 * 784 + 9 * 16 * 32 * 196 + 1568 * 10);
    }

    #[test]
    fn invalid_networks_say_why() {
        let a: Chain = "dense64-relu > conv3x3-8-relu".parse().unwrap();
        let err = a.geometries(InputShape::new(1, 28, 28)).unwrap_err();
        assert!(err.contains("flattens only once"), "{err}");
        let b: Chain = "maxpool2 > maxpool2 > maxpool2".parse().unwrap();
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

#[cfg(test)]
mod kinds {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_text() {
        for text in [
            "conv3x3-16-relu > maxpool2",
            "empty",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity",
        ] {
            let a: Architecture = text.parse().unwrap();
            assert_eq!(a.to_string(), text);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Architecture>(&json).unwrap(), a);
        }
        assert_eq!(
            "|none~0|".parse::<Architecture>().unwrap().kind_name(),
            "cell"
        );
        assert_eq!(
            "identity".parse::<Architecture>().unwrap().kind_name(),
            "macro"
        );
    }
}
