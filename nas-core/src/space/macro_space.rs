//! Macro spaces (`kind = "macro"`): NAS-Bench-Macro's search space (Su et al., CVPR 2021),
//! a fixed number of layers grouped in stages, each layer one block of `blocks`, the first
//! layer of each stage downsampling by 2 and doubling the channels. `kind = "macro"` alone
//! is NAS-Bench-Macro's space: 8 layers in stages of 2, 3 and 3, blocks `identity`,
//! `mbconv_k3_e3` and `mbconv_k5_e6`: 3^8 = 6,561 networks.
//!
//! ```toml
//! [space]
//! kind = "macro"
//! blocks = ["identity", "mbconv_k3_e3", "mbconv_k5_e6"]
//! [space.skeleton]       # NAS-Bench-Macro's (its train/model.py)
//! stem_channels = 32
//! layers_per_stage = [2, 3, 3]
//! head_channels = 1280
//! ```
//!
//! The skeleton: a 3 x 3 convolution to `stem_channels` + BN + ReLU; the searchable layers,
//! stage `s` with `stem_channels * 2^(s+1)` channels; a 1 x 1 convolution to
//! `head_channels` + BN + ReLU, global average pooling and a linear classifier.
//!
//! NAS-Bench-Macro's keys map one-to-one onto this space's architectures: digit `i` of the
//! 8-digit key is the index in `blocks` of layer `i` (`0` identity, `1` `mbconv_k3_e3`,
//! `2` `mbconv_k5_e6`); [`crate::SearchSpace::parse`] reads either form, and
//! [`MacroSpace::key`] writes the key.

use serde::{Deserialize, Serialize};

use super::fixed::FixedKind;
use crate::architecture::{Architecture, Cost};
use crate::encoding::{Encoding, Gene};
use crate::error::{Error, Result};
use crate::macro_net::{Block, MacroNet};
use crate::shape::InputShape;

/// Most searchable layers of a macro space.
pub const MAX_MACRO_LAYERS: u32 = 64;

/// The skeleton the searchable layers sit in (defaults: NAS-Bench-Macro's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacroSkeleton {
    /// Output channels of the stem (default 32); stage `s` has `stem_channels * 2^(s+1)`.
    pub stem_channels: u32,
    /// Searchable layers of each stage (default [2, 3, 3]).
    pub layers_per_stage: Vec<u32>,
    /// Channels of the 1 x 1 convolution before pooling (default 1280).
    pub head_channels: u32,
}

impl Default for MacroSkeleton {
    fn default() -> Self {
        MacroSkeleton {
            stem_channels: 32,
            layers_per_stage: vec![2, 3, 3],
            head_channels: 1280,
        }
    }
}

/// A macro space as written in a config (every field defaulted to NAS-Bench-Macro's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacroParams {
    /// The blocks a layer may be (default identity, `mbconv_k3_e3`, `mbconv_k5_e6`).
    pub blocks: Vec<Block>,
    /// The skeleton.
    pub skeleton: MacroSkeleton,
}

impl Default for MacroParams {
    fn default() -> Self {
        MacroParams {
            blocks: vec![
                Block::Identity,
                Block::MbConv {
                    kernel: 3,
                    expansion: 3,
                },
                Block::MbConv {
                    kernel: 5,
                    expansion: 6,
                },
            ],
            skeleton: MacroSkeleton::default(),
        }
    }
}

fn field(name: &str) -> String {
    format!("{}.{name}", super::SECTION)
}

impl MacroParams {
    /// The space of every network with `net`'s stages and blocks, with `skeleton`'s stem
    /// and head channels: what one macro network trained or costed outside a configured
    /// space (`nas eval --arch`) is checked against.
    pub fn holding(net: &MacroNet, skeleton: MacroSkeleton) -> Self {
        let mut blocks: Vec<Block> = net.blocks().collect();
        blocks.sort();
        blocks.dedup();
        MacroParams {
            blocks,
            skeleton: MacroSkeleton {
                layers_per_stage: net
                    .layers_per_stage()
                    .into_iter()
                    .map(|n| n as u32)
                    .collect(),
                ..skeleton
            },
        }
    }

    /// Checks every field that does not depend on the input shape.
    pub fn validate(&self) -> Result<()> {
        super::check_names("blocks", &self.blocks)?;
        let s = &self.skeleton;
        for (name, value, max) in [
            ("skeleton.stem_channels", s.stem_channels, 1024),
            ("skeleton.head_channels", s.head_channels, 8192),
        ] {
            if value == 0 || value > max {
                return Err(Error::invalid(
                    field(name),
                    value,
                    format!("an integer from 1 to {max}"),
                ));
            }
        }
        let layers: u32 = s.layers_per_stage.iter().sum();
        if s.layers_per_stage.is_empty()
            || s.layers_per_stage.contains(&0)
            || layers > MAX_MACRO_LAYERS
            || s.layers_per_stage.len() > 8
        {
            return Err(Error::invalid(
                field("skeleton.layers_per_stage"),
                format!("{:?}", s.layers_per_stage),
                format!(
                    "1 to 8 stages of at least one layer each, at most {MAX_MACRO_LAYERS} layers in all"
                ),
            ));
        }
        if u64::from(s.stem_channels) << s.layers_per_stage.len() > 8192 {
            return Err(Error::invalid(
                field("skeleton.layers_per_stage"),
                format!("{:?}", s.layers_per_stage),
                "fewer stages: the last one would have more than 8192 channels",
            ));
        }
        Ok(())
    }

    /// Checks the params and binds them to an input shape: every stage halves the feature
    /// map (rounding up, as a stride-2 convolution with padding does), which must stay at
    /// least 1 x 1.
    pub fn check(&self, input: InputShape) -> Result<MacroSpace> {
        self.validate()?;
        let cardinality = self.blocks.len();
        let mut genes = Vec::new();
        for (s, &n) in self.skeleton.layers_per_stage.iter().enumerate() {
            for i in 0..n {
                genes.push(Gene {
                    name: format!(
                        "layer {} (stage {}, layer {})",
                        genes.len() + 1,
                        s + 1,
                        i + 1
                    ),
                    cardinality,
                });
            }
        }
        Ok(MacroSpace {
            params: self.clone(),
            input,
            encoding: Encoding::new(genes),
        })
    }
}

/// A checked macro space bound to an input shape.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroSpace {
    params: MacroParams,
    input: InputShape,
    encoding: Encoding,
}

/// Output side of a stride-2 convolution with padding `k / 2` (or of a 1 x 1 convolution
/// with stride 2 and no padding): `ceil(side / 2)`.
fn halve(side: u64) -> u64 {
    side.div_ceil(2)
}

impl MacroSpace {
    /// The params it was checked from.
    pub fn params(&self) -> &MacroParams {
        &self.params
    }

    /// The NAS-Bench-Macro key of a network of the space: one digit per layer, its
    /// block's index in `blocks`. None when the space has more than 10 blocks.
    pub fn key(&self, net: &MacroNet) -> Option<String> {
        if self.params.blocks.len() > 10 {
            return None;
        }
        net.blocks()
            .map(|b| {
                let i = self.params.blocks.iter().position(|x| *x == b)?;
                char::from_digit(i as u32, 10)
            })
            .collect()
    }

    /// Reads a benchmark key (see [`MacroSpace::key`]).
    pub fn from_key(&self, key: &str) -> Result<Architecture> {
        let layers = self.encoding.len();
        let n = self.params.blocks.len();
        let err = |reason: String| Error::ParseArchitecture {
            text: key.to_string(),
            reason,
        };
        if key.chars().count() != layers {
            return Err(err(format!(
                "a key of {} digits; this space has {layers} layers (one digit each, 0 to {})",
                key.chars().count(),
                n - 1
            )));
        }
        let genes = key
            .chars()
            .map(|c| {
                c.to_digit(10)
                    .map(|d| d as usize)
                    .filter(|&d| d < n)
                    .ok_or_else(|| {
                        err(format!(
                            "`{c}` is not a block of this space (digits 0 to {}: {})",
                            n - 1,
                            super::cell::list(&self.params.blocks)
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.build(&genes))
    }

    /// Parameters and forward multiply-accumulates per example of `net` in the skeleton,
    /// for `classes` classes: every convolution and the classifier (BN's scale and shift
    /// count as parameters). Matches NAS-Bench-Macro's published `params` and `flops`
    /// exactly (e.g. `02012100`: 890,666 and 47,327,744 on CIFAR-10).
    pub fn cost(&self, net: &MacroNet, classes: u32) -> Cost {
        let sk = &self.params.skeleton;
        let (mut h, mut w) = (u64::from(self.input.height), u64::from(self.input.width));
        let mut c = u64::from(sk.stem_channels);
        let mut cost = Cost::default();
        let mut add = |params: u64, macs: u64| {
            cost.params += params;
            cost.macs += macs;
        };
        let c_in = u64::from(self.input.channels);
        add(9 * c_in * c + 2 * c, 9 * c_in * c * h * w);
        for stage in net.stages() {
            for (i, block) in stage.iter().enumerate() {
                let (inp, oup) = if i == 0 { (c, 2 * c) } else { (c, c) };
                let (oh, ow) = if i == 0 { (halve(h), halve(w)) } else { (h, w) };
                match *block {
                    Block::Identity if i == 0 => add(inp * oup + 2 * oup, inp * oup * oh * ow),
                    Block::Identity => {}
                    Block::MbConv { kernel, expansion } => {
                        let hidden = inp * u64::from(expansion);
                        let k2 = u64::from(kernel) * u64::from(kernel);
                        if expansion != 1 {
                            add(inp * hidden + 2 * hidden, inp * hidden * h * w);
                        }
                        add(hidden * k2 + 2 * hidden, hidden * k2 * oh * ow);
                        add(hidden * oup + 2 * oup, hidden * oup * oh * ow);
                    }
                }
                c = oup;
                (h, w) = (oh, ow);
            }
        }
        let head = u64::from(sk.head_channels);
        add(c * head + 2 * head, c * head * h * w);
        let k = u64::from(classes);
        add(head * k + k, head * k);
        cost
    }
}

impl FixedKind for MacroSpace {
    fn encoding(&self) -> &Encoding {
        &self.encoding
    }

    fn to_genes(&self, arch: &Architecture) -> Result<Vec<usize>> {
        let not_in = |reason: String| Error::NotInSpace {
            arch: arch.to_string(),
            reason,
        };
        let Architecture::Macro(net) = arch else {
            return Err(not_in(format!(
                "a {} architecture, the space holds macro networks",
                arch.kind_name()
            )));
        };
        let stages: Vec<usize> = net.layers_per_stage();
        let wanted: Vec<usize> = self
            .params
            .skeleton
            .layers_per_stage
            .iter()
            .map(|&n| n as usize)
            .collect();
        if stages != wanted {
            return Err(not_in(format!(
                "stages of {stages:?} layers, the space's have {wanted:?}"
            )));
        }
        net.blocks()
            .enumerate()
            .map(|(i, b)| {
                self.params
                    .blocks
                    .iter()
                    .position(|x| *x == b)
                    .ok_or_else(|| {
                        not_in(format!(
                            "layer {} is `{b}`, not one of the space's blocks ({})",
                            i + 1,
                            super::cell::list(&self.params.blocks)
                        ))
                    })
            })
            .collect()
    }

    fn build(&self, genes: &[usize]) -> Architecture {
        let mut it = genes.iter();
        let stages = self
            .params
            .skeleton
            .layers_per_stage
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|_| {
                        self.params.blocks[*it.next().expect("a genome of the space's length")]
                    })
                    .collect()
            })
            .collect();
        Architecture::Macro(MacroNet::new(stages).expect("stages of at least one layer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_costs_match_nas_bench_macro() {
        let space = MacroParams::default()
            .check(InputShape::new(3, 32, 32))
            .unwrap();
        // ../shared/benchmarks/nas-bench-macro/nas-bench-macro_cifar10.json
        for (key, params, flops) in [
            ("02012100", 890_666, 47_327_744),
            ("11111221", 2_181_386, 65_012_224),
            ("00011110", 1_118_378, 31_390_208),
        ] {
            let arch = space.from_key(key).unwrap();
            let Architecture::Macro(net) = &arch else {
                unreachable!()
            };
            assert_eq!(space.key(net).as_deref(), Some(key));
            let cost = space.cost(net, 10);
            assert_eq!((cost.params, cost.macs), (params, flops), "{key}");
        }
        let best = space.from_key("22212220").unwrap();
        assert_eq!(
            best.to_string(),
            "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity"
        );
        for (bad, needle) in [("2221222", "7 digits"), ("22212223", "`3` is not a block")] {
            let err = space.from_key(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_params_name_their_field() {
        let mut p = MacroParams::default();
        p.blocks.push(Block::Identity);
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("space.blocks")
        );
        let p = MacroParams {
            skeleton: MacroSkeleton {
                layers_per_stage: vec![2, 0],
                ..MacroSkeleton::default()
            },
            ..MacroParams::default()
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("space.skeleton.layers_per_stage"), "{err}");
    }
}
