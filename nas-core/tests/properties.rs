//! Property tests of the genome invariants over random spaces of every kind, inputs and
//! seeds: sampled architectures are in the space; text, encoding and the space itself
//! round-trip; every neighbour is in the space and one decision away; mutations stay in
//! the space; the walks and actions rebuild what they describe; counting equals
//! enumeration on small spaces.

use nas_core::layer::Activation;
use nas_core::space::{CellParams, MacroParams};
use nas_core::space::{CellSkeleton, Conv2dChoices, DenseChoices, DropoutChoices, MacroSkeleton};
use nas_core::{
    Architecture, Block, CellOp, ChainParams, DropoutRate, InputShape, Padding, SearchSpace,
    SearchSpaceParams, rng_from_seed,
};
use proptest::prelude::*;

fn distinct(values: Vec<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn activations() -> impl Strategy<Value = Vec<Activation>> {
    proptest::sample::subsequence(Activation::ALL.to_vec(), 1..=4)
}

prop_compose! {
    fn space_params()(
        min in 1u32..=3,
        extra in 0u32..=3,
        conv in proptest::option::of((
            prop::collection::vec(1u32..=64, 1..4),
            prop::collection::vec(prop::sample::select(vec![1u32, 3, 5, 7]), 1..3),
            activations(),
            any::<bool>(),
        )),
        pool in any::<bool>(),
        dense in proptest::option::of((prop::collection::vec(1u32..=256, 1..4), activations())),
        dropout in proptest::option::of(prop::collection::vec(0u16..10_000, 1..3)),
    ) -> ChainParams {
        ChainParams {
            min_layers: min,
            max_layers: min + extra,
            conv2d: conv.map(|(f, k, a, valid)| Conv2dChoices {
                filters: distinct(f),
                kernels: distinct(k),
                activations: a,
                padding: if valid { Padding::Valid } else { Padding::Same },
            }),
            maxpool2d: pool,
            dense: dense.map(|(u, a)| DenseChoices { units: distinct(u), activations: a }),
            dropout: dropout.map(|r| DropoutChoices {
                rates: distinct(r.into_iter().map(u32::from).collect())
                    .into_iter()
                    .map(|r| DropoutRate::from_f64(f64::from(r) / 10_000.0).unwrap())
                    .collect(),
            }),
        }
    }
}

fn input_shapes() -> impl Strategy<Value = InputShape> {
    (1u32..=3, 1u32..=32, 1u32..=32).prop_map(|(c, h, w)| InputShape::new(c, h, w))
}

/// A checked chain space, or None when the params leave nothing valid for the input.
fn checked(params: &ChainParams, input: InputShape) -> Option<SearchSpace> {
    let no_kinds = params.conv2d.is_none()
        && !params.maxpool2d
        && params.dense.is_none()
        && params.dropout.is_none();
    assert_eq!(params.validate().is_err(), no_kinds, "{params:?}");
    SearchSpaceParams::Chain(params.clone()).check(input).ok()
}

prop_compose! {
    fn cell_params()(
        nodes in 2u32..=5,
        ops in proptest::sample::subsequence(CellOp::ALL.to_vec(), 1..=4),
        stages in 1u32..=3,
    ) -> CellParams {
        CellParams {
            nodes,
            ops,
            skeleton: CellSkeleton { stages, ..CellSkeleton::default() },
        }
    }
}

prop_compose! {
    fn macro_params()(
        blocks in proptest::sample::subsequence(
            vec![
                Block::Identity,
                Block::MbConv { kernel: 3, expansion: 3 },
                Block::MbConv { kernel: 5, expansion: 6 },
                Block::MbConv { kernel: 7, expansion: 1 },
            ],
            1..=3,
        ),
        layers_per_stage in prop::collection::vec(1u32..=3, 1..=3),
    ) -> MacroParams {
        MacroParams {
            blocks,
            skeleton: MacroSkeleton { layers_per_stage, ..MacroSkeleton::default() },
        }
    }
}

/// A space of any kind (None: nothing valid for the input).
fn any_space() -> impl Strategy<Value = Option<SearchSpace>> {
    prop_oneof![
        (space_params(), input_shapes()).prop_map(|(p, i)| checked(&p, i)),
        (cell_params(), input_shapes()).prop_map(|(p, i)| SearchSpaceParams::Cell(p).check(i).ok()),
        (macro_params(), input_shapes())
            .prop_map(|(p, i)| SearchSpaceParams::Macro(p).check(i).ok()),
    ]
}

/// Levenshtein distance over layers, for "one edit" between chains.
fn layer_edits(a: &[nas_core::Layer], b: &[nas_core::Layer]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// True when `b` is one decision away from `a` in `space`.
fn one_decision_apart(space: &SearchSpace, a: &Architecture, b: &Architecture) -> bool {
    match (a, b) {
        (Architecture::Chain(x), Architecture::Chain(y)) => {
            layer_edits(x.layers(), y.layers()) == 1
        }
        _ => {
            let (ga, gb) = (space.encode(a).unwrap(), space.encode(b).unwrap());
            ga.iter().zip(&gb).filter(|(x, y)| x != y).count() == 1
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn samples_are_valid_and_round_trip(space in any_space(), seed in any::<u64>()) {
        let Some(space) = space else { return Ok(()) };
        let mut rng = rng_from_seed(seed);
        for _ in 0..8 {
            let arch = space.sample(&mut rng);
            prop_assert!(space.contains(&arch).is_ok(), "{} not in the space", arch);
            // Text round trip and a stable id, through the space and through the type.
            let text = arch.to_string();
            let back: Architecture = text.parse().unwrap();
            prop_assert_eq!(&back, &arch);
            prop_assert_eq!(back.id(), arch.id());
            prop_assert_eq!(&space.parse(&text).unwrap(), &arch);
            if let Some(key) = space.key(&arch) {
                prop_assert_eq!(&space.parse(&key).unwrap(), &arch);
            }
            // Encoding round trip, and encode is canonical.
            let genome = space.encode(&arch).unwrap();
            prop_assert_eq!(genome.len(), space.encoding().len());
            prop_assert!(genome.iter().zip(space.encoding().genes()).all(|(v, g)| *v < g.cardinality));
            let decoded = space.decode(&genome).unwrap();
            prop_assert_eq!(&decoded, &arch);
            prop_assert_eq!(space.encode(&decoded).unwrap(), genome);
            // The walk and the actions rebuild it.
            let decisions = space.decisions_of(&arch).unwrap();
            let mut it = decisions.iter();
            let (_, rebuilt) = space
                .walk(|gene, allowed| {
                    if allowed.len() == 1 {
                        return Ok(allowed[0]);
                    }
                    let d = it.next().unwrap();
                    assert_eq!((d.gene, d.allowed.as_slice()), (gene, allowed));
                    Ok(d.chosen)
                })
                .unwrap();
            prop_assert_eq!(&rebuilt, &arch);
            let actions = space.actions_of(&arch).unwrap();
            for i in 0..actions.len() {
                prop_assert!(space.actions_after(&actions[..i]).next.contains(&actions[i]));
            }
            prop_assert!(space.actions_after(&actions).stop);
            prop_assert_eq!(&space.from_actions(&actions), &arch);
            // Serde round trip of the space itself.
            let json = serde_json::to_string(&space).unwrap();
            let space2: SearchSpace = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&space2, &space);
        }
    }

    #[test]
    fn neighbours_are_in_the_space_and_one_decision_away(space in any_space(), seed in any::<u64>()) {
        let Some(space) = space else { return Ok(()) };
        let mut rng = rng_from_seed(seed);
        for _ in 0..4 {
            let arch = space.sample(&mut rng);
            let neighbours = space.neighbours(&arch).unwrap();
            let mut ids: Vec<_> = neighbours.iter().map(Architecture::id).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), neighbours.len(), "no repeats");
            for n in &neighbours {
                prop_assert!(space.is_valid(n), "{} -> {} not in the space", arch, n);
                prop_assert!(one_decision_apart(&space, &arch, n), "{} -> {}", arch, n);
            }
            if space.kind() != nas_core::SpaceKind::Chain {
                let expected: usize = space.encoding().genes().iter().map(|g| g.cardinality - 1).sum();
                prop_assert_eq!(neighbours.len(), expected);
            }
        }
    }

    #[test]
    fn mutations_stay_in_the_space_and_change_it(space in any_space(), seed in any::<u64>()) {
        let Some(space) = space else { return Ok(()) };
        let mut rng = rng_from_seed(seed);
        let mut arch = space.sample(&mut rng);
        for _ in 0..16 {
            let child = space.mutate(&arch, &mut rng);
            prop_assert!(space.is_valid(&child), "{} -> {} invalid", arch, child);
            if space.count_architectures() > 1 {
                prop_assert_ne!(&child, &arch);
                if space.kind() != nas_core::SpaceKind::Chain {
                    prop_assert!(one_decision_apart(&space, &arch, &child));
                }
            }
            arch = child;
        }
        // Genetic operators: mutated and repaired genomes are architectures of the space.
        let genetics = space.genetics();
        for _ in 0..8 {
            let genome = genetics.genome_of(&space.sample(&mut rng), &mut rng);
            let mutated = genetics.mutate(&genome, 0.3, &mut rng);
            let (repaired, arch) = genetics.repair(&mutated, &mut rng).unwrap();
            prop_assert!(space.is_valid(&arch));
            prop_assert_eq!(repaired.len(), genome.len());
        }
    }

    #[test]
    fn random_genomes_decode_without_panicking(space in any_space(), seed in any::<u64>()) {
        let Some(space) = space else { return Ok(()) };
        let mut rng = rng_from_seed(seed);
        use rand::Rng;
        for _ in 0..8 {
            let genome: Vec<usize> = space
                .encoding()
                .genes()
                .iter()
                .map(|g| rng.random_range(0..g.cardinality))
                .collect();
            let arch = space.decode(&genome).unwrap();
            if space.kind() != nas_core::SpaceKind::Chain {
                prop_assert!(space.is_valid(&arch));
            }
        }
    }

    #[test]
    fn count_matches_enumeration_on_small_spaces(space in any_space()) {
        let Some(space) = space else { return Ok(()) };
        if space.count_architectures() > 20_000 { return Ok(()) }
        let all = space.enumerate(20_000).unwrap();
        prop_assert_eq!(all.len() as u128, space.count_architectures());
        let mut ids: Vec<_> = all.iter().map(|a| a.id()).collect();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), all.len());
        prop_assert!(all.iter().all(|a| space.is_valid(a)));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        let _ = text.parse::<Architecture>();
    }
}

#[test]
fn the_default_cell_and_macro_spaces_are_the_benchmarks() {
    let cell = SearchSpaceParams::Cell(CellParams::default())
        .check(InputShape::new(3, 32, 32))
        .unwrap();
    assert_eq!(cell.count_architectures(), 15_625);
    let index0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
    assert_eq!(cell.parse(index0).unwrap().to_string(), index0);
    let mac = SearchSpaceParams::Macro(MacroParams::default())
        .check(InputShape::new(3, 32, 32))
        .unwrap();
    assert_eq!(mac.count_architectures(), 6_561);
    let best = mac.parse("22212220").unwrap();
    assert_eq!(mac.key(&best).as_deref(), Some("22212220"));
    assert_eq!(mac.parse(&best.to_string()).unwrap(), best);
}
