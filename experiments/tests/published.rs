//! The published benchmarks shipped in benchmarks/: every table reads back with its
//! checksum; where ../shared/benchmarks exists (as in CI) every table is rebuilt from the
//! published files byte for byte (build.py, then `nas import-table`); and the NAS-Bench-201
//! CIFAR-10 comparison reruns to its committed tables.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{nas, nas_ok, read};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (build script, import spec, data file name, table directory) of every shipped table.
fn tables() -> Vec<(PathBuf, PathBuf, String, PathBuf)> {
    let nb201 = root().join("benchmarks/nas-bench-201");
    let macro_ = root().join("benchmarks/nas-bench-macro");
    let mut out: Vec<_> = ["cifar10", "cifar100", "imagenet16-120"]
        .into_iter()
        .map(|ds| {
            (
                nb201.join("build.py"),
                nb201.join(format!("{ds}.import.toml")),
                format!("{ds}.csv"),
                nb201.join(ds),
            )
        })
        .collect();
    out.push((
        macro_.join("build.py"),
        macro_.join("cifar10.import.toml"),
        "cifar10.csv".into(),
        macro_.join("cifar10"),
    ));
    out
}

#[test]
fn every_shipped_table_matches_its_checksum() {
    for (_, _, _, dir) in tables() {
        let (manifest, records) = experiments::tabular::read_wide(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(records.len(), manifest.architectures);
    }
    experiments::tabular::TabularEvaluator::open(&root().join("benchmarks/mnist-small")).unwrap();
}

#[test]
fn nas_counts_nas_bench_macro_s_published_parameters_and_flops_exactly() {
    let dir = root().join("benchmarks/nas-bench-macro/cifar10");
    let (manifest, records) = experiments::tabular::read_wide(&dir).unwrap();
    let space = manifest.space.check(manifest.input).unwrap();
    assert_eq!(records.len(), 6561);
    for (arch, record) in &records {
        let cost = space.cost(arch, manifest.classes).unwrap();
        assert_eq!(
            (Some(cost.params), Some(cost.macs)),
            (record.params, record.macs),
            "{arch}"
        );
    }
}

#[test]
fn the_tables_are_rebuilt_from_the_published_files_byte_for_byte() {
    let shared = root().join("../shared/benchmarks");
    if !shared.is_dir() {
        println!("SKIPPED: {} is absent", shared.display());
        return;
    }
    let python = Command::new("python3").arg("--version").output();
    if python.is_err() {
        assert!(std::env::var_os("CI").is_none(), "python3 is needed in CI");
        println!("SKIPPED: no python3");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (script, spec, data, committed) in tables() {
        let import = tmp.path().join("import");
        let status = Command::new("python3")
            .arg(&script)
            .args(["--shared", shared.to_str().unwrap(), "--out"])
            .arg(&import)
            .status()
            .unwrap();
        assert!(status.success(), "{}", script.display());
        // One directory per table: NAS-Bench-201's and NAS-Bench-Macro's CIFAR-10 tables
        // share a folder name, and importing one over the other is refused.
        let benchmark = committed.parent().unwrap().file_name().unwrap();
        let out = tmp
            .path()
            .join(benchmark)
            .join(committed.file_name().unwrap());
        nas()
            .args(["import-table", spec.to_str().unwrap(), "--data"])
            .arg(import.join(&data))
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        for f in ["table.csv", "table.json"] {
            assert!(
                read(&out, f) == read(&committed, f),
                "{} is not what build.py and nas import-table make",
                committed.join(f).display()
            );
        }
    }
}

/// Shards of the NAS-Bench-201 CIFAR-10 rerun: shard 0 of 10 holds repetitions 0, 10,
/// ..., 490 of every strategy (runs are dealt round-robin, 500 per strategy).
const RERUN_SHARDS: u32 = 10;

/// Reruns the NAS-Bench-201 CIFAR-10 comparison and compares it with the committed
/// results byte for byte. By default it reruns one tenth of the runs (shard 0 of 10: 50
/// runs of each of the six strategies) and compares their rows of runs.csv: the whole
/// comparison takes BANANAS's 500 runs, each training 9-10 ensembles of five networks,
/// which is several minutes of CPU. With `NAS_FULL_RERUN=1` it reruns every run and also
/// compares summary.csv, tests.csv and tables.tex.
#[test]
fn the_nas_bench_201_cifar10_comparison_reruns_to_the_committed_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let config = root().join("experiments/nas-bench-201-cifar10.toml");
    let out = tmp.path().join("rerun");
    let committed = root().join("results/nas-bench-201-cifar10");
    if std::env::var_os("NAS_FULL_RERUN").is_some_and(|v| v == "1") {
        nas_ok("run", &config, &out, &[]);
        for f in ["runs.csv", "summary.csv", "tests.csv", "tables.tex"] {
            assert!(
                read(&out, f) == read(&committed, f),
                "{} differs from a rerun",
                committed.join(f).display()
            );
        }
        return;
    }
    let shard = format!("0/{RERUN_SHARDS}");
    nas_ok("run", &config, &out, &["--shard", &shard]);
    nas()
        .args(["merge", out.to_str().unwrap(), "--allow-partial"])
        .assert()
        .success();
    // Rows of the shard's runs: `strategy,repetition,...` with repetition % 10 == 0.
    let rows = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .filter(|line| {
                line.split(',')
                    .nth(1)
                    .and_then(|r| r.parse::<u32>().ok())
                    .is_some_and(|r| r % RERUN_SHARDS == 0)
            })
            .map(str::to_string)
            .collect()
    };
    let rerun = String::from_utf8(read(&out, "runs.csv")).unwrap();
    let expected = String::from_utf8(read(&committed, "runs.csv")).unwrap();
    assert_eq!(
        rerun.lines().next(),
        expected.lines().next(),
        "runs.csv's header changed"
    );
    let (rerun, expected) = (rows(&rerun), rows(&expected));
    assert_eq!(
        expected.len(),
        6 * 50,
        "50 runs of each of the 6 strategies"
    );
    for (a, b) in rerun.iter().zip(&expected) {
        assert_eq!(a, b, "a rerun run differs from the committed runs.csv");
    }
    assert_eq!(rerun.len(), expected.len());
}
