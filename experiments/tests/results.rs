//! The committed reference results are reproducible: `nas report` regenerates the
//! baselines' tables byte for byte from their journals, the tabular benchmark's table
//! from its journal, and the tabular comparison reruns (in seconds) to the same tables.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{nas, nas_ok, read};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies the files `nas report` reads into a temporary directory.
fn copy_inputs(from: &Path, to: &Path, files: &[&str]) {
    fs::create_dir_all(to).unwrap();
    for f in files {
        fs::copy(from.join(f), to.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}", from.join(f).display()));
    }
}

/// Runs `nas report` on a copy of a committed directory's inputs and checks that it writes
/// `outputs` exactly as committed.
fn assert_report_regenerates(committed: &Path, outputs: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("copy");
    copy_inputs(
        committed,
        &dir,
        &["journal.jsonl", "config.resolved.toml", "manifest.json"],
    );
    nas()
        .args(["report", dir.to_str().unwrap()])
        .assert()
        .success();
    for f in outputs {
        assert_eq!(
            read(&dir, f),
            read(committed, f),
            "{} is not what nas report writes",
            committed.join(f).display()
        );
    }
}

#[test]
fn nas_report_regenerates_the_committed_baselines_byte_for_byte() {
    for name in ["mnist-baselines", "fashion-mnist-baselines"] {
        assert_report_regenerates(
            &root().join("results").join(name),
            &[
                "trials.csv",
                "runs.csv",
                "summary.csv",
                "tests.csv",
                "tables.tex",
                "report.md",
                // A finished experiment's report keeps its manifest (when it finished).
                "manifest.json",
            ],
        );
    }
}

#[test]
fn the_tabular_benchmark_table_is_derived_from_its_journal() {
    assert_report_regenerates(
        &root().join("benchmarks/mnist-small"),
        &["table.csv", "table.json", "manifest.json"],
    );
    assert_report_regenerates(
        &root().join("benchmarks/fashion-mnist-cells"),
        &["table.csv", "table.json", "curves.csv", "manifest.json"],
    );
}

#[test]
fn the_multi_fidelity_comparisons_rerun_to_the_committed_tables() {
    for name in ["fashion-mnist-cells-mf-1w", "fashion-mnist-cells-mf-4w"] {
        let tmp = tempfile::tempdir().unwrap();
        let config = root().join(format!("experiments/{name}.toml"));
        let out = tmp.path().join("rerun");
        nas_ok("run", &config, &out, &[]);
        let committed = root().join("results").join(name);
        for f in ["runs.csv", "summary.csv", "tests.csv", "tables.tex"] {
            assert_eq!(read(&out, f), read(&committed, f), "results/{name}/{f}");
        }
    }
}

#[test]
fn the_tabular_comparison_reruns_to_the_committed_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let config = root().join("experiments/mnist-small-tabular.toml");
    let out = tmp.path().join("rerun");
    nas_ok("run", &config, &out, &[]);
    let committed = root().join("results/mnist-small-tabular");
    for f in ["runs.csv", "summary.csv", "tests.csv", "tables.tex"] {
        assert_eq!(
            read(&out, f),
            read(&committed, f),
            "results/mnist-small-tabular/{f}"
        );
    }
}
