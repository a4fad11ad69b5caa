//! Cell spaces (`kind = "cell"`): NAS-Bench-201's search space (Dong & Yang, ICLR 2020),
//! a cell of `nodes` nodes with one operation from `ops` on every edge, stacked in the
//! benchmark's skeleton. `kind = "cell"` alone is NAS-Bench-201's space: 4 nodes, the
//! five operations, 5^6 = 15,625 cells.
//!
//! ```toml
//! [space]
//! kind = "cell"
//! nodes = 4
//! ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
//! [space.skeleton]       # NAS-Bench-201's (section 2.1)
//! stem_channels = 16
//! cells_per_stage = 5
//! stages = 3
//! ```
//!
//! The skeleton: a 3 x 3 convolution to `stem_channels` + BN; `stages` stages of
//! `cells_per_stage` cells; between stages a residual reduction block (ReLU-conv3x3
//! stride 2-BN, ReLU-conv3x3-BN, plus a 2 x 2 average pooling and 1 x 1 convolution on the
//! shortcut) that halves the feature map and doubles the channels; then BN, ReLU, global
//! average pooling and a linear classifier.

use serde::{Deserialize, Serialize};

use super::fixed::FixedKind;
use crate::architecture::{Architecture, Cost};
use crate::cell::{Cell, CellOp, MAX_NODES, edge_count, edges};
use crate::encoding::{Encoding, Gene};
use crate::error::{Error, Result};
use crate::shape::InputShape;

/// Largest channel count of a stem.
pub const MAX_STEM_CHANNELS: u32 = 1024;
/// Most cells per stage.
pub const MAX_CELLS_PER_STAGE: u32 = 64;
/// Most stages.
pub const MAX_STAGES: u32 = 8;

fn default_nodes() -> u32 {
    4
}

fn default_ops() -> Vec<CellOp> {
    CellOp::NB201.to_vec()
}

/// The skeleton a cell is stacked in (defaults: NAS-Bench-201's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSkeleton {
    /// Output channels of the stem convolution, and of the cells of the first stage
    /// (default 16).
    pub stem_channels: u32,
    /// Cells per stage (default 5: NAS-Bench-201's N).
    pub cells_per_stage: u32,
    /// Stages (default 3); each after the first starts with a reduction block.
    pub stages: u32,
}

impl Default for CellSkeleton {
    fn default() -> Self {
        CellSkeleton {
            stem_channels: 16,
            cells_per_stage: 5,
            stages: 3,
        }
    }
}

/// A cell space as written in a config (every field defaulted to NAS-Bench-201's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellParams {
    /// Nodes of the cell, its input included (default 4).
    pub nodes: u32,
    /// The operations an edge may carry (default NAS-Bench-201's five).
    pub ops: Vec<CellOp>,
    /// The skeleton.
    pub skeleton: CellSkeleton,
}

impl Default for CellParams {
    fn default() -> Self {
        CellParams {
            nodes: default_nodes(),
            ops: default_ops(),
            skeleton: CellSkeleton::default(),
        }
    }
}

fn field(name: &str) -> String {
    format!("{}.{name}", super::SECTION)
}

impl CellParams {
    /// The space of every cell with `cell`'s number of nodes and any operation
    /// ([`CellOp::ALL`]), stacked in `skeleton`: what one cell trained or costed outside
    /// a configured space (`nas eval --arch`) is checked against.
    pub fn holding(cell: &Cell, skeleton: CellSkeleton) -> Self {
        CellParams {
            nodes: cell.nodes() as u32,
            ops: CellOp::ALL.to_vec(),
            skeleton,
        }
    }

    /// Checks every field that does not depend on the input shape.
    pub fn validate(&self) -> Result<()> {
        if self.nodes < 2 || self.nodes as usize > MAX_NODES {
            return Err(Error::invalid(
                field("nodes"),
                self.nodes,
                format!("an integer from 2 to {MAX_NODES} (the input node included)"),
            ));
        }
        super::check_names("ops", &self.ops)?;
        let s = &self.skeleton;
        for (name, value, max) in [
            ("skeleton.stem_channels", s.stem_channels, MAX_STEM_CHANNELS),
            (
                "skeleton.cells_per_stage",
                s.cells_per_stage,
                MAX_CELLS_PER_STAGE,
            ),
            ("skeleton.stages", s.stages, MAX_STAGES),
        ] {
            if value == 0 || value > max {
                return Err(Error::invalid(
                    field(name),
                    value,
                    format!("an integer from 1 to {max}"),
                ));
            }
        }
        if u64::from(s.stem_channels) << (s.stages - 1) > 4096 {
            return Err(Error::invalid(
                field("skeleton.stages"),
                s.stages,
                format!(
                    "a number of stages whose last stage has at most 4096 channels ({} doubled {} times is more)",
                    s.stem_channels,
                    s.stages - 1
                ),
            ));
        }
        Ok(())
    }

    /// Checks the params and binds them to an input shape: every reduction block needs an
    /// even feature map of at least 2 x 2 (its convolution and its pooled shortcut must
    /// agree in size).
    pub fn check(&self, input: InputShape) -> Result<CellSpace> {
        self.validate()?;
        let (mut h, mut w) = (input.height, input.width);
        for reduction in 1..self.skeleton.stages {
            if h < 2 || w < 2 || h % 2 == 1 || w % 2 == 1 {
                return Err(Error::invalid(
                    field("skeleton.stages"),
                    self.skeleton.stages,
                    format!(
                        "at most {reduction} stage(s) for input {input}: the feature map is {h}x{w} before reduction block {reduction}, which needs an even size of at least 2x2"
                    ),
                ));
            }
            h /= 2;
            w /= 2;
        }
        let cardinality = self.ops.len();
        let genes = edges(self.nodes as usize)
            .into_iter()
            .map(|(to, from)| Gene {
                name: format!("edge {to}<-{from}"),
                cardinality,
            })
            .collect();
        Ok(CellSpace {
            params: self.clone(),
            input,
            encoding: Encoding::new(genes),
        })
    }
}

/// A checked cell space bound to an input shape.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSpace {
    params: CellParams,
    input: InputShape,
    encoding: Encoding,
}

impl CellSpace {
    /// The params it was checked from.
    pub fn params(&self) -> &CellParams {
        &self.params
    }

    /// Number of distinct cells up to isomorphism ([`Cell::isomorphism_key`], NAS-Bench-201's
    /// rule: 6,466 for its default space), by enumeration; `None` when the space holds more
    /// than `limit` cells. Nothing is dropped from the space: this only informs.
    pub fn count_distinct(&self, limit: u64) -> Option<u64> {
        let ops = self.params.ops.len() as u64;
        let edges = edges(self.params.nodes as usize).len() as u32;
        let total = ops.checked_pow(edges).filter(|&n| n <= limit)?;
        let nodes = self.params.nodes as usize;
        let mut keys = std::collections::HashSet::new();
        for mut index in 0..total {
            let cell_ops = (0..edges)
                .map(|_| {
                    let op = self.params.ops[(index % ops) as usize];
                    index /= ops;
                    op
                })
                .collect();
            let cell = Cell::new(nodes, cell_ops).expect("one op per edge");
            keys.insert(cell.isomorphism_key());
        }
        Some(keys.len() as u64)
    }

    /// Parameters and forward multiply-accumulates per example of the network built from
    /// `cell` in the skeleton, for `classes` classes: every convolution and the classifier
    /// (batch normalisation's scale and shift count as parameters, not as MACs; pooling
    /// and sums are free). Matches NAS-Bench-201's published parameter counts exactly
    /// (index 0: 129,306 on CIFAR-10).
    pub fn cost(&self, cell: &Cell, classes: u32) -> Cost {
        let sk = &self.params.skeleton;
        let c_in = u64::from(self.input.channels);
        let (mut h, mut w) = (u64::from(self.input.height), u64::from(self.input.width));
        let mut c = u64::from(sk.stem_channels);
        let mut cost = Cost::default();
        let mut conv = |k: u64, cin: u64, cout: u64, hw: u64, bn: bool| {
            cost.params += k * k * cin * cout + if bn { 2 * cout } else { 0 };
            cost.macs += k * k * cin * cout * hw;
        };
        conv(3, c_in, c, h * w, true);
        for stage in 0..sk.stages {
            if stage > 0 {
                let (c_prev, c_next) = (c, 2 * c);
                h /= 2;
                w /= 2;
                conv(3, c_prev, c_next, h * w, true);
                conv(3, c_next, c_next, h * w, true);
                conv(1, c_prev, c_next, h * w, false);
                c = c_next;
            }
            for _ in 0..sk.cells_per_stage {
                for op in cell.ops() {
                    if let CellOp::NorConv(k) = op {
                        conv(u64::from(*k), c, c, h * w, true);
                    }
                }
            }
        }
        cost.params += 2 * c + c * u64::from(classes) + u64::from(classes);
        cost.macs += c * u64::from(classes);
        cost
    }
}

impl FixedKind for CellSpace {
    fn encoding(&self) -> &Encoding {
        &self.encoding
    }

    fn to_genes(&self, arch: &Architecture) -> Result<Vec<usize>> {
        let not_in = |reason: String| Error::NotInSpace {
            arch: arch.to_string(),
            reason,
        };
        let Architecture::Cell(cell) = arch else {
            return Err(not_in(format!(
                "a {} architecture, the space holds cells",
                arch.kind_name()
            )));
        };
        if cell.nodes() != self.params.nodes as usize {
            return Err(not_in(format!(
                "a cell of {} nodes, the space's cells have {}",
                cell.nodes(),
                self.params.nodes
            )));
        }
        cell.ops()
            .iter()
            .zip(edges(cell.nodes()))
            .map(|(op, (to, from))| {
                self.params.ops.iter().position(|o| o == op).ok_or_else(|| {
                    not_in(format!(
                        "edge {to}<-{from} carries `{op}`, not one of the space's ops ({})",
                        list(&self.params.ops)
                    ))
                })
            })
            .collect()
    }

    fn build(&self, genes: &[usize]) -> Architecture {
        let nodes = self.params.nodes as usize;
        debug_assert_eq!(genes.len(), edge_count(nodes));
        let ops = genes.iter().map(|&g| self.params.ops[g]).collect();
        Architecture::Cell(Cell::new(nodes, ops).expect("a genome of the space's length"))
    }

    /// NAS-Bench-201's `mutate_arch`: a node drawn uniformly (1..nodes), one of its
    /// incoming edges drawn uniformly, and a different operation drawn uniformly.
    fn mutation_gene(&self, rng: &mut dyn rand::RngCore) -> usize {
        use rand::Rng;
        let nodes = self.params.nodes as usize;
        let to = rng.random_range(1..nodes);
        let from = rng.random_range(0..to);
        edge_count(to) + from
    }
}

/// A list of names, comma-separated.
pub(crate) fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nb201(input: InputShape) -> CellSpace {
        CellParams::default().check(input).unwrap()
    }

    #[test]
    fn nas_bench_201_has_6466_distinct_cells_up_to_isomorphism() {
        // Dong & Yang (ICLR 2020), section 2.1: 15,625 cells, 6,466 unique topologies.
        let space = nb201(InputShape::new(3, 32, 32));
        assert_eq!(space.count_distinct(1_000_000), Some(6_466));
        assert_eq!(space.count_distinct(15_624), None, "over the limit");
        let key = |t: &str| t.parse::<Cell>().unwrap().isomorphism_key();
        // Node 1 is zero: whatever node 2 and node 3 do with it does not matter.
        assert_eq!(
            key(
                "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"
            ),
            key(
                "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|"
            ),
        );
        // Sums commute: node 3 = skip(0) + conv(2) either way round through node 1's skip.
        assert_eq!(
            key("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"),
            key("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|skip_connect~1|nor_conv_1x1~2|"),
        );
        assert_ne!(
            key(
                "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            ),
            key(
                "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            ),
        );
    }

    #[test]
    fn parameter_counts_match_nas_bench_201() {
        // NATS-Bench `params` (millions) for CIFAR-10 (3x32x32, 10 classes), from
        // ../shared/benchmarks/nas-bench-201/nb201_200ep_valid_per_seed.csv.
        let space = nb201(InputShape::new(3, 32, 32));
        for (text, params) in [
            (
                "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
                129_306,
            ),
            (
                "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
                802_426,
            ),
        ] {
            let cell: Cell = text.parse().unwrap();
            assert_eq!(space.cost(&cell, 10).params, params, "{text}");
        }
    }

    #[test]
    fn bad_params_name_their_field() {
        for (params, needle) in [
            (
                CellParams {
                    nodes: 1,
                    ..CellParams::default()
                },
                "space.nodes",
            ),
            (
                CellParams {
                    ops: vec![CellOp::None, CellOp::None],
                    ..CellParams::default()
                },
                "space.ops",
            ),
            (
                CellParams {
                    ops: vec![],
                    ..CellParams::default()
                },
                "space.ops",
            ),
            (
                CellParams {
                    skeleton: CellSkeleton {
                        cells_per_stage: 0,
                        ..CellSkeleton::default()
                    },
                    ..CellParams::default()
                },
                "space.skeleton.cells_per_stage",
            ),
        ] {
            let err = params.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        // 28 -> 14 -> 7: a fourth stage would need to halve 7.
        let four = CellParams {
            skeleton: CellSkeleton {
                stages: 4,
                ..CellSkeleton::default()
            },
            ..CellParams::default()
        };
        let err = four
            .check(InputShape::new(1, 28, 28))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("space.skeleton.stages") && err.contains("7x7"),
            "{err}"
        );
        assert!(four.check(InputShape::new(3, 32, 32)).is_ok());
    }
}
