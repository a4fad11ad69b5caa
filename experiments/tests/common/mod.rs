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

/// A tabular experiment over a made-up table of four architectures (see
/// [`write_table`]): runs in milliseconds.
pub const TABLED: &str = r#"
[experiment]
name = "tabled"
seed = 5
repetitions = 3
evaluations = 6
workers = 1

[evaluator]
kind = "tabular"
table = "table"

[space]
max_layers = 1
[space.dense]
units = [8, 16, 32, 64]
activations = ["relu"]

[[strategy]]
kind = "random"
[[strategy]]
kind = "evolution"
params = { population = 2, sample_size = 1 }
"#;

/// One made-up row of a table made by `nas tabulate` (format 1): `arch`, seed `k`,
/// validation and test accuracy and training seconds.
pub struct Row {
    pub arch: &'static str,
    pub seed: u32,
    pub val_acc: f64,
    pub test_acc: f64,
    pub train_seconds: f64,
}

/// The rows of a well-formed table for [`TABLED`]: four architectures, two seeds each,
/// one epoch and 53 recorded seconds per training; `dense64-relu` is the best.
pub fn good_rows() -> Vec<Row> {
    let row = |arch, seed, val_acc, test_acc| Row {
        arch,
        seed,
        val_acc,
        test_acc,
        train_seconds: 53.0,
    };
    vec![
        row("dense8-relu", 0, 0.81, 0.8),
        row("dense8-relu", 1, 0.83, 0.82),
        row("dense16-relu", 0, 0.86, 0.85),
        row("dense16-relu", 1, 0.88, 0.87),
        row("dense32-relu", 0, 0.9, 0.89),
        row("dense32-relu", 1, 0.92, 0.9),
        row("dense64-relu", 0, 0.94, 0.93),
        row("dense64-relu", 1, 0.95, 0.94),
    ]
}

/// Writes `config_text` into `dir` as `name` and a table made of `rows` into `dir/table`
/// (with `table.json`'s checksum computed over whatever the rows hold, as a user who
/// edits a table and recomputes its checksum would), returning the config's path.
pub fn write_table(dir: &Path, name: &str, config_text: &str, rows: &[Row]) -> PathBuf {
    use experiments::tabular::{TABLE_FORMAT, TableManifest, TableRow};
    std::fs::create_dir_all(dir).unwrap();
    let config = write_config(dir, name, config_text);
    let loaded = experiments::config::load(&config).unwrap();
    let c = &loaded.config;
    let rows: Vec<(TableRow, Vec<_>)> = rows
        .iter()
        .map(|r| {
            let arch: nas_core::Architecture = r.arch.parse().unwrap();
            TableRow {
                arch_id: arch.id().to_string(),
                arch: arch.to_string(),
                seed: r.seed,
                trial_seed: u64::from(r.seed),
                status: nas_core::Status::Ok,
                reason: None,
                val_acc: Some(r.val_acc),
                val_loss: Some(0.5),
                test_acc: Some(r.test_acc),
                test_loss: Some(0.5),
                params: Some(100),
                macs: Some(100),
                epochs: Some(1.0),
                train_seconds: Some(r.train_seconds),
            }
        })
        .map(|row| (row, Vec::new()))
        .collect();
    let table = dir.join("table");
    std::fs::create_dir_all(&table).unwrap();
    experiments::tabular::write_table(
        &table,
        &rows,
        None,
        TableManifest {
            format: TABLE_FORMAT.0.into(),
            version: TABLE_FORMAT.1,
            nas_version: "test".into(),
            dataset: "mnist".into(),
            data_identity: "made up".into(),
            data_files: Vec::new(),
            input: nas_core::InputShape::new(1, 28, 28),
            classes: 10,
            space: c.space.clone(),
            budget: c.budget.clone(),
            training: toml::Table::new(),
            validation_size: 100,
            experiment_seed: 1,
            seeds: 2,
            architectures: 4,
            rows: 0,
            not_ok: 0,
            train_seconds_total: 0.0,
            table_sha256: String::new(),
            curves: None,
        },
    )
    .unwrap();
    config
}

/// Runs a nas command that must fail on bad input: exit code 2, one `error:` line
/// holding `expect`; returns stderr.
pub fn nas_refused(args: &[&str], expect: &str) -> String {
    let output = nas().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(expect),
        "{args:?}: expected `{expect}` in: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Writes a valid copy of the mini MNIST files into `dir` (from the embedded set).
pub fn write_idx_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    use nas_eval::data::idx;
    let data = nas_eval::data::mini_mnist().unwrap();
    let files = vec![
        (
            "train-images-idx3-ubyte".to_string(),
            idx::encode_images(&data.train, 28, 28).unwrap(),
        ),
        (
            "train-labels-idx1-ubyte".to_string(),
            idx::encode_labels(&data.train).unwrap(),
        ),
        (
            "t10k-images-idx3-ubyte".to_string(),
            idx::encode_images(&data.test, 28, 28).unwrap(),
        ),
        (
            "t10k-labels-idx1-ubyte".to_string(),
            idx::encode_labels(&data.test).unwrap(),
        ),
    ];
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    files
}

/// Starts `nas run CONFIG --out OUT --quiet [--resume]` without waiting (to be killed);
/// its stderr is piped.
pub fn spawn_run(config: &Path, out: &Path, resume: bool) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("nas"));
    cmd.args([
        "run",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    if resume {
        cmd.arg("--resume");
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}
