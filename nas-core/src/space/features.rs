//! Numeric features of architectures, for surrogate models (BANANAS's neural predictor):
//! [`crate::SearchSpace::features`].
//!
//! - **Cells**: the path encoding of BANANAS (White, Neiswanger & Savani, AAAI 2021,
//!   section 4): every path from the input node to the output node, read as the sequence of
//!   operations on its edges, sets one feature. Paths of `L` edges index a block of
//!   `K^L` features (`K` operations); blocks come by length, 1 edge first, and a path
//!   whose edges carry operations `o_1, ..., o_L` (indices into the space's `ops`, `o_1`
//!   on the edge leaving the input) sets feature `offset(L) + o_1 + o_2 K + ... + o_L
//!   K^(L-1)`, `offset(L) = K + ... + K^(L-1)`. Paths through `none` edges count, and two
//!   paths with the same operations set the same feature once, exactly as naszilla's and
//!   NASLib's NAS-Bench-201 `encode_paths` (their `get_path_indices`, blueprints
//!   `[3], [0, 4], [1, 5], [0, 2, 5]`): NAS-Bench-201's 4-node, 5-op cells have
//!   5 + 25 + 125 = 155 features. Longer paths are dropped when the blocks would exceed
//!   [`MAX_PATH_FEATURES`] (BANANAS's truncated path encoding keeps the shorter paths too,
//!   which are the most frequent ones).
//! - **Chains**: the one-hot of the encoding's genes, slot by slot: the kind gene's value
//!   (0, the end of the network, included), and each option gene's value when the slot's
//!   layer has that option (all zeros otherwise: the absent layers' and other kinds'
//!   options, which [`crate::SearchSpace::encode`] writes as 0, are not features).
//! - **Macro networks**: the one-hot of every gene (one block per layer).
//!
//! Features are 0 or 1.

use super::ChainSpace;
use super::cell::CellSpace;
use super::chain_encoding::ChainEncoding;
use crate::encoding::Encoding;

/// Most path-encoding features a cell space has: the blocks of the longest paths are
/// dropped until the rest fit (NAS-Bench-201 needs 155; 5 nodes with 7 operations, 2,800).
pub const MAX_PATH_FEATURES: usize = 4096;

/// Path lengths (in edges) whose blocks the path encoding of a cell of `nodes` nodes and
/// `ops` operations keeps, with each block's offset: `(length, offset)`.
fn path_blocks(nodes: usize, ops: usize) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let mut offset = 0usize;
    let mut size = 1usize;
    for length in 1..nodes {
        size = match size.checked_mul(ops) {
            Some(s) => s,
            None => break,
        };
        match offset.checked_add(size) {
            Some(end) if end <= MAX_PATH_FEATURES => {
                blocks.push((length, offset));
                offset = end;
            }
            _ => break,
        }
    }
    blocks
}

/// Every path from node 0 to node `nodes - 1` of the complete DAG, as node sequences,
/// shorter paths first, then in lexicographic order.
fn paths(nodes: usize) -> Vec<Vec<usize>> {
    fn extend(path: &mut Vec<usize>, last: usize, out: &mut Vec<Vec<usize>>) {
        let at = *path.last().expect("starts at the input");
        if at == last {
            out.push(path.clone());
            return;
        }
        for next in at + 1..=last {
            path.push(next);
            extend(path, last, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    if nodes >= 2 {
        extend(&mut vec![0], nodes - 1, &mut out);
    }
    out.sort_by_key(|p| (p.len(), p.clone()));
    out
}

/// Number of features of a cell space.
pub(crate) fn cell_len(space: &CellSpace) -> usize {
    let p = space.params();
    path_blocks(p.nodes as usize, p.ops.len())
        .last()
        .map_or(0, |&(length, offset)| {
            offset + p.ops.len().pow(length as u32)
        })
}

/// The path encoding of a cell of `space` from its genes (one operation index per edge, in
/// canonical edge order).
pub(crate) fn cell(space: &CellSpace, genes: &[usize]) -> Vec<f64> {
    let p = space.params();
    let (nodes, k) = (p.nodes as usize, p.ops.len());
    let blocks = path_blocks(nodes, k);
    let mut out = vec![0.0; cell_len(space)];
    for path in paths(nodes) {
        let length = path.len() - 1;
        let Some(&(_, offset)) = blocks.iter().find(|(l, _)| *l == length) else {
            continue;
        };
        let mut index = 0usize;
        let mut scale = 1usize;
        for edge in path.windows(2) {
            let (from, to) = (edge[0], edge[1]);
            index += genes[crate::cell::edge_count(to) + from] * scale;
            scale *= k;
        }
        out[offset + index] = 1.0;
    }
    out
}

/// Number of features of a one-hot encoding.
pub(crate) fn one_hot_len(encoding: &Encoding) -> usize {
    encoding.cardinalities().iter().sum()
}

/// The one-hot of every gene.
pub(crate) fn one_hot(encoding: &Encoding, genes: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; one_hot_len(encoding)];
    let mut offset = 0;
    for (gene, &value) in encoding.genes().iter().zip(genes) {
        out[offset + value] = 1.0;
        offset += gene.cardinality;
    }
    out
}

/// The one-hot of a chain's genes, options only where the slot's layer has them.
pub(crate) fn chain(space: &ChainSpace, genes: &[usize]) -> Vec<f64> {
    let enc = ChainEncoding::new(space);
    let per_slot = enc.genes_per_slot();
    let len: usize = enc.genes().iter().map(|g| g.cardinality).sum();
    let mut out = vec![0.0; len];
    let mut offset = 0;
    for (i, (gene, &value)) in enc.genes().iter().zip(genes).enumerate() {
        let kind_value = genes[i - i % per_slot];
        let used = match gene.role.layer_kind() {
            None => true,
            Some(kind) => kind_value > 0 && enc.kinds()[kind_value - 1] == kind,
        };
        if used {
            out[offset + value] = 1.0;
        }
        offset += gene.cardinality;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_complete_dag_of_four_nodes_has_four_input_output_paths() {
        assert_eq!(
            paths(4),
            vec![vec![0, 3], vec![0, 1, 3], vec![0, 2, 3], vec![0, 1, 2, 3]]
        );
        assert_eq!(paths(2), vec![vec![0, 1]]);
        assert_eq!(paths(6).len(), 16, "2^(n-2) paths");
    }

    #[test]
    fn long_paths_are_truncated_to_the_feature_limit() {
        assert_eq!(path_blocks(4, 5), vec![(1, 0), (2, 5), (3, 30)]);
        // 7 + 49 + 343 + 2401 = 2800 fit; 16807 more would not.
        assert_eq!(path_blocks(6, 7).len(), 4);
        assert_eq!(path_blocks(16, 7).len(), 4);
    }

    use crate::architecture::Architecture;
    use crate::shape::InputShape;
    use crate::space::{CellParams, MacroParams, SearchSpace, SearchSpaceParams};

    fn nb201() -> SearchSpace {
        SearchSpaceParams::Cell(CellParams::default())
            .check(InputShape::new(3, 32, 32))
            .unwrap()
    }

    fn ones(features: &[f64]) -> Vec<usize> {
        assert!(features.iter().all(|&f| f == 0.0 || f == 1.0));
        (0..features.len())
            .filter(|&i| features[i] == 1.0)
            .collect()
    }

    #[test]
    fn nas_bench_201_cells_have_their_paths_encoded() {
        let space = nb201();
        assert_eq!(space.feature_count(), 155);
        // NB201 ops: none 0, skip 1, conv1x1 2, conv3x3 3, avg_pool 4. The best CIFAR-10
        // cell: 0->3 skip (feature 1); 0->1->3 and 0->2->3 both conv3x3-conv3x3
        // (5 + 3 + 3*5 = 23, set once); 0->1->2->3 three conv3x3 (30 + 3 + 15 + 75 = 123).
        let best: Architecture = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|".parse().unwrap();
        assert_eq!(ones(&space.features(&best).unwrap()), vec![1, 23, 123]);
        // NB201 index 0: 0->3 conv1x1 (2); 0->1->3 avg_pool then skip (5 + 4 + 5 = 14);
        // 0->2->3 conv1x1 then skip (5 + 2 + 5 = 12); 0->1->2->3 avg_pool, skip, skip
        // (30 + 4 + 5 + 25 = 64).
        let index0: Architecture = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|".parse().unwrap();
        assert_eq!(ones(&space.features(&index0).unwrap()), vec![2, 12, 14, 64]);
        // Paths through `none` count, as in naszilla and NASLib.
        let empty: Architecture = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
            .parse()
            .unwrap();
        assert_eq!(ones(&space.features(&empty).unwrap()), vec![0, 5, 30]);
    }

    #[test]
    fn every_nas_bench_201_cell_matches_naszilla_s_path_indices() {
        // naszilla's and NASLib's `get_path_indices`: ops of the edges (in NB201's string
        // order) on the paths [3], [0, 4], [1, 5], [0, 2, 5], the first edge least
        // significant, blocks at 0, 5 and 30.
        let space = nb201();
        for arch in space.enumerate(20_000).unwrap() {
            let ops = space.encode(&arch).unwrap();
            let mut expected: Vec<usize> = [&[3][..], &[0, 4], &[1, 5], &[0, 2, 5]]
                .iter()
                .map(|blueprint| {
                    let base = [0, 5, 30][blueprint.len() - 1];
                    base + blueprint
                        .iter()
                        .enumerate()
                        .map(|(j, &edge)| ops[edge] * 5usize.pow(j as u32))
                        .sum::<usize>()
                })
                .collect();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(ones(&space.features(&arch).unwrap()), expected, "{arch}");
        }
    }

    #[test]
    fn chains_and_macro_networks_are_one_hot() {
        use crate::layer::Activation;
        use crate::space::{ChainParams, Conv2dChoices, DenseChoices};
        let space = SearchSpaceParams::Chain(ChainParams {
            min_layers: 1,
            max_layers: 2,
            conv2d: Some(Conv2dChoices {
                filters: vec![8, 16],
                kernels: vec![3],
                activations: vec![Activation::Relu],
                padding: Default::default(),
            }),
            maxpool2d: true,
            dense: Some(DenseChoices {
                units: vec![8, 16],
                activations: vec![Activation::Relu],
            }),
            dropout: None,
        })
        .check(InputShape::new(1, 8, 8))
        .unwrap();
        // Kind gene: end + conv, pool, dense (4 values); conv filters 2, kernels 1,
        // activations 1; dense units 2, activations 1: 11 per slot, 2 slots.
        assert_eq!(space.feature_count(), 22);
        let arch: Architecture = "conv3x3-16-relu > dense8-relu".parse().unwrap();
        // Slot 1: conv (kind 1), filters 16 (index 1), kernel 3, relu; dense genes unset.
        // Slot 2: dense (kind 3), units 8 (index 0), relu; conv genes unset.
        assert_eq!(
            ones(&space.features(&arch).unwrap()),
            vec![1, 5, 6, 7, 11 + 3, 11 + 8, 11 + 10]
        );
        let short: Architecture = "maxpool2".parse().unwrap();
        assert_eq!(ones(&space.features(&short).unwrap()), vec![2, 11]);
        assert!(space.features(&"dense9-relu".parse().unwrap()).is_err());

        let macro_space = SearchSpaceParams::Macro(MacroParams::default())
            .check(InputShape::new(3, 32, 32))
            .unwrap();
        assert_eq!(macro_space.feature_count(), 24);
        let net = macro_space.parse("22212220").unwrap();
        let expected: Vec<usize> = [2, 2, 2, 1, 2, 2, 2, 0]
            .iter()
            .enumerate()
            .map(|(layer, block)| 3 * layer + block)
            .collect();
        assert_eq!(ones(&macro_space.features(&net).unwrap()), expected);
    }
}
