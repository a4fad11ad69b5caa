//! Tabular benchmarks: tabulate a tiny space, then run strategies on table lookups.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{REPRODUCIBLE, nas, nas_ok, read, write_config};
use experiments::tabular::{TabularEvaluator, read_table};
use nas_core::{Architecture, Budget, EvalRequest, Evaluator};

/// A space of 34 architectures, trained on 300 mini-MNIST images, 2 seeds each.
const TABULATE: &str = r#"
[experiment]
name = "tab"
seed = 3
repetitions = 6
evaluations = 8
workers = 1

[data]
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

[tabulate]
seeds = 2
chunk = 4
"#;

fn run_config(table: &Path) -> String {
    format!(
        "{TABULATE}\n[evaluator]\nkind = \"tabular\"\ntable = {:?}\n\n[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"evolution\"\n[[strategy]]\nkind = \"reinforce\"\n[[strategy]]\nkind = \"qlearning\"\n[[strategy]]\nkind = \"genetic\"\nparams = {{ population = 4 }}\n",
        table.to_str().unwrap()
    )
}

fn tabulate(config: &Path, out: &Path) {
    nas_ok("tabulate", config, out, &[]);
}

/// The table without its timing column (the only measured, machine-dependent value).
fn scores(dir: &Path) -> Vec<String> {
    let text = String::from_utf8(read(dir, "table.csv")).unwrap();
    text.lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

fn table(tmp: &Path) -> (PathBuf, PathBuf) {
    let config = write_config(tmp, "tabulate.toml", TABULATE);
    let dir = tmp.join("table");
    tabulate(&config, &dir);
    (config, dir)
}

#[test]
fn tabular_runs_are_identical_across_repeats_and_workers_and_answer_recorded_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, dir) = table(tmp.path());
    let (manifest, rows) = read_table(&dir).unwrap();
    assert_eq!(manifest.architectures, 34);
    assert_eq!(rows.len(), 68);

    // The evaluator answers exactly what was recorded, for one of the K seeds.
    let evaluator = TabularEvaluator::open(&dir).unwrap();
    let budget = Budget {
        epochs: 1,
        train_subset: Some(300),
    };
    for row in &rows {
        let arch: Architecture = row.arch.parse().unwrap();
        let mut seen = Vec::new();
        for seed in 0..16u64 {
            let eval = evaluator
                .evaluate(&EvalRequest {
                    arch: &arch,
                    budget: &budget,
                    seed,
                    test: true,
                    fidelity: None,
                })
                .unwrap();
            let m = eval.metrics;
            let recorded = rows
                .iter()
                .find(|r| r.arch == row.arch && r.val_acc == m.val_acc)
                .expect("a recorded row");
            assert_eq!(m.test_acc, recorded.test_acc);
            assert_eq!(m.val_loss, recorded.val_loss);
            assert_eq!(Some(m.params), recorded.params);
            assert_eq!(Some(m.train_seconds), recorded.train_seconds);
            seen.push(recorded.seed);
            // Search trials never see the test score.
            let search = evaluator
                .evaluate(&EvalRequest {
                    arch: &arch,
                    budget: &budget,
                    seed,
                    test: false,
                    fidelity: None,
                })
                .unwrap();
            assert_eq!(search.metrics.test_acc, None);
            assert_eq!(search.metrics.val_acc, m.val_acc);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            2,
            "trial seeds reach both recorded seeds of {}",
            row.arch
        );
    }
    // An architecture outside the table is refused with a clear error.
    let outside: Architecture = "dense64-relu".parse().unwrap();
    let err = evaluator
        .evaluate(&EvalRequest {
            arch: &outside,
            budget: &budget,
            seed: 1,
            test: false,
            fidelity: None,
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not in the table"), "{err}");

    // Runs on the table: byte-identical on repeat and with any worker count.
    let config = write_config(tmp.path(), "run.toml", &run_config(&dir));
    let outs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| tmp.path().join(n)).collect();
    for (out, workers) in outs.iter().zip(["1", "1", "2"]) {
        nas()
            .args([
                "run",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
                "--workers",
                workers,
            ])
            .assert()
            .success();
    }
    for f in REPRODUCIBLE {
        assert_eq!(
            read(&outs[0], f),
            read(&outs[1], f),
            "{f} differs on repeat"
        );
        assert_eq!(
            read(&outs[0], f),
            read(&outs[2], f),
            "{f} differs with 2 workers"
        );
    }
    assert!(outs[0].join("anytime_time.svg").is_file());
    let report = String::from_utf8(read(&outs[0], "report.md")).unwrap();
    assert!(report.contains("optimum by validation"), "{report}");

    // A budget in simulated seconds stops runs early, reproducibly.
    let total: f64 = rows.iter().filter_map(|r| r.train_seconds).sum::<f64>() / rows.len() as f64;
    let timed = run_config(&dir).replace(
        "evaluations = 8",
        &format!("evaluations = 8\nmax_train_seconds = {}", total * 3.0),
    );
    let timed = write_config(tmp.path(), "timed.toml", &timed);
    let out = tmp.path().join("timed");
    nas_ok("run", &timed, &out, &[]);
    let trials = String::from_utf8(read(&out, "trials.csv")).unwrap();
    assert!(
        trials.lines().count() - 1 < 5 * 6 * 8,
        "the seconds budget cut runs short"
    );
}

#[test]
fn a_tabular_run_refuses_a_space_or_budget_other_than_the_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, dir) = table(tmp.path());
    let other_space = run_config(&dir).replace("units = [16, 32]", "units = [16, 64]");
    let config = write_config(tmp.path(), "space.toml", &other_space);
    let assert = nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            tmp.path().join("o1").to_str().unwrap(),
        ])
        .assert()
        .code(2);
    assert!(
        String::from_utf8_lossy(&assert.get_output().stderr)
            .contains("differs from the space of the table")
    );
    let other_budget = run_config(&dir).replace("train_subset = 300", "train_subset = 200");
    let config = write_config(tmp.path(), "budget.toml", &other_budget);
    let assert = nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            tmp.path().join("o2").to_str().unwrap(),
        ])
        .assert()
        .code(2);
    assert!(
        String::from_utf8_lossy(&assert.get_output().stderr)
            .contains("recorded with epochs = 1, train_subset = 300")
    );
    // Too large a space for the limit.
    let config = write_config(tmp.path(), "big.toml", TABULATE);
    let assert = nas()
        .args([
            "tabulate",
            config.to_str().unwrap(),
            "--out",
            tmp.path().join("big").to_str().unwrap(),
            "--max-architectures",
            "10",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("34 architectures, above the limit of 10"),
        "{stderr}"
    );
}

#[test]
fn tabulate_resumes_after_kills_without_retraining_finished_architectures() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, full) = table(tmp.path());
    let out = tmp.path().join("killed");
    let nas_bin = assert_cmd::cargo::cargo_bin("nas");
    let mut kills = 0;
    for (round, wait_ms) in [60u64, 120, 90].into_iter().enumerate() {
        let mut cmd = Command::new(&nas_bin);
        cmd.args([
            "tabulate",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        if round > 0 {
            cmd.arg("--resume");
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    nas_ok("tabulate", &config, &out, &["--resume"]);
    // Every (architecture, seed) was trained once: no finished trial appears twice.
    let contents = experiments::journal::read(&out.join("journal.jsonl")).unwrap();
    let mut trained: Vec<(String, u32)> = contents
        .events
        .iter()
        .filter_map(|e| match e {
            experiments::journal::Event::Trial(t) if t.status != nas_core::Status::Killed => {
                Some((t.arch.to_string(), t.repetition))
            }
            _ => None,
        })
        .collect();
    let n = trained.len();
    trained.sort();
    trained.dedup();
    assert_eq!(trained.len(), n, "an architecture was trained twice");
    assert_eq!(n, 68);
    assert_eq!(
        scores(&out),
        scores(&full),
        "same scores as an uninterrupted tabulation"
    );
    println!("tabulate: {kills} SIGKILLs, every architecture trained once, same table");
}

/// [`TABULATE`] with learning curves over 3 epochs, on a smaller space (8 architectures).
fn curve_config() -> String {
    TABULATE
        .replace("epochs = 1", "epochs = 3")
        .replace("[training]\n", "[training]\ncurve = true\n")
        .replace("maxpool2d = true", "maxpool2d = false")
        .replace("units = [16, 32]", "units = [16]")
}

#[test]
fn a_tabulation_with_learning_curves_answers_every_recorded_epoch_and_rebuilds_from_its_journal() {
    use experiments::tabular::{CURVES_CSV, read_table_with_curves};
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "curves.toml", &curve_config());
    let dir = tmp.path().join("table");
    tabulate(&config, &dir);
    let (manifest, rows, curves) = read_table_with_curves(&dir).unwrap();
    let info = manifest
        .curves
        .clone()
        .expect("the manifest declares the curves");
    assert_eq!((info.epochs, info.rows), (3, rows.len() * 3));
    assert_eq!(curves.len(), rows.len() * 3);
    assert!(rows.iter().all(|r| r.status == nas_core::Status::Ok));

    // `nas report` rebuilds the three files byte for byte from the journal.
    let before: Vec<Vec<u8>> = ["table.csv", "table.json", CURVES_CSV]
        .iter()
        .map(|f| read(&dir, f))
        .collect();
    std::fs::remove_file(dir.join(CURVES_CSV)).unwrap();
    nas()
        .args(["report", dir.to_str().unwrap()])
        .assert()
        .success();
    for (f, bytes) in ["table.csv", "table.json", CURVES_CSV].iter().zip(&before) {
        assert_eq!(&read(&dir, f), bytes, "{f} rebuilt");
    }

    // Every epoch of the curve is answered: epoch 3 is the row, epochs 1 and 2 its
    // curve, with the test score of the full training and the seconds to that epoch.
    let evaluator = TabularEvaluator::open(&dir).unwrap();
    let budget = |epochs| Budget {
        epochs,
        train_subset: Some(300),
    };
    for row in &rows {
        let arch: Architecture = row.arch.parse().unwrap();
        let curve: Vec<_> = curves
            .iter()
            .filter(|c| c.arch == row.arch && c.seed == row.seed)
            .collect();
        // The trial seed that reads this row's training seed.
        let seed = (0..64u64)
            .find(|&s| nas_core::derive_seed(s, "tabular-seed", 0) % 2 == u64::from(row.seed))
            .unwrap();
        for e in 1..=3u32 {
            let m = evaluator
                .evaluate(&EvalRequest {
                    arch: &arch,
                    budget: &budget(e),
                    seed,
                    test: true,
                    fidelity: None,
                })
                .unwrap()
                .metrics;
            let point = curve[e as usize - 1];
            assert_eq!(m.val_acc, Some(point.val_acc), "{} epoch {e}", row.arch);
            assert_eq!(m.val_loss, Some(point.val_loss));
            assert_eq!(m.epochs, f64::from(e));
            assert_eq!(m.test_acc, row.test_acc);
            if e < 3 {
                assert_eq!(m.train_seconds, point.train_seconds);
            } else {
                assert_eq!(Some(m.train_seconds), row.train_seconds);
            }
        }
        for bad in [
            budget(4),
            Budget {
                epochs: 2,
                train_subset: Some(200),
            },
        ] {
            let err = evaluator
                .evaluate(&EvalRequest {
                    arch: &arch,
                    budget: &bad,
                    seed,
                    test: false,
                    fidelity: None,
                })
                .unwrap_err()
                .to_string();
            assert!(err.contains("any epochs from 1 to 3"), "{err}");
        }
    }

    // A run reads any recorded epoch, and refuses one beyond the curve naming the field.
    let run = format!(
        "{}\n[evaluator]\nkind = \"tabular\"\ntable = {:?}\n\n[[strategy]]\nkind = \"random\"\n",
        curve_config().replace("repetitions = 6", "repetitions = 2"),
        dir.to_str().unwrap()
    );
    let early = write_config(
        tmp.path(),
        "early.toml",
        &run.replace("epochs = 3", "epochs = 2"),
    );
    nas_ok("run", &early, &tmp.path().join("early"), &[]);
    let trials = String::from_utf8(read(&tmp.path().join("early"), "trials.csv")).unwrap();
    assert!(trials.lines().count() > 1, "{trials}");
    let late = write_config(
        tmp.path(),
        "late.toml",
        &run.replace("epochs = 3", "epochs = 4"),
    );
    let out = tmp.path().join("late");
    common::nas_refused(
        &[
            "run",
            late.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "with epochs from 1 to 3 (the table holds learning curves)",
    );

    // Damaged curves are refused naming the file, row and column.
    let text = String::from_utf8(before[2].clone()).unwrap();
    let swapped = text.replacen(",1,", ",2,", 1);
    std::fs::write(dir.join(CURVES_CSV), &swapped).unwrap();
    let err = read_table_with_curves(&dir).unwrap_err().to_string();
    assert!(
        err.contains("curves.csv") && err.contains("checksum"),
        "{err}"
    );
    let mut json: serde_json::Value = serde_json::from_slice(&before[1]).unwrap();
    json["curves"]["sha256"] = experiments::config::hex(&{
        use sha2::Digest;
        sha2::Sha256::digest(swapped.as_bytes())
    })
    .into();
    std::fs::write(dir.join("table.json"), json.to_string()).unwrap();
    let err = read_table_with_curves(&dir).unwrap_err().to_string();
    assert!(
        err.contains("curves.csv") && err.contains("row 2, column `epoch`: 2 (allowed: 1"),
        "{err}"
    );
}

#[test]
fn nas_correlate_gives_kendalls_tau_over_the_shared_architectures() {
    use common::{Row, good_rows};
    let tmp = tempfile::tempdir().unwrap();
    common::write_table(
        &tmp.path().join("a"),
        "run.toml",
        common::TABLED,
        &good_rows(),
    );
    // The second table swaps the test scores of dense16 and dense32 (one discordant
    // pair of six) and reverses the validation ranking.
    let b: Vec<Row> = good_rows()
        .into_iter()
        .map(|r| {
            let test = match r.arch {
                "dense16-relu" => 0.895,
                "dense32-relu" => 0.86,
                _ => r.test_acc,
            };
            Row {
                val_acc: 1.8 - r.val_acc,
                test_acc: test,
                ..r
            }
        })
        .collect();
    common::write_table(&tmp.path().join("b"), "run.toml", common::TABLED, &b);
    let (a, b) = (tmp.path().join("a/table"), tmp.path().join("b/table"));
    let out = nas()
        .args([
            "correlate",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "score,architectures,kendall_tau,p_value,p_method");
    // tau = (5 - 1) / 6; exact p = 2 P(at most 1 inversion of 4) = 2 * 4 / 24.
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(fields[..3], ["test", "4", "0.6666666666666666"]);
    assert!((fields[3].parse::<f64>().unwrap() - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(fields[4], "exact");
    let fields: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(fields[..3], ["val", "4", "-1"]);
    assert!((fields[3].parse::<f64>().unwrap() - 2.0 / 24.0).abs() < 1e-15);
    // Tables that share nothing are refused with a clear error.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks/nas-bench-201/cifar10");
    common::nas_refused(
        &["correlate", a.to_str().unwrap(), shipped.to_str().unwrap()],
        "share 0 scored architecture(s)",
    );
}
