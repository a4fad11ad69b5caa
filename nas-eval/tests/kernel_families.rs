//! The numeric contract end to end: training gives the same bits on every kernel family
//! this CPU can run (`NAS_SIMD=scalar|avx2|avx512`) and for 1 or 2 threads, and a bad
//! `NAS_SIMD` is an error where a network is built.
//!
//! `NAS_SIMD` is read when a network is built, so each family trains in a child
//! process: this test binary run again on one ignored test, with `NAS_SIMD` set, which
//! prints one line per trained network.

use std::process::Command;
use std::sync::Arc;

use nas_core::{
    Activation, Architecture, Budget, ChainParams, InputShape, rng_from_seed,
    space::{Conv2dChoices, DenseChoices, DropoutChoices},
};
use nas_eval::data::{Dataset, mini_mnist};
use nas_eval::{Error, Network, Normalizer, SimdPath, TrainParams, TrainingEvaluator, simd_path};
use sha2::{Digest, Sha256};

/// Tells the child test what to do: `train` or `refuse`.
const CHILD: &str = "NAS_EVAL_TEST_CHILD";
const CHILD_TEST: &str = "child_under_nas_simd";

/// Runs [`CHILD_TEST`] in a child process with `NAS_SIMD=simd` and returns the lines it
/// printed that start with `RESULT `.
fn run_child(mode: &str, simd: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, mode)
        .env("NAS_SIMD", simd)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child with NAS_SIMD={simd} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .map(str::to_string)
        .collect()
}

#[test]
fn training_is_bit_identical_on_every_kernel_family_and_thread_count() {
    let mut reference: Option<(SimdPath, Vec<String>)> = None;
    let mut covered = Vec::new();
    for path in SimdPath::ALL {
        if !path.is_supported() {
            eprintln!("skipping the {path} kernels: this CPU cannot run them");
            continue;
        }
        let lines = run_child("train", path.name());
        // Each line: "<path> <threads> <arch> | <digests>"; the digests must not
        // depend on the path or the thread count.
        let mut digests = Vec::new();
        for line in &lines {
            let (head, digest) = line.split_once(" | ").expect("a result line");
            assert!(
                head.starts_with(path.name()),
                "child ran {head}, not {path}"
            );
            digests.push(digest.to_string());
        }
        assert_eq!(digests.len(), 2 * ARCHS, "{path}: {lines:?}");
        for pair in digests.chunks(2) {
            assert_eq!(pair[0], pair[1], "{path}: 1 and 2 threads differ");
        }
        match &reference {
            None => reference = Some((path, digests)),
            Some((first, want)) => {
                for (i, (got, want)) in digests.iter().zip(want).enumerate() {
                    assert_eq!(got, want, "network {i}: {path} differs from {first}");
                }
            }
        }
        covered.push(path.name());
    }
    eprintln!("bit-identical training on: {}", covered.join(", "));
    assert!(covered.contains(&"scalar"));
}

#[test]
fn a_bad_nas_simd_is_an_error_where_a_network_is_built() {
    run_child("refuse", "sse9");
    for path in SimdPath::ALL {
        if !path.is_supported() {
            run_child("refuse", path.name());
        }
    }
}

/// Networks trained per child and thread count.
const ARCHS: usize = 5;

/// The reference CNN, a valid-padding network, and three architectures sampled from a
/// small space with every activation, pooling, dense layers and dropout.
fn architectures() -> Vec<Architecture> {
    let mut archs: Vec<Architecture> = [
        "conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2",
        "conv5x5-6-gelu-valid > maxpool2 > conv3x3-10-sigmoid-valid > dropout0.25 > dense24-tanh",
    ]
    .iter()
    .map(|a| a.parse().expect("an architecture"))
    .collect();
    let all = Activation::ALL.to_vec();
    let space = ChainParams {
        min_layers: 2,
        max_layers: 4,
        conv2d: Some(Conv2dChoices {
            filters: vec![4, 8, 12],
            kernels: vec![3, 5],
            activations: all.clone(),
            padding: Default::default(),
        }),
        maxpool2d: true,
        dense: Some(DenseChoices {
            units: vec![16, 40],
            activations: all,
        }),
        dropout: Some(DropoutChoices {
            rates: vec!["0.25".parse().expect("a rate")],
        }),
    }
    .check(InputShape::new(1, 28, 28))
    .expect("a valid space");
    // Small ones only (the scalar kernels are slow): at most 400k forward MACs.
    let mut rng = rng_from_seed(18);
    while archs.len() < ARCHS {
        let arch = space.sample(&mut rng);
        let cost = arch.cost(InputShape::new(1, 28, 28), 10).expect("a cost");
        if cost.macs <= 400_000 {
            archs.push(Architecture::Chain(arch));
        }
    }
    archs
}

/// The mini MNIST cut down so that the scalar kernels train on it in seconds: 1,024
/// training images (128 held out for validation), 128 test images.
fn small_mnist() -> Arc<Dataset> {
    let mut data = mini_mnist().expect("the embedded mini MNIST");
    let first = |n: u32| (0..n).collect::<Vec<u32>>();
    data.train = data.train.select(&first(1024));
    data.test = data.test.select(&first(128));
    Arc::new(data)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
#[ignore = "run by the tests above in a child process, with NAS_SIMD set"]
fn child_under_nas_simd() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let data = small_mnist();
    let split = data.validation_split(128, 7).expect("a split");
    if mode == "refuse" {
        let params = TrainParams::default().check().expect("parameters");
        let arch: Architecture = "dense8-relu".parse().expect("an architecture");
        let err = Network::new(&arch, data.shape, data.classes, &params, 1).unwrap_err();
        assert!(matches!(err, Error::Simd { .. }), "{err}");
        assert!(simd_path().is_err());
        let evaluator = TrainingEvaluator::new(data.clone(), split.clone(), params).unwrap();
        assert!(
            evaluator
                .train(&arch, &Budget::default(), 1, false)
                .is_err()
        );
        println!("RESULT refused: {err}");
        return;
    }
    let path = simd_path().expect("a valid NAS_SIMD");
    let norm = Normalizer::fit(&data.train, data.shape, &split.train);
    let budget = Budget {
        epochs: 1,
        train_subset: Some(256),
    };
    for (i, arch) in architectures().iter().enumerate() {
        for threads in [1, 2] {
            let params = TrainParams {
                threads,
                ..TrainParams::default()
            }
            .check()
            .expect("parameters");
            let seed = 100 + i as u64;
            // The evaluator's protocol: every metric of a trial.
            let evaluator = TrainingEvaluator::new(data.clone(), split.clone(), params.clone())
                .expect("an evaluator");
            let report = evaluator.train(arch, &budget, seed, true).expect("a trial");
            let m = &report.metrics;
            let metrics = [
                m.val_acc,
                m.val_loss,
                m.test_acc,
                m.test_loss,
                Some(m.epochs),
            ]
            .map(|v| v.map_or("none".to_string(), |v| format!("{:016x}", v.to_bits())));
            // The final weights, from a network trained step by step.
            let mut net =
                Network::new(arch, data.shape, data.classes, &params, seed).expect("a network");
            let mut losses = Vec::new();
            for batch in evaluator.train_images(&budget).expect("images").chunks(128) {
                let loss = net.train_step(&data.train, &norm, batch).expect("a step");
                losses.push(format!("{:016x}", loss.to_bits()));
            }
            let bits: Vec<u8> = net
                .weights()
                .iter()
                .flat_map(|w| w.to_bits().to_le_bytes())
                .collect();
            println!(
                "RESULT {path} {threads} {arch} | status {:?} {:?} metrics {} losses {} weights {} sha256 {}",
                report.status,
                report.reason,
                metrics.join(" "),
                losses.join(" "),
                net.weights().len(),
                hex(&Sha256::digest(&bits)),
            );
        }
    }
}
