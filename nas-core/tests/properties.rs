//! Property tests of the genome invariants over random spaces, inputs and seeds.

use nas_core::layer::Activation;
use nas_core::space::{Conv2dChoices, DenseChoices, DropoutChoices};
use nas_core::{
    Architecture, DropoutRate, Encoding, InputShape, Padding, SearchSpace, SearchSpaceParams,
    mutate, rng_from_seed,
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
    ) -> SearchSpaceParams {
        SearchSpaceParams {
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

/// A checked space, or None when the params leave nothing valid for the input.
fn checked(params: &SearchSpaceParams, input: InputShape) -> Option<SearchSpace> {
    let no_kinds = params.conv2d.is_none()
        && !params.maxpool2d
        && params.dense.is_none()
        && params.dropout.is_none();
    assert_eq!(params.validate().is_err(), no_kinds, "{params:?}");
    params.check(input).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn samples_are_valid_and_round_trip(params in space_params(), input in input_shapes(), seed in any::<u64>()) {
        let Some(space) = checked(&params, input) else { return Ok(()) };
        let enc = Encoding::new(&space);
        let mut rng = rng_from_seed(seed);
        for _ in 0..8 {
            let arch = space.sample(&mut rng);
            prop_assert!(space.contains(&arch).is_ok(), "{} invalid for {}", arch, input);
            prop_assert!(arch.geometries(input).is_ok());
            // Text round trip and a stable id.
            let text = arch.to_string();
            let back: Architecture = text.parse().unwrap();
            prop_assert_eq!(&back, &arch);
            prop_assert_eq!(back.id(), arch.id());
            // Encoding round trip, and encode is canonical.
            let genome = enc.encode(&arch).unwrap();
            prop_assert_eq!(genome.len(), enc.len());
            let decoded = enc.decode(&genome).unwrap();
            prop_assert_eq!(&decoded, &arch);
            prop_assert_eq!(enc.encode(&decoded).unwrap(), genome);
            // Serde round trip of the space itself.
            let json = serde_json::to_string(&space).unwrap();
            let space2: SearchSpace = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&space2, &space);
        }
    }

    #[test]
    fn mutations_of_valid_architectures_stay_valid(params in space_params(), input in input_shapes(), seed in any::<u64>()) {
        let Some(space) = checked(&params, input) else { return Ok(()) };
        let mut rng = rng_from_seed(seed);
        let mut arch = space.sample(&mut rng);
        for _ in 0..16 {
            let child = mutate(&arch, &space, &mut rng);
            prop_assert!(space.is_valid(&child), "{} -> {} invalid", arch, child);
            if space.count_architectures() > 1 {
                prop_assert_ne!(&child, &arch);
            }
            arch = child;
        }
    }

    #[test]
    fn random_genomes_decode_without_panicking(params in space_params(), input in input_shapes(), seed in any::<u64>()) {
        let Some(space) = checked(&params, input) else { return Ok(()) };
        let enc = Encoding::new(&space);
        let mut rng = rng_from_seed(seed);
        use rand::Rng;
        for _ in 0..8 {
            let genome: Vec<usize> = enc.genes().iter().map(|g| rng.random_range(0..g.cardinality)).collect();
            let arch = enc.decode(&genome).unwrap();
            prop_assert!(arch.depth() <= space.max_layers());
        }
    }

    #[test]
    fn count_matches_enumeration_on_small_spaces(params in space_params(), input in input_shapes()) {
        let Some(space) = checked(&params, input) else { return Ok(()) };
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
