//! Multi-fidelity search end to end: successive halving, Hyperband, BOHB and ASHA through
//! the `nas` binary on a table with learning curves, on simulated asynchronous workers,
//! and Hyperband on real trainings that continue from their kept state.

mod common;

use std::path::{Path, PathBuf};

use common::{REPRODUCIBLE, nas_ok, read, write_config};
use experiments::report::FIDELITIES_CSV;

/// A space of 8 architectures, 3 epochs with learning curves on 300 mini-MNIST images,
/// 2 seeds each (the tabular tests' table with curves).
const TABULATE: &str = r#"
[experiment]
name = "mf"
seed = 3
repetitions = 6
evaluations = 40
workers = 1

[data]
validation_size = 300

[space]
max_layers = 2
maxpool2d = false
[space.conv2d]
filters = [4]
kernels = [3]
activations = ["relu"]
[space.dense]
units = [16]
activations = ["relu", "tanh"]

[budget]
epochs = 3
train_subset = 300

[training]
curve = true
batch_size = 16

[tabulate]
seeds = 2
chunk = 4
"#;

fn run_config(table: &Path, simulated: Option<u32>) -> String {
    let workers = simulated.map_or(String::new(), |w| format!("simulated_workers = {w}\n"));
    format!(
        "{}\n[evaluator]\nkind = \"tabular\"\ntable = {:?}\n\n[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"successive-halving\"\n[[strategy]]\nkind = \"hyperband\"\n[[strategy]]\nkind = \"bohb\"\n[[strategy]]\nkind = \"asha\"\n[[strategy]]\nkind = \"asha\"\nname = \"asha-retrain\"\nparams = {{ continue_trainings = false }}\n",
        TABULATE.replace("workers = 1\n", &format!("workers = 1\n{workers}")),
        table.to_str().unwrap()
    )
}

fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    REPRODUCIBLE
        .iter()
        .chain([&FIDELITIES_CSV])
        .map(|f| (f.to_string(), read(dir, f)))
        .collect()
}

fn table(tmp: &Path) -> PathBuf {
    let config = write_config(tmp, "tabulate.toml", TABULATE);
    let dir = tmp.join("table");
    nas_ok("tabulate", &config, &dir, &[]);
    dir
}

#[test]
fn multi_fidelity_runs_on_simulated_workers_are_reproducible_and_resume_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let table = table(tmp.path());
    let config = write_config(tmp.path(), "mf.toml", &run_config(&table, Some(3)));
    let one = tmp.path().join("one");
    nas_ok("run", &config, &one, &["--workers", "1"]);
    let two = tmp.path().join("two");
    nas_ok("run", &config, &two, &["--workers", "2"]);
    let reference = outputs(&one);
    assert_eq!(reference, outputs(&two), "real workers change nothing");

    // fidelities.csv: every trial's fidelity and simulated schedule.
    let text = String::from_utf8(read(&one, FIDELITIES_CSV)).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "strategy,repetition,trial,fidelity_epochs,continues,prior_epochs,cost_epochs,cost_seconds,worker,start,end"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6 * 6 * 40);
    for r in &rows {
        assert!(["0", "1", "2"].contains(&r[8]), "{r:?}");
        let (start, end): (f64, f64) = (r[9].parse().unwrap(), r[10].parse().unwrap());
        assert!(end >= start, "{r:?}");
        match r[0] {
            "random" => assert_eq!(r[3], "", "random search asks for the budget"),
            _ => assert!(["1", "3"].contains(&r[3]), "rungs 1 and 3 epochs: {r:?}"),
        }
        if r[4].is_empty() {
            assert_eq!(r[5], "", "{r:?}");
        } else {
            // A continued trial costs its new epochs (2 of 3), unless cached.
            assert_eq!((r[3], r[5]), ("3", "1"));
            assert!(["2", "0"].contains(&r[6]), "{r:?}");
        }
    }
    let continued = |s: &str| {
        rows.iter()
            .filter(|r| r[0] == s && !r[4].is_empty())
            .count()
    };
    assert!(continued("hyperband") > 0 && continued("asha") > 0 && continued("bohb") > 0);
    assert_eq!(continued("asha-retrain"), 0, "retraining continues nothing");
    // Every trial ends at or after the previous one of its run (they finish in order).
    for w in rows.windows(2) {
        if (w[0][0], w[0][1]) == (w[1][0], w[1][1]) {
            let (a, b): (f64, f64) = (w[0][10].parse().unwrap(), w[1][10].parse().unwrap());
            assert!(a <= b, "{w:?}");
        }
    }

    // Simulated workers change the results (that is the experiment).
    let single = write_config(tmp.path(), "single.toml", &run_config(&table, None));
    let seq = tmp.path().join("seq");
    nas_ok("run", &single, &seq, &[]);
    let text = String::from_utf8(read(&seq, FIDELITIES_CSV)).unwrap();
    assert!(
        text.lines().skip(1).all(|l| l.ends_with(",,,,")),
        "no schedule without simulated workers"
    );
    assert_ne!(read(&seq, "trials.csv"), reference[0].1);

    // A journal cut anywhere (a crash between two trials, also just before a continued
    // one) resumes to the same tables.
    let journal = std::fs::read_to_string(one.join("journal.jsonl")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    let before_continued = lines
        .iter()
        .position(|l| l.contains("\"continues\""))
        .expect("the journal records continuations");
    for cut in [before_continued, lines.len() / 3, 2 * lines.len() / 3] {
        let out = tmp.path().join(format!("cut{cut}"));
        std::fs::create_dir_all(&out).unwrap();
        for entry in std::fs::read_dir(&one).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), out.join(entry.file_name())).unwrap();
            }
        }
        for f in REPRODUCIBLE.iter().chain([&FIDELITIES_CSV]) {
            std::fs::remove_file(out.join(f)).unwrap();
        }
        let mut kept = lines[..cut].join("\n");
        kept.push('\n');
        std::fs::write(out.join("journal.jsonl"), kept).unwrap();
        nas_ok("run", &config, &out, &["--resume"]);
        assert_eq!(outputs(&out), reference, "resumed after line {cut}");
    }

    // SIGKILLs at a few moments, then a resume: the same tables.
    let killed = tmp.path().join("killed");
    for (round, wait_ms) in [40u64, 80, 120].into_iter().enumerate() {
        let mut child = common::spawn_run(&config, &killed, round > 0);
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
        }
        child.wait().unwrap();
    }
    nas_ok("run", &config, &killed, &["--resume"]);
    assert_eq!(outputs(&killed), reference, "resumed after SIGKILLs");
}

#[test]
fn real_trainings_continue_from_their_kept_state_to_the_bits_of_a_whole_training() {
    // Hyperband on the training evaluator (no table): rungs 1 and 3 of a 3-epoch budget.
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[[strategy]]\nkind = \"hyperband\"\n",
        TABULATE
            .replace("repetitions = 6", "repetitions = 2")
            .replace("evaluations = 40", "evaluations = 16")
            .split("[tabulate]")
            .next()
            .unwrap()
    );
    let config = write_config(tmp.path(), "train.toml", &text);
    let one = tmp.path().join("one");
    nas_ok("run", &config, &one, &["--workers", "1"]);
    let fidelities = String::from_utf8(read(&one, FIDELITIES_CSV)).unwrap();
    let continued: Vec<Vec<&str>> = fidelities
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| !r[4].is_empty())
        .collect();
    assert!(!continued.is_empty(), "{fidelities}");
    for r in &continued {
        // The training went on from the kept state after 1 epoch: it cost 2 more (0 when
        // the run had trained that architecture to 3 epochs already: cached).
        assert_eq!((r[3], r[5]), ("3", "1"), "{r:?}");
        assert!(["2", "0"].contains(&r[6]), "{r:?}");
    }
    assert!(continued.iter().any(|r| r[6] == "2"), "{fidelities}");
    // Two real workers (each trial's kept state may be elsewhere, then the first epoch is
    // trained again): the same tables.
    let two = tmp.path().join("two");
    nas_ok("run", &config, &two, &["--workers", "2"]);
    // (fidelities.csv has the measured training seconds.)
    let files =
        |dir: &Path| -> Vec<Vec<u8>> { REPRODUCIBLE.iter().map(|f| read(dir, f)).collect() };
    assert_eq!(files(&one), files(&two));
    // `nas verify` trains recorded trials again, continued ones from scratch to their
    // fidelity unless it trained their first rung just before: the same bits.
    let out = common::nas()
        .args(["verify", one.to_str().unwrap(), "--trials", "5"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("same bits").count(), 5, "{stdout}");
}

#[test]
fn multi_fidelity_configs_are_checked_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("no-table");
    for (text, needle) in [
        (run_config(&fake, Some(0)), "experiment.simulated_workers"),
        (
            {
                let text = run_config(&fake, Some(2));
                let (i, j) = (
                    text.find("\n[evaluator]").unwrap(),
                    text.find("\n[[strategy]]").unwrap(),
                );
                format!("{}{}", &text[..i], &text[j..])
            },
            "simulated workers need the tabular evaluator",
        ),
    ] {
        let config = write_config(tmp.path(), "bad.toml", &text);
        let out = tmp.path().join("bad");
        common::nas_refused(
            &[
                "run",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            needle,
        );
    }
    // What only the space and the budget can tell (rungs beyond budget.epochs = 3, BOHB's
    // minimum points below the space's genes + 1) is refused before any run starts, with
    // the file, line and field, and no output folder is made.
    let training = TABULATE.split("[tabulate]").next().unwrap();
    for (strategy, needle) in [
        (
            "[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"hyperband\"\nparams = { max_epochs = 10 }\n",
            "`strategy[1].params.max_epochs`: invalid value 10 (allowed: at most the run's budget.epochs = 3)",
        ),
        (
            "[[strategy]]\nkind = \"bohb\"\nparams = { min_points_in_model = 2 }\n",
            "`strategy[0].params.min_points_in_model`: invalid value 2 (allowed: at least the space's genes + 1",
        ),
    ] {
        let config = write_config(tmp.path(), "late.toml", &format!("{training}\n{strategy}"));
        let out = tmp.path().join("late");
        let err = common::nas_refused(
            &[
                "run",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            needle,
        );
        assert!(err.contains("late.toml:"), "{err}");
        assert!(!out.exists(), "an output folder was made");
    }
}
