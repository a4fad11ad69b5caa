//! NAS-Bench-201-style cells: a DAG of `n` nodes where every edge `j -> i` (`j < i`)
//! carries one operation, node `i` sums its incoming edges, node 0 is the cell's input and
//! node `n - 1` its output (Dong & Yang, "NAS-Bench-201", ICLR 2020, section 2.1).
//!
//! The canonical text is the benchmark's own arch string: for each node `i = 1..n`, its
//! incoming edges from `j = 0..i` as `|op~j|`, nodes joined by `+`. NAS-Bench-201 index 0
//! is `|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|`.
//! Edges are stored in that order: (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2), ...

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// The operation on one edge of a cell (NAS-Bench-201's `OPS`, without the separable
/// convolutions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CellOp {
    /// `none`: the edge is absent (an exact zero).
    None,
    /// `skip_connect`: the identity.
    SkipConnect,
    /// `nor_conv_kxk`: ReLU, then a k x k convolution (stride 1, same padding, no bias),
    /// then batch normalisation.
    NorConv(u32),
    /// `avg_pool_3x3`: 3 x 3 average pooling, stride 1, padding 1, the padding not counted.
    AvgPool3x3,
}

impl CellOp {
    /// Every operation a cell space may list, in canonical order.
    pub const ALL: [CellOp; 7] = [
        CellOp::None,
        CellOp::SkipConnect,
        CellOp::NorConv(1),
        CellOp::NorConv(3),
        CellOp::NorConv(5),
        CellOp::NorConv(7),
        CellOp::AvgPool3x3,
    ];

    /// NAS-Bench-201's five operations, in the benchmark's order.
    pub const NB201: [CellOp; 5] = [
        CellOp::None,
        CellOp::SkipConnect,
        CellOp::NorConv(1),
        CellOp::NorConv(3),
        CellOp::AvgPool3x3,
    ];

    /// The names allowed in configs, comma-separated (for messages).
    pub fn names() -> String {
        CellOp::ALL
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for CellOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellOp::None => f.write_str("none"),
            CellOp::SkipConnect => f.write_str("skip_connect"),
            CellOp::NorConv(k) => write!(f, "nor_conv_{k}x{k}"),
            CellOp::AvgPool3x3 => f.write_str("avg_pool_3x3"),
        }
    }
}

impl FromStr for CellOp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CellOp::ALL
            .into_iter()
            .find(|op| op.to_string() == s.trim())
            .ok_or_else(|| format!("unknown cell op `{s}` (allowed: {})", CellOp::names()))
    }
}

impl Serialize for CellOp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CellOp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Most nodes a cell may have (edges grow as n(n-1)/2).
pub const MAX_NODES: usize = 16;

/// Number of edges of a cell of `nodes` nodes.
pub fn edge_count(nodes: usize) -> usize {
    nodes * nodes.saturating_sub(1) / 2
}

/// The edges of a cell of `nodes` nodes, in canonical order, as `(to, from)`.
pub fn edges(nodes: usize) -> Vec<(usize, usize)> {
    (1..nodes)
        .flat_map(|to| (0..to).map(move |from| (to, from)))
        .collect()
}

/// A cell: one operation per edge, edges in canonical order ([`edges`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    nodes: usize,
    ops: Vec<CellOp>,
}

impl Cell {
    /// A cell of `nodes` nodes from its edges' operations in canonical order.
    ///
    /// # Errors
    /// When `nodes` is below 2 or above [`MAX_NODES`], or `ops` does not have one
    /// operation per edge.
    pub fn new(nodes: usize, ops: Vec<CellOp>) -> Result<Self, String> {
        if !(2..=MAX_NODES).contains(&nodes) {
            return Err(format!("{nodes} nodes (a cell has 2 to {MAX_NODES} nodes)"));
        }
        if ops.len() != edge_count(nodes) {
            return Err(format!(
                "{} operations for {nodes} nodes, which have {} edges",
                ops.len(),
                edge_count(nodes)
            ));
        }
        Ok(Cell { nodes, ops })
    }

    /// Number of nodes, the input node included.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The operations, one per edge in canonical order.
    pub fn ops(&self) -> &[CellOp] {
        &self.ops
    }

    /// The operation on edge `from -> to`.
    pub fn op(&self, to: usize, from: usize) -> CellOp {
        self.ops[edge_count(to) + from]
    }

    /// A key equal for two cells that compute the same function up to the order of sums,
    /// by NAS-Bench-201's rule (`Structure.to_unique_str(consider_zero=True)` in its code;
    /// Dong & Yang, ICLR 2020, count 6,466 distinct cells of the 15,625 this way).
    ///
    /// Node 0 is `0`; every other node is the sorted `+`-join of its incoming terms, where
    /// an edge carrying `none`, or coming from a node whose key is exactly `#`, is `#`; a
    /// `skip_connect` edge is its source's key; any other op is `(<source>)@<op>`. The
    /// cell's key is its last node's. As in the benchmark's code, only a node whose key is
    /// exactly `#` (a node with a single incoming edge that is zero) counts as zero
    /// downstream; a node whose several inputs are all zero does not, so the rule merges
    /// fewer cells than full zero propagation would (5,390 classes).
    pub fn isomorphism_key(&self) -> String {
        let mut keys: Vec<String> = vec!["0".to_string()];
        for to in 1..self.nodes {
            let mut terms: Vec<String> = (0..to)
                .map(|from| {
                    let source = &keys[from];
                    match self.op(to, from) {
                        CellOp::None => "#".to_string(),
                        _ if source == "#" => "#".to_string(),
                        CellOp::SkipConnect => source.clone(),
                        op => format!("({source})@{op}"),
                    }
                })
                .collect();
            terms.sort();
            keys.push(terms.join("+"));
        }
        keys.pop().unwrap_or_default()
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for to in 1..self.nodes {
            if to > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for from in 0..to {
                write!(f, "{}~{from}|", self.op(to, from))?;
            }
        }
        Ok(())
    }
}

impl FromStr for Cell {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let err = |reason: String| Error::ParseArchitecture {
            text: text.to_string(),
            reason,
        };
        let mut ops = Vec::new();
        let groups: Vec<&str> = text.trim().split('+').collect();
        for (i, group) in groups.iter().enumerate() {
            let node = i + 1;
            let inner = group
                .trim()
                .strip_prefix('|')
                .and_then(|g| g.strip_suffix('|'))
                .ok_or_else(|| {
                    err(format!(
                        "node {node}'s edges `{group}` are not written |op~j|...| (a cell reads |op~0|+|op~0|op~1|+...)"
                    ))
                })?;
            let edges: Vec<&str> = inner.split('|').collect();
            if edges.len() != node {
                return Err(err(format!(
                    "node {node} has {} incoming edge(s); it needs one from each node 0..{node}",
                    edges.len()
                )));
            }
            for (from, edge) in edges.into_iter().enumerate() {
                let (op, source) = edge
                    .split_once('~')
                    .ok_or_else(|| err(format!("edge `{edge}` is not written op~j")))?;
                if source.trim() != from.to_string() {
                    return Err(err(format!(
                        "node {node}'s edge {} comes from node `{source}`, expected {from} (edges from 0..{node} in order)",
                        from + 1
                    )));
                }
                ops.push(op.parse::<CellOp>().map_err(err)?);
            }
        }
        Cell::new(groups.len() + 1, ops).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX0: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";

    #[test]
    fn the_benchmark_strings_round_trip() {
        let c: Cell = INDEX0.parse().unwrap();
        assert_eq!(c.nodes(), 4);
        assert_eq!(c.op(1, 0), CellOp::AvgPool3x3);
        assert_eq!(c.op(3, 2), CellOp::SkipConnect);
        assert_eq!(c.to_string(), INDEX0);
        let two: Cell = "|none~0|".parse().unwrap();
        assert_eq!((two.nodes(), two.to_string().as_str()), (2, "|none~0|"));
        assert_eq!(
            edges(4),
            vec![(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
        );
    }

    #[test]
    fn bad_strings_say_what_is_wrong() {
        for (text, needle) in [
            ("|conv_3x3~0|", "unknown cell op `conv_3x3`"),
            ("|none~1|", "expected 0"),
            ("|none~0|+|none~0|", "node 2 has 1 incoming edge(s)"),
            ("|none~0|+none~0|none~1|", "not written"),
            ("|none0|", "op~j"),
            ("", "not written"),
        ] {
            let err = text.parse::<Cell>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert!(Cell::new(1, vec![]).is_err());
        assert!(Cell::new(3, vec![CellOp::None]).is_err());
    }
}
