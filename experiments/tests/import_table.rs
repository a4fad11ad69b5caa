//! `nas import-table` on a user's data, and runs on the tables it makes: every value is
//! checked where it enters, with errors naming the file, row and column; a tampered table,
//! another space or a fidelity the table does not have are refused before any run.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{nas, nas_ok, read, write_config};

/// A two-node cell space of three architectures.
const SPACE: &str =
    "[space]\nkind = \"cell\"\nnodes = 2\nops = [\"none\", \"skip_connect\", \"nor_conv_3x3\"]\n";

fn spec(dir: &Path, data: &str, extra: &str) -> PathBuf {
    write_config(
        dir,
        "spec.toml",
        &format!(
            r#"[table]
name = "tiny"
description = "three cells"
source = "made up for a test"
dataset = "made-up"
input = "3x8x8"
classes = 10
accuracy = "percent"
data = "{data}"
signal = {{ fidelity = 4, metric = "val_acc", noise = "seed" }}
report = {{ fidelity = 20, metric = "test_acc", noise = "mean" }}
{extra}
{SPACE}"#
        ),
    )
}

const GOOD: &str = "arch,val_acc@4#0,val_acc@4#1,train_seconds@4,test_acc@20\n\
|none~0|,10,11,1.5,12\n\
|skip_connect~0|,40,42,1.5,45\n\
|nor_conv_3x3~0|,70,74,3,80\n";

/// Imports `data` (as data.csv or data.json) and returns stderr when it fails.
fn import(dir: &Path, name: &str, data: &str, extra: &str) -> Result<PathBuf, String> {
    fs::write(dir.join(name), data).unwrap();
    let spec = spec(dir, name, extra);
    let out = dir.join("table");
    let output = nas()
        .args([
            "import-table",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    if output.status.success() {
        Ok(out)
    } else {
        assert_eq!(output.status.code(), Some(2), "bad input exits with 2");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(
            stderr.starts_with("error: ") && stderr.trim().lines().count() == 1,
            "{stderr}"
        );
        Err(stderr)
    }
}

#[test]
fn bad_values_are_named_by_file_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    for (data, needle) in [
        (
            GOOD.replace(",11,", ",NaN,"),
            "data.csv: row 2, column `val_acc@4#1`: `NaN` is not a finite number",
        ),
        (
            GOOD.replace(",42,", ",150,"),
            "row 3, column `val_acc@4#1`: accuracy 150 is outside [0, 100]",
        ),
        (
            GOOD.replace(",3,80", ",-3,80"),
            "row 4, column `train_seconds@4`: -3 is negative",
        ),
        (
            GOOD.replace(",74,", ",x,"),
            "row 4, column `val_acc@4#1`: `x` is not a number",
        ),
        (
            GOOD.replace("val_acc@4#0", "val_accuracy@4#0"),
            "row 1, column 2: unknown metric `val_accuracy`",
        ),
        (
            GOOD.replace("|skip_connect~0|", "|none~0|"),
            "row 3, column `arch`: `|none~0|` already appears in row 2",
        ),
        (
            GOOD.replace("|skip_connect~0|", "|conv_3x3~0|"),
            "row 3, column `arch`: cannot parse architecture `|conv_3x3~0|`: unknown cell op",
        ),
        (
            GOOD.replace("|skip_connect~0|", "|avg_pool_3x3~0|"),
            "row 3, column `arch`: architecture `|avg_pool_3x3~0|` is not in the search space",
        ),
        (
            GOOD.lines().take(3).map(|l| format!("{l}\n")).collect(),
            "2 architectures, the space has 3; e.g. `|nor_conv_3x3~0|` is missing",
        ),
        (
            GOOD.replace(",70,74,3,80", ",,,3,80"),
            "row 4, column `val_acc@4#0`: `|nor_conv_3x3~0|` has no value for the table's signal",
        ),
        (
            GOOD.replace(",12\n", ",\n"),
            "row 2, column `test_acc@20`: `|none~0|` has no value for the table's report",
        ),
    ] {
        let err = import(tmp.path(), "data.csv", &data, "").unwrap_err();
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
    }
    let err = import(
        tmp.path(),
        "data.json",
        "{\"|none~0|\": {\"val_acc@4#0\": 101}}",
        "subset = true",
    )
    .unwrap_err();
    assert!(
        err.contains("data.json: row 1, column `val_acc@4#0`: accuracy 101 is outside [0, 100]"),
        "{err}"
    );
    // A spec value of the wrong kind is named by its field.
    let spec_path = spec(tmp.path(), "data.csv", "");
    let text = fs::read_to_string(&spec_path)
        .unwrap()
        .replace("accuracy = \"percent\"", "accuracy = \"percentage\"");
    fs::write(&spec_path, text).unwrap();
    common::nas_refused(
        &[
            "import-table",
            spec_path.to_str().unwrap(),
            "--out",
            tmp.path().join("never").to_str().unwrap(),
        ],
        "spec.toml:8:12: `table.accuracy`: unknown variant `percentage`",
    );
}

fn run_config(table: &Path, extra: &str) -> String {
    format!(
        "[experiment]\nseed = 4\nrepetitions = 3\nevaluations = 5\nworkers = 1\n[evaluator]\nkind = \"tabular\"\ntable = \"{}\"\n{extra}\n{SPACE}\n[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"evolution\"\nparams = {{ population = 2, sample_size = 2 }}\n",
        table.display()
    )
}

fn refused_run(dir: &Path, config: &str) -> String {
    let path = write_config(dir, "run.toml", config);
    let out = nas()
        .args([
            "run",
            path.to_str().unwrap(),
            "--out",
            dir.join("never").to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !dir.join("never").join("journal.jsonl").exists(),
        "nothing ran"
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn imported_tables_answer_runs_and_bad_tables_are_refused_before_any_run() {
    let tmp = tempfile::tempdir().unwrap();
    let table = import(tmp.path(), "data.csv", GOOD, "").unwrap();
    // The table reads back, its values kept as written.
    let csv = String::from_utf8(read(&table, "table.csv")).unwrap();
    assert!(
        csv.starts_with("arch,params,macs,val_acc@4#0,val_acc@4#1,train_seconds@4,test_acc@20\n"),
        "{csv}"
    );
    // A JSON import of the same values makes the same table.
    let json = "{\"|nor_conv_3x3~0|\": {\"val_acc@4#0\": 70, \"val_acc@4#1\": 74, \"train_seconds@4\": 3, \"test_acc@20\": 80},\
                \"|none~0|\": {\"val_acc@4#0\": 10, \"val_acc@4#1\": 11, \"train_seconds@4\": 1.5, \"test_acc@20\": 12},\
                \"|skip_connect~0|\": {\"val_acc@4#0\": 40, \"val_acc@4#1\": 42, \"train_seconds@4\": 1.5, \"test_acc@20\": 45, \"val_loss@4\": null}}";
    let dir2 = tmp.path().join("json");
    fs::create_dir_all(&dir2).unwrap();
    let table2 = import(&dir2, "data.json", json, "").unwrap();
    assert_eq!(read(&table2, "table.csv"), read(&table, "table.csv"));

    // A run on it: fitness from one recorded seed, test from the mean at 20 epochs.
    let run = write_config(tmp.path(), "run.toml", &run_config(&table, ""));
    let out = tmp.path().join("out");
    nas_ok("run", &run, &out, &[]);
    let runs = String::from_utf8(read(&out, "runs.csv")).unwrap();
    assert!(
        runs.contains(",0.8,") || runs.contains(",0.45,") || runs.contains(",0.12,"),
        "{runs}"
    );
    let report = String::from_utf8(read(&out, "report.md")).unwrap();
    assert!(
        report.contains(
            "validation accuracy after 4 epochs (one recorded training, chosen by the trial seed)"
        ),
        "{report}"
    );
    assert!(
        report.contains("test accuracy after 20 epochs (mean over the recorded trainings)"),
        "{report}"
    );

    // A fidelity the table does not have.
    let err = refused_run(
        tmp.path(),
        &run_config(
            &table,
            "signal = { fidelity = 12, metric = \"val_acc\", noise = \"mean\" }",
        ),
    );
    assert!(
        err.contains("evaluator.signal") && err.contains("fidelity = 12 is not recorded"),
        "{err}"
    );
    // A pick without values for every architecture (no mean at 4 epochs).
    let err = refused_run(
        tmp.path(),
        &run_config(
            &table,
            "signal = { fidelity = 4, metric = \"val_acc\", noise = \"mean\" }",
        ),
    );
    assert!(
        err.contains("is not recorded for every architecture"),
        "{err}"
    );
    // Another space.
    let other = run_config(&table, "").replace("nodes = 2", "nodes = 3");
    let err = refused_run(tmp.path(), &other);
    assert!(err.contains("differs from the space of the table"), "{err}");
    // A tampered table.
    let csv_path = table.join("table.csv");
    fs::write(&csv_path, csv.replace(",80\n", ",81\n")).unwrap();
    let err = refused_run(tmp.path(), &run_config(&table, ""));
    assert!(
        err.contains("table.csv") && err.contains("does not match table.json"),
        "{err}"
    );
}

#[test]
fn an_import_never_replaces_another_table_or_an_experiment() {
    let tmp = tempfile::tempdir().unwrap();
    let table = import(tmp.path(), "data.csv", GOOD, "").unwrap();
    let before = read(&table, "table.json");
    // The same table imported again replaces it (new data, same name)...
    import(tmp.path(), "data.csv", &GOOD.replace(",80\n", ",81\n"), "").unwrap();
    // ... a table of another name does not.
    fs::write(tmp.path().join("data.csv"), GOOD).unwrap();
    let spec = spec(tmp.path(), "data.csv", "")
        .to_str()
        .unwrap()
        .to_string();
    let other = fs::read_to_string(&spec)
        .unwrap()
        .replace("name = \"tiny\"", "name = \"other\"");
    let other_spec = write_config(tmp.path(), "other.toml", &other);
    let replaced = read(&table, "table.json");
    assert_ne!(replaced, before);
    let output = nas()
        .args(["import-table", other_spec.to_str().unwrap(), "--out"])
        .arg(&table)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("holds the imported table \"tiny\", not \"other\": nothing was changed"),
        "{stderr}"
    );
    assert_eq!(read(&table, "table.json"), replaced);
    // An experiment's directory is not a table's.
    let run = write_config(tmp.path(), "run.toml", &run_config(&table, ""));
    let out = tmp.path().join("out");
    nas_ok("run", &run, &out, &[]);
    let output = nas()
        .args(["import-table", other_spec.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds an experiment"));
}
