//! Helpers shared by the end-to-end tests of the `nas` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A tiny but real experiment on the shipped mini MNIST: every strategy, 2 repetitions,
/// 4 evaluations, small networks trained on 300 images.
pub const TINY: &str = r#"
[experiment]
name = "tiny"
seed = 7
repetitions = 2
evaluations = 4
workers = 1

[data]
dataset = "mnist"
validation_size = 300

[space]
max_layers = 2
maxpool2d = true
[space.conv2d]
filters = [4]
kernels = [3]
activations = ["relu"]
[space.dense]
units = [16, 32]
activations = ["relu", "tanh"]

[budget]
epochs = 1
train_subset = 300

[training]
batch_size = 16

[[strategy]]
kind = "random"
[[strategy]]
kind = "genetic"
params = { population = 4 }
[[strategy]]
kind = "evolution"
[[strategy]]
kind = "reinforce"
[[strategy]]
kind = "qlearning"
"#;

/// The files that must be byte-identical between equivalent runs.
pub const REPRODUCIBLE: [&str; 4] = ["trials.csv", "runs.csv", "summary.csv", "tests.csv"];

/// Writes a config into `dir` and returns its path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The `nas` binary.
pub fn nas() -> Command {
    let mut cmd = Command::cargo_bin("nas").unwrap();
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Runs `nas COMMAND CONFIG --out OUT --quiet EXTRA...` and asserts that it succeeds.
pub fn nas_ok(command: &str, config: &Path, out: &Path, extra: &[&str]) {
    nas()
        .args([
            command,
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .args(extra)
        .assert()
        .success();
}

/// Reads a file of an output directory.
pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}
