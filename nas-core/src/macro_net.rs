//! MobileNet-style macro networks: a fixed number of searchable layers grouped in stages,
//! each layer one block, the first layer of each stage downsampling (NAS-Bench-Macro, Su
//! et al., "Prioritized Architecture Sampling with Monto-Carlo Tree Search", CVPR 2021;
//! the blocks of MobileNetV2, Sandler et al., CVPR 2018).
//!
//! The canonical text lists the blocks, layers of a stage separated by a space and stages
//! by ` / `: NAS-Bench-Macro's best network, key `22212220`, is
//! `mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity`.
//! The space also reads a benchmark key: digit `d` of an 8-digit key is block `d` of the
//! space's `blocks` (NAS-Bench-Macro: `0` identity, `1` `mbconv_k3_e3`, `2`
//! `mbconv_k5_e6`), stages as the skeleton's `layers_per_stage` ([2, 3, 3]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Separator between stages in the canonical text.
pub const STAGE_SEPARATOR: &str = " / ";

/// Largest kernel side of an inverted residual block.
pub const MAX_BLOCK_KERNEL: u32 = 7;
/// Largest expansion ratio of an inverted residual block.
pub const MAX_EXPANSION: u32 = 8;

/// One layer of a macro network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Block {
    /// `identity`: the input unchanged; where the layer downsamples or changes the channel
    /// count, a 1 x 1 convolution with that stride and batch normalisation instead
    /// (NAS-Bench-Macro's `Identity`).
    Identity,
    /// `mbconv_k<k>_e<e>`: MobileNetV2's inverted residual block: 1 x 1 expansion to `e`
    /// times the input channels + BN + ReLU (left out when `e` is 1), k x k depthwise
    /// convolution (with the layer's stride) + BN + ReLU, 1 x 1 projection + BN, and the
    /// input added back when stride and channels allow.
    MbConv {
        /// Side of the depthwise kernel (3, 5 or 7).
        kernel: u32,
        /// Expansion ratio (1 to 8).
        expansion: u32,
    },
}

impl Block {
    /// True when `token` names a block (`identity` or `mbconv_...`), even a malformed one:
    /// how a text is recognised as a macro network.
    pub fn looks_like(token: &str) -> bool {
        token == "identity" || token.starts_with("mbconv_")
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Block::Identity => f.write_str("identity"),
            Block::MbConv { kernel, expansion } => write!(f, "mbconv_k{kernel}_e{expansion}"),
        }
    }
}

impl FromStr for Block {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "identity" {
            return Ok(Block::Identity);
        }
        let allowed = || {
            format!(
                "unknown block `{s}` (allowed: identity, or mbconv_k<k>_e<e> with k in 3, 5, 7 and e from 1 to {MAX_EXPANSION}, e.g. mbconv_k3_e3)"
            )
        };
        let rest = s.strip_prefix("mbconv_k").ok_or_else(allowed)?;
        let (k, e) = rest.split_once("_e").ok_or_else(allowed)?;
        let kernel: u32 = k.parse().map_err(|_| allowed())?;
        let expansion: u32 = e.parse().map_err(|_| allowed())?;
        if ![3, 5, 7].contains(&kernel) || !(1..=MAX_EXPANSION).contains(&expansion) {
            return Err(allowed());
        }
        Ok(Block::MbConv { kernel, expansion })
    }
}

impl Serialize for Block {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A macro network: its stages, each a non-empty list of blocks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacroNet {
    stages: Vec<Vec<Block>>,
}

impl MacroNet {
    /// A network from its stages.
    ///
    /// # Errors
    /// When there is no stage or a stage has no layer.
    pub fn new(stages: Vec<Vec<Block>>) -> Result<Self, String> {
        if stages.is_empty() || stages.iter().any(Vec::is_empty) {
            return Err("every stage needs at least one layer".into());
        }
        Ok(MacroNet { stages })
    }

    /// The stages.
    pub fn stages(&self) -> &[Vec<Block>] {
        &self.stages
    }

    /// Every layer's block, stage after stage.
    pub fn blocks(&self) -> impl Iterator<Item = Block> + '_ {
        self.stages.iter().flatten().copied()
    }

    /// Layers per stage.
    pub fn layers_per_stage(&self) -> Vec<usize> {
        self.stages.iter().map(Vec::len).collect()
    }
}

impl fmt::Display for MacroNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (s, stage) in self.stages.iter().enumerate() {
            if s > 0 {
                f.write_str(STAGE_SEPARATOR)?;
            }
            for (i, b) in stage.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{b}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for MacroNet {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::ParseArchitecture {
            text: text.to_string(),
            reason,
        };
        let stages = text
            .split('/')
            .map(|stage| {
                stage
                    .split_whitespace()
                    .map(str::parse::<Block>)
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        MacroNet::new(stages).map_err(|e| err(format!("{e} (stages are separated by ` / `)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_networks_round_trip() {
        for b in ["identity", "mbconv_k3_e3", "mbconv_k5_e6", "mbconv_k7_e1"] {
            assert_eq!(b.parse::<Block>().unwrap().to_string(), b);
        }
        let text = "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity";
        let net: MacroNet = text.parse().unwrap();
        assert_eq!(net.layers_per_stage(), vec![2, 3, 3]);
        assert_eq!(net.to_string(), text);
        let spaced: MacroNet = "identity   identity/identity".parse().unwrap();
        assert_eq!(spaced.to_string(), "identity identity / identity");
    }

    #[test]
    fn bad_blocks_and_stages_are_named() {
        for (text, needle) in [
            ("mbconv_k4_e3", "unknown block `mbconv_k4_e3`"),
            ("mbconv_k3_e9", "unknown block"),
            ("mbconv_k3", "unknown block"),
            ("identity / / identity", "at least one layer"),
            ("identity conv3x3-8-relu", "unknown block `conv3x3-8-relu`"),
        ] {
            let err = text.parse::<MacroNet>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
