//! Which layers may come next: the action masks both controllers share.

use std::collections::BTreeMap;

use nas_core::{Architecture, Error, Layer, Result, SearchSpace};

/// The layers that may follow a prefix, memoized by prefix (a pure function of the space,
/// so the memo is never saved: a restored strategy rebuilds it as it goes).
#[derive(Debug, Clone, Default)]
pub(crate) struct Moves {
    memo: BTreeMap<Vec<usize>, Vec<usize>>,
}

impl Moves {
    /// Indices (into [`SearchSpace::variants`]) of the layers after which `prefix` (layer
    /// indices) can still be completed to an architecture of the space, in canonical order.
    pub(crate) fn next(&mut self, space: &SearchSpace, prefix: &[usize]) -> &[usize] {
        if !self.memo.contains_key(prefix) {
            let mut layers: Vec<Layer> = prefix.iter().map(|&v| space.variants()[v]).collect();
            let mut allowed = Vec::new();
            for (v, layer) in space.variants().iter().enumerate() {
                layers.push(*layer);
                if space.is_completable(&layers) {
                    allowed.push(v);
                }
                layers.pop();
            }
            self.memo.insert(prefix.to_vec(), allowed);
        }
        &self.memo[prefix]
    }
}

/// True when a network of `depth` layers built by allowed moves may stop there.
pub(crate) fn can_stop(space: &SearchSpace, depth: usize) -> bool {
    depth >= space.min_layers()
}

/// The layer indices of an architecture of the space (an error names it otherwise).
pub(crate) fn layer_indices(space: &SearchSpace, arch: &Architecture) -> Result<Vec<usize>> {
    space.contains(arch)?;
    arch.layers()
        .iter()
        .map(|l| {
            space.variant_index(l).ok_or_else(|| Error::NotInSpace {
                arch: arch.to_string(),
                reason: format!("`{l}` is not one of the space's layers"),
            })
        })
        .collect()
}

/// The architecture of layer indices.
pub(crate) fn architecture(space: &SearchSpace, layers: &[usize]) -> Architecture {
    Architecture::new(layers.iter().map(|&v| space.variants()[v]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::testutil::toy_space;

    #[test]
    fn moves_allow_exactly_the_completable_layers() {
        let space = toy_space();
        let mut moves = Moves::default();
        let all = moves.next(&space, &[]).to_vec();
        assert_eq!(all.len(), space.variants().len(), "any first layer");
        let dense = space
            .variant_index(&"dense16-relu".parse().unwrap())
            .unwrap();
        let after_dense = moves.next(&space, &[dense]).to_vec();
        assert!(
            after_dense
                .iter()
                .all(|&v| !matches!(space.variants()[v], Layer::Conv2d { .. } | Layer::MaxPool2d))
        );
        assert!(moves.next(&space, &[dense; 5]).is_empty(), "no sixth layer");
        let pool = space.variant_index(&Layer::MaxPool2d).unwrap();
        // 16x16 halves four times to 1x1: a fifth pooling is impossible.
        assert!(!moves.next(&space, &[pool; 4]).contains(&pool));
    }
}
