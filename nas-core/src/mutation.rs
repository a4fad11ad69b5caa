//! The neighbourhood of an architecture: small edits that keep it in the space.

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::architecture::Architecture;
use crate::layer::Layer;
use crate::space::SearchSpace;

/// Edits [`mutate`] chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Change one option of one layer (width, kernel, activation or rate).
    Alter,
    /// Replace one layer by a layer of another kind.
    ChangeKind,
    /// Insert a layer.
    Insert,
    /// Remove a layer.
    Remove,
}

const ATTEMPTS: usize = 64;

/// Number of options in which two layers of the same kind differ (None across kinds).
fn option_distance(a: &Layer, b: &Layer) -> Option<usize> {
    let d = match (*a, *b) {
        (
            Layer::Conv2d {
                filters: f1,
                kernel: k1,
                activation: a1,
                ..
            },
            Layer::Conv2d {
                filters: f2,
                kernel: k2,
                activation: a2,
                ..
            },
        ) => usize::from(f1 != f2) + usize::from(k1 != k2) + usize::from(a1 != a2),
        (Layer::MaxPool2d, Layer::MaxPool2d) => 0,
        (
            Layer::Dense {
                units: u1,
                activation: a1,
            },
            Layer::Dense {
                units: u2,
                activation: a2,
            },
        ) => usize::from(u1 != u2) + usize::from(a1 != a2),
        (Layer::Dropout { rate: r1 }, Layer::Dropout { rate: r2 }) => usize::from(r1 != r2),
        _ => return None,
    };
    Some(d)
}

/// Applies one edit at random positions; the result may be invalid or unchanged.
pub fn apply_edit<R: Rng + ?Sized>(
    arch: &Architecture,
    edit: Edit,
    space: &SearchSpace,
    rng: &mut R,
) -> Architecture {
    let mut layers = arch.layers().to_vec();
    let variants = space.variants();
    match edit {
        Edit::Alter | Edit::ChangeKind if !layers.is_empty() => {
            let i = rng.random_range(0..layers.len());
            let old = layers[i];
            let choices: Vec<&Layer> = variants
                .iter()
                .filter(|v| match edit {
                    Edit::Alter => option_distance(&old, v) == Some(1),
                    _ => v.kind() != old.kind(),
                })
                .collect();
            if let Some(new) = choices.choose(rng) {
                layers[i] = **new;
            }
        }
        Edit::Insert => {
            let i = rng.random_range(0..=layers.len());
            if let Some(new) = variants.choose(rng) {
                layers.insert(i, *new);
            }
        }
        Edit::Remove if !layers.is_empty() => {
            let i = rng.random_range(0..layers.len());
            layers.remove(i);
        }
        _ => {}
    }
    Architecture::new(layers)
}

/// A random neighbour of `arch` in the space: one edit (alter an option, change a layer's
/// kind, insert or remove a layer, chosen uniformly among those the depth allows), redrawn
/// until the result is valid and different. If 64 draws fail (a tiny neighbourhood), a
/// uniform sample different from `arch` is returned; in a space of one architecture, `arch`.
pub fn mutate<R: Rng + ?Sized>(
    arch: &Architecture,
    space: &SearchSpace,
    rng: &mut R,
) -> Architecture {
    let mut edits = vec![Edit::Alter, Edit::ChangeKind];
    if arch.depth() < space.max_layers() {
        edits.push(Edit::Insert);
    }
    if arch.depth() > space.min_layers() {
        edits.push(Edit::Remove);
    }
    for _ in 0..ATTEMPTS {
        let edit = *edits.choose(rng).expect("at least two edits");
        let child = apply_edit(arch, edit, space, rng);
        if &child != arch && space.is_valid(&child) {
            return child;
        }
    }
    if space.count_architectures() > 1 {
        loop {
            let child = space.sample(rng);
            if &child != arch {
                return child;
            }
        }
    }
    arch.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::InputShape;
    use crate::space::SearchSpaceParams;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_edit_kind_happens_and_results_stay_valid() {
        let space = SearchSpaceParams::default()
            .check(InputShape::new(1, 28, 28))
            .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let a: Architecture = "conv3x3-16-relu > maxpool2".parse().unwrap();
        let mut depths = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let b = mutate(&a, &space, &mut rng);
            assert!(space.is_valid(&b));
            assert_ne!(a, b);
            depths.insert(b.depth());
        }
        assert_eq!(depths.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn a_space_of_one_architecture_returns_it() {
        let p = SearchSpaceParams {
            min_layers: 1,
            max_layers: 1,
            conv2d: None,
            maxpool2d: true,
            dense: None,
            dropout: None,
        };
        let space = p.check(InputShape::new(1, 4, 4)).unwrap();
        let a = space.sample(&mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(mutate(&a, &space, &mut ChaCha8Rng::seed_from_u64(1)), a);
    }
}
