//! Hostile data and names, round 2 (issue 17): the cases a new user met, by kind, each
//! with the behaviour nas must have. Config cases that only need an error are in the
//! `tests/bad-inputs/` corpus; here are the ones that need a run, a table, a journal or
//! an output directory.

mod common;

use std::fs;
use std::path::Path;

use common::{
    REPRODUCIBLE, TABLED, TINY, good_rows, nas, nas_ok, nas_refused, read, write_config,
    write_table,
};

fn text(dir: &Path, name: &str) -> String {
    String::from_utf8(read(dir, name)).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. A trial that cannot fit in memory.

/// The issue's space: up to three dense layers of 16 or 65,536 units (a network of three
/// 65,536-unit layers needs hundreds of GiB).
fn huge_space(extra_training: &str) -> String {
    format!(
        r#"
[experiment]
name = "huge"
seed = 3
repetitions = 1
evaluations = 6
workers = 1

[data]
validation_size = 100

[space]
max_layers = 3
[space.dense]
units = [16, 65536]
activations = ["relu"]

[budget]
epochs = 1
train_subset = 100

[training]
batch_size = 50
{extra_training}

[[strategy]]
kind = "random"
"#
    )
}

/// The trials of a run: (architecture, status, reason).
fn trials(out: &Path) -> Vec<(String, String, String)> {
    let bytes = read(out, "trials.csv");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (arch, status, reason) = (col("arch"), col("status"), col("reason"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[arch].to_string(),
                r[status].to_string(),
                r[reason].to_string(),
            )
        })
        .collect()
}

#[test]
fn a_trial_too_large_for_the_memory_limit_fails_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "huge.toml",
        &huge_space("max_memory = \"256MiB\""),
    );
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let trials = trials(&out);
    assert_eq!(trials.len(), 6);
    // A network that starts with a 65,536-unit layer (51M weights from the image alone)
    // or has two of them in a row (4.3G weights) cannot fit in 256 MiB; one between small
    // layers can (2M weights).
    let huge = |arch: &str| {
        arch.starts_with("dense65536") || arch.contains("dense65536-relu > dense65536")
    };
    let refused: Vec<_> = trials.iter().filter(|t| huge(&t.0)).collect();
    assert!(!refused.is_empty(), "the space is mostly huge: {trials:?}");
    for (arch, status, reason) in &refused {
        assert_eq!(status, "failed", "{arch}");
        assert!(
            reason.starts_with("needs an estimated")
                && reason.contains("above the limit of 256 MiB (training.max_memory = \"256MiB\")"),
            "{arch}: {reason}"
        );
    }
    for (arch, status, _) in trials.iter().filter(|t| !huge(&t.0)) {
        assert_eq!(status, "ok", "{arch}");
    }
    let report = text(&out, "report.md");
    assert!(
        report.contains("failed without training because their network was estimated to need more memory than a trial may use (256 MiB, `training.max_memory`: the same on every machine)"),
        "{report}"
    );
    let manifest = text(&out, "manifest.json");
    assert!(manifest.contains("\"configured\": true"), "{manifest}");
    assert!(text(&out, "config.resolved.toml").contains("max_memory = \"256MiB\""));
    // The journal holds every trial: resume has nothing to redo, report rebuilds it, and
    // a second run gives the same tables.
    let journal = read(&out, "journal.jsonl");
    nas_ok("run", &config, &out, &["--resume"]);
    assert_eq!(read(&out, "journal.jsonl"), journal);
    nas().args(["report", s(&out)]).assert().success();
    let again = tmp.path().join("again");
    nas_ok("run", &config, &again, &[]);
    for f in REPRODUCIBLE {
        assert_eq!(read(&out, f), read(&again, f), "{f}");
    }
}

#[test]
fn under_an_address_space_limit_the_machine_limit_refuses_instead_of_aborting() {
    // The issue ran under `ulimit -v 4000000`: an allocation of 17 GB aborted the process
    // (exit 134) and every resume aborted again. Without max_memory, the limit is this
    // process's room (here the address-space limit), so the huge networks fail as trials.
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "huge.toml", &huge_space(""));
    let out = tmp.path().join("out");
    let nas_bin = assert_cmd::cargo::cargo_bin("nas");
    let script = format!(
        "ulimit -v 1500000 && exec '{}' run '{}' --out '{}' --quiet",
        nas_bin.display(),
        config.display(),
        out.display()
    );
    let output = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    let trials = trials(&out);
    assert_eq!(trials.len(), 6);
    let huge = trials
        .iter()
        .find(|t| t.0.matches("65536").count() >= 2)
        .expect("a network of two or three huge layers");
    assert_eq!(huge.1, "failed");
    // (The least room is usually the address-space limit; a machine with less memory
    // free, or a tighter cgroup, names that instead.)
    assert!(
        huge.2.contains("this machine's: 3/4 of the room")
            && huge.2.contains("set training.max_memory"),
        "{}",
        huge.2
    );
    let manifest = text(&out, "manifest.json");
    assert!(manifest.contains("\"configured\": false"), "{manifest}");
    let report = text(&out, "report.md");
    assert!(
        report.contains("**This limit depends on the machine**"),
        "{report}"
    );
}

#[test]
fn a_cell_network_too_large_for_the_memory_limit_fails_before_it_is_built() {
    // NAS-Bench-201's cell in a skeleton of 64 cells of 1,024 channels: tens of GiB of
    // activations per batch; refused from its estimate, never allocated.
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "cells.toml",
        r#"
[experiment]
name = "huge-cells"
seed = 3
repetitions = 1
evaluations = 2
[data]
validation_size = 100
[space]
kind = "cell"
[space.skeleton]
stem_channels = 1024
cells_per_stage = 64
stages = 1
[budget]
epochs = 1
train_subset = 100
[training]
batch_size = 50
max_memory = "256MiB"
[[strategy]]
kind = "random"
"#,
    );
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let trials = trials(&out);
    assert_eq!(trials.len(), 2);
    for (arch, status, reason) in &trials {
        assert!(arch.starts_with('|'), "{arch}");
        assert_eq!(status, "failed", "{arch}");
        assert!(
            reason.starts_with("needs an estimated")
                && reason.contains("GiB")
                && reason.contains("above the limit of 256 MiB"),
            "{arch}: {reason}"
        );
    }
}

#[test]
fn a_memory_limit_above_what_the_machine_has_is_refused_before_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "huge.toml",
        &huge_space("max_memory = \"1000TiB\""),
    );
    let out = tmp.path().join("out");
    nas_refused(
        &["run", s(&config), "--out", s(&out)],
        "`training.max_memory`: max_memory = \"1000TiB\" is more than this machine can give a trial",
    );
    assert!(!out.join("journal.jsonl").exists());
    // nas eval: the same estimate, an error rather than an abort.
    nas_refused(
        &[
            "eval",
            "--arch",
            "dense65536-relu > dense65536-relu",
            "--max-memory",
            "1GiB",
        ],
        "needs an estimated",
    );
    nas_refused(
        &["eval", "--arch", "dense16-relu", "--max-memory", "lots"],
        "--max-memory: `lots` is not an amount of memory",
    );
}

#[test]
fn other_user_values_that_decide_an_allocation_are_bounded_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A tabulation of 1,407 architectures x 1,000 seeds would hold 1.4M rows.
    let big = TINY
        .replace("filters = [4]", "filters = [8, 16]")
        .replace("kernels = [3]", "kernels = [3, 5]")
        .replace(
            "activations = [\"relu\"]\n[space.dense]",
            "activations = [\"relu\", \"tanh\"]\n[space.dense]",
        )
        .replace("max_layers = 2", "max_layers = 3")
        .replace("units = [16, 32]", "units = [32, 128]")
        + "\n[tabulate]\nseeds = 1000\nmax_architectures = 5000\n";
    let config = write_config(tmp.path(), "big.toml", &big);
    let out = tmp.path().join("table");
    nas_refused(
        &["tabulate", s(&config), "--out", s(&out)],
        "`tabulate.seeds`: 1407 architectures x 1000 seeds = 1407000 trainings, above the 1000000 rows a table may hold",
    );
    assert!(!out.exists());
    // A table file larger than nas reads (a sparse file: no disk is used).
    let config = write_table(tmp.path(), "run.toml", TABLED, &good_rows());
    let csv = fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join("table/table.csv"))
        .unwrap();
    csv.set_len(3 << 30).unwrap();
    nas_refused(
        &["run", s(&config), "--out", s(&tmp.path().join("o"))],
        "table.csv: the table is larger than 1 GiB, the most nas reads",
    );
}

// ---------------------------------------------------------------------------------------
// 2. Non-finite or out-of-range values from data a user brings.

#[test]
fn a_table_value_out_of_range_is_refused_at_load_with_its_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    // (row as the user counts it, column, value written, what the error says)
    let cases = [
        (
            3,
            "train_seconds",
            "NaN",
            "row 3, column `train_seconds`: train_seconds = NaN (allowed: a finite number, 0 or more)",
        ),
        (
            // A seed row of the table's best architecture.
            9,
            "val_acc",
            "NaN",
            "row 9, column `val_acc`: val_acc = NaN (allowed: a fraction in [0, 1])",
        ),
        (
            2,
            "val_acc",
            "1.5",
            "row 2, column `val_acc`: val_acc = 1.5 (allowed: a fraction in [0, 1])",
        ),
        (
            4,
            "train_seconds",
            "-4",
            "row 4, column `train_seconds`: train_seconds = -4",
        ),
        (
            4,
            "test_acc",
            "inf",
            "row 4, column `test_acc`: test_acc = inf",
        ),
        (
            5,
            "val_acc",
            "",
            "row 5, column `val_acc`: missing in a row whose status is ok",
        ),
    ];
    for (row, column, value, expect) in cases {
        let dir = tmp.path().join(format!("{column}-{row}"));
        let config = write_table(&dir, "run.toml", TABLED, &good_rows());
        tamper_table(&dir.join("table"), row, column, value);
        let out = dir.join("out");
        let stderr = nas_refused(&["run", s(&config), "--out", s(&out)], expect);
        assert!(stderr.contains("table.csv"), "{stderr}");
        assert!(!out.exists(), "{expect}");
    }
}

/// Writes `value` into row `row` (counted as a user counts it: the header is row 1),
/// column `column` of a table's `table.csv`, and recomputes the checksum in `table.json`
/// as a user who edits a table would.
fn tamper_table(table: &Path, row: usize, column: &str, value: &str) {
    use sha2::Digest;
    let bytes = read(table, "table.csv");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers = reader.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == column).unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&headers).unwrap();
    for (i, record) in reader.records().enumerate() {
        let mut cells: Vec<String> = record.unwrap().iter().map(str::to_string).collect();
        if i + 2 == row {
            cells[col] = value.to_string();
        }
        w.write_record(&cells).unwrap();
    }
    let csv = w.into_inner().unwrap();
    let sha = experiments::config::hex(&sha2::Sha256::digest(&csv));
    fs::write(table.join("table.csv"), csv).unwrap();
    let json = text(table, "table.json");
    let old = json
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"table_sha256\": \""))
        .unwrap()
        .trim_end_matches(['"', ','])
        .to_string();
    fs::write(table.join("table.json"), json.replace(&old, &sha)).unwrap();
}

#[test]
fn a_journal_value_out_of_range_is_named_by_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_table(tmp.path(), "run.toml", TABLED, &good_rows());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let journal = text(&out, "journal.jsonl");
    // The first trial's accuracy tampered with, and a `null` where a number must be (what
    // a NaN used to be written as).
    let first = journal.lines().nth(1).unwrap();
    let at = first.find("\"val_acc\":").unwrap() + "\"val_acc\":".len();
    let value_end = at + first[at..].find(',').unwrap();
    let value = &first[at..value_end];
    for (to, expect) in [
        (
            first.replacen(&format!("\"val_acc\":{value}"), "\"val_acc\":1.5", 1),
            "corrupt journal line 2: trial 0 of run random/0: val_acc = 1.5 (allowed: a fraction in [0, 1])",
        ),
        (
            first.replacen("\"train_seconds\":53.0", "\"train_seconds\":null", 1),
            "corrupt journal line 2: invalid type: null, expected f64",
        ),
    ] {
        assert_ne!(to, first);
        fs::write(out.join("journal.jsonl"), journal.replacen(first, &to, 1)).unwrap();
        nas_refused(&["report", s(&out)], expect);
        nas_refused(&["run", s(&config), "--out", s(&out), "--resume"], expect);
    }
    fs::write(out.join("journal.jsonl"), &journal).unwrap();
    nas().args(["report", s(&out)]).assert().success();
}

// ---------------------------------------------------------------------------------------
// 3. Output folders and identities.

#[test]
fn merge_never_replaces_another_experiment_and_takes_the_locks() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_table(tmp.path(), "a.toml", TABLED, &good_rows());
    let b = write_config(
        tmp.path(),
        "b.toml",
        &TABLED.replace("seed = 5", "seed = 6"),
    );
    // Experiment B, finished, in DIR.
    let dir = tmp.path().join("dir");
    nas_ok("run", &b, &dir, &[]);
    let before: Vec<Vec<u8>> = ["journal.jsonl", "report.md", "runs.csv"]
        .iter()
        .map(|f| read(&dir, f))
        .collect();
    // A's shards cannot be run into it...
    nas_refused(
        &["run", s(&a), "--out", s(&dir), "--shard", "0/2"],
        "holds another experiment",
    );
    // ... and shards of A put there are not merged over it.
    let elsewhere = tmp.path().join("elsewhere");
    for shard in ["0/2", "1/2"] {
        nas_ok("run", &a, &elsewhere, &["--shard", shard]);
    }
    fs::rename(elsewhere.join("shards"), dir.join("shards")).unwrap();
    nas_refused(&["merge", s(&dir)], "holds another experiment");
    for (f, bytes) in ["journal.jsonl", "report.md", "runs.csv"]
        .iter()
        .zip(&before)
    {
        assert_eq!(&read(&dir, f), bytes, "{f} was changed");
    }

    // In a directory of A: a merge while a shard or the directory is being written
    // (its lock held) is refused.
    let own = tmp.path().join("own");
    fs::create_dir_all(&own).unwrap();
    fs::rename(dir.join("shards"), own.join("shards")).unwrap();
    for locked in [own.join("shards/1"), own.clone()] {
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(locked.join(".lock"))
            .unwrap();
        lock.try_lock().unwrap();
        nas_refused(&["merge", s(&own)], "another nas process is writing");
        drop(lock);
    }
    nas().args(["merge", s(&own)]).assert().success();
    // Merging again (nothing new) is fine; a journal with trials the shards do not have
    // is not replaced.
    nas().args(["merge", s(&own)]).assert().success();
    let merged = text(&own, "journal.jsonl");
    let extra = merged.replacen("\"val_loss\":0.5", "\"val_loss\":0.25", 1);
    assert_ne!(extra, merged);
    fs::write(own.join("journal.jsonl"), &extra).unwrap();
    nas_refused(&["merge", s(&own)], "event(s) the shards do not have");
    assert_eq!(text(&own, "journal.jsonl"), extra);
}

#[test]
fn report_takes_the_directory_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_table(tmp.path(), "run.toml", TABLED, &good_rows());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let lock = fs::File::options()
        .write(true)
        .open(out.join(".lock"))
        .unwrap();
    lock.try_lock().unwrap();
    nas_refused(&["report", s(&out)], "another nas process is writing");
    drop(lock);
    nas().args(["report", s(&out)]).assert().success();
    nas_refused(
        &["report", s(tmp.path())],
        "not an output directory of nas run or nas tabulate",
    );
}

#[test]
fn every_list_a_flag_gives_is_checked_like_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_table(tmp.path(), "run.toml", TABLED, &good_rows());
    let out = tmp.path().join("out");
    let c = s(&config);
    let o = s(&out);
    for (flags, expect) in [
        (
            vec!["--seeds", "1,1"],
            "--seeds: invalid value 1 (again at position 2) (allowed: distinct seeds)",
        ),
        (
            vec!["--strategies", "random,random"],
            "--strategies: invalid value \"random\" (again at position 2)",
        ),
        (
            vec!["--strategies", "nope"],
            "--strategies: \"nope\" is not a strategy",
        ),
        (vec!["--workers", "0"], "--workers: invalid value 0"),
        (
            vec!["--workers", "100000"],
            "--workers: invalid value 100000",
        ),
        (vec!["--threads", "0"], "--threads: invalid value 0"),
    ] {
        let mut args = vec!["run", c, "--out", o];
        args.extend(flags);
        nas_refused(&args, expect);
        assert!(!out.exists(), "nothing written for {expect}");
    }
    let tab = write_config(tmp.path(), "tab.toml", TINY);
    nas_refused(
        &[
            "tabulate",
            s(&tab),
            "--out",
            s(&tmp.path().join("t")),
            "--max-architectures",
            "0",
        ],
        "--max-architectures: invalid value 0 (allowed: an integer from 1 to 1000000)",
    );
    // Distinct seeds given by the flag run once each, and the run is complete.
    nas_ok("run", &config, &out, &["--seeds", "4,1"]);
    let runs = text(&out, "runs.csv");
    assert_eq!(runs.lines().count(), 1 + 2 * 2, "{runs}");
    assert!(!text(&out, "report.md").contains("Partial results"));
}

#[test]
fn a_journal_cut_in_the_middle_is_refused_rather_than_read_as_shorter_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_table(tmp.path(), "run.toml", TABLED, &good_rows());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let journal = text(&out, "journal.jsonl");
    let lines: Vec<&str> = journal.lines().collect();
    // Line 1 is the header, 2-7 the first run's six trials, 8 its final evaluation, 9 its
    // end.
    assert!(lines[8].contains("\"run_end\"") && lines[8].contains("\"trials\":6"));
    // Delete lines 5-7: trials 3-5 of the first run.
    let cut: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !(4..=6).contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(out.join("journal.jsonl"), &cut).unwrap();
    let expect = "corrupt journal line 6: run random/0 ends after 6 trials, but the journal holds trials 0-2 (3): lines were deleted or the journal was cut";
    nas_refused(&["run", s(&config), "--out", s(&out), "--resume"], expect);
    nas_refused(&["report", s(&out)], expect);
    assert_eq!(text(&out, "journal.jsonl"), cut, "the journal is untouched");
    // A gap in a run that has not ended.
    let gap: String = lines
        .iter()
        .take(7)
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(out.join("journal.jsonl"), &gap).unwrap();
    nas_refused(
        &["run", s(&config), "--out", s(&out), "--resume"],
        "run random/0 holds trials 0, 2-5: some lines are missing",
    );
}

#[test]
fn run_tabulate_and_slurm_refuse_a_folder_holding_something_else() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_table(tmp.path(), "a.toml", TABLED, &good_rows());
    let b = write_config(
        tmp.path(),
        "b.toml",
        &TABLED.replace("seed = 5", "seed = 6"),
    );
    let dir = tmp.path().join("dir");
    nas_ok("run", &b, &dir, &[]);
    // Another experiment, with or without --resume: refused, naming the changed line.
    for extra in [&[][..], &["--resume"][..]] {
        let mut args = vec!["run", s(&a), "--out", s(&dir)];
        args.extend(extra);
        let stderr = nas_refused(&args, "holds another experiment");
        assert!(stderr.contains("seed = 6"), "{stderr}");
    }
    // nas slurm writes its scripts into the directory: refused too.
    nas_refused(
        &["slurm", s(&a), "--out", s(&dir), "--shards", "2"],
        "holds another experiment",
    );
    assert!(!dir.join("slurm").exists());
    // A table directory is not an output directory.
    nas_refused(
        &["run", s(&a), "--out", s(&tmp.path().join("table"))],
        "holds a table",
    );
    let tab = write_config(tmp.path(), "tab.toml", TINY);
    nas_refused(
        &["tabulate", s(&tab), "--out", s(&tmp.path().join("table"))],
        "holds a table",
    );
    // Values a job script cannot carry.
    nas_refused(
        &[
            "slurm",
            s(&a),
            "--out",
            s(&tmp.path().join("s")),
            "--shards",
            "2",
            "--partition",
            "gpu\nrm -rf ~",
        ],
        "--partition: \"gpu\\nrm -rf ~\" holds '\\n', which a #SBATCH line cannot carry",
    );
    nas_refused(
        &[
            "slurm",
            s(&a),
            "--out",
            s(&tmp.path().join("with space")),
            "--shards",
            "2",
        ],
        "which a #SBATCH --output line cannot carry",
    );
}

// ---------------------------------------------------------------------------------------
// 4. User strings inside generated files and paths.

/// A name with every character a generated file treats specially.
const HOSTILE_NAME: &str =
    r#"ResNet-ish ~ budget $5 ^ {v2} <script>&"' \ _x_ *b* [l](u) | #h % `c`"#;

#[test]
fn a_hostile_name_is_escaped_in_every_file_it_enters() {
    let tmp = tempfile::tempdir().unwrap();
    let named = TABLED.replace("name = \"tabled\"", &format!("name = '''{HOSTILE_NAME}'''"));
    let config = write_table(tmp.path(), "run.toml", &named, &good_rows());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    // LaTeX: every special character as the command that prints it.
    let tex = text(&out, "tables.tex");
    let caption = tex.lines().find(|l| l.starts_with("\\caption{")).unwrap();
    assert!(
        caption.starts_with(
            "\\caption{ResNet-ish \\textasciitilde{} budget \\$5 \\textasciicircum{} \\{v2\\} \\textless{}script\\textgreater{}\\&\"' \\textbackslash{} \\_x\\_ *b* [l](u) \\textbar{} \\#h \\% `c`:"
        ),
        "{caption}"
    );
    let label = tex.lines().find(|l| l.starts_with("\\label{")).unwrap();
    assert!(
        label[7..label.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
        "{label}"
    );
    compiles_if_latex_is_installed(&out);
    // Markdown: one heading, its markup escaped.
    let report = text(&out, "report.md");
    let first = report.lines().next().unwrap();
    assert_eq!(
        first,
        "# ResNet-ish \\~ budget \\$5 ^ {v2} \\<script\\>\\&\"' \\\\ \\_x\\_ \\*b\\* \\[l\\](u) \\| \\#h % \\`c\\`: comparison of search strategies"
    );
    assert_eq!(
        report.lines().filter(|l| l.starts_with("# ")).count(),
        1,
        "{report}"
    );
    // SVG: text escaped for XML.
    for svg in ["anytime.svg", "test_box.svg", "anytime_time.svg"] {
        let svg = text(&out, svg);
        assert!(!svg.contains("<script>"), "raw markup in an SVG");
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&apos;"), "{svg}");
    }
    // CSV: the name is in no table; the files still read back.
    nas().args(["report", s(&out)]).assert().success();
}

/// Compiles `tables.tex` in a minimal document when pdflatex is installed (CI images may
/// lack it: then the escaping is checked by the assertions above only).
fn compiles_if_latex_is_installed(out: &Path) {
    let Ok(which) = std::process::Command::new("pdflatex")
        .arg("--version")
        .output()
    else {
        println!("SKIPPED: pdflatex is not installed");
        return;
    };
    assert!(which.status.success());
    let doc = format!(
        "\\documentclass{{article}}\n\\usepackage{{booktabs}}\n\\begin{{document}}\n{}\n\\end{{document}}\n",
        text(out, "tables.tex")
    );
    fs::write(out.join("doc.tex"), doc).unwrap();
    let status = std::process::Command::new("pdflatex")
        .args(["-interaction=nonstopmode", "-halt-on-error", "doc.tex"])
        .current_dir(out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[test]
fn a_name_never_leads_the_default_folder_outside_out() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("a/b/work");
    fs::create_dir_all(&work).unwrap();
    write_table(&work, "base.toml", TABLED, &good_rows());
    let absolute = tmp.path().join("absolute-target");
    let absolute_folder = s(&absolute).trim_start_matches('/').replace('/', "-");
    for (name, folder) in [
        ("../../escaped-by-name", "escaped-by-name"),
        (s(&absolute), absolute_folder.as_str()),
        ("CNN/MLP comparison", "CNN-MLP-comparison"),
    ] {
        let config = write_config(
            &work,
            "named.toml",
            &TABLED.replace("name = \"tabled\"", &format!("name = {name:?}")),
        );
        nas()
            .current_dir(&work)
            .args(["run", s(&config), "--quiet"])
            .assert()
            .success();
        assert!(
            work.join("out").join(folder).join("report.md").is_file(),
            "{name}"
        );
        fs::remove_dir_all(work.join("out")).unwrap();
    }
    assert!(!tmp.path().join("a/escaped-by-name").exists());
    assert!(!tmp.path().join("escaped-by-name").exists());
    assert!(!absolute.exists());
    // A name of punctuation only names no folder.
    let config = write_config(
        &work,
        "named.toml",
        &TABLED.replace("name = \"tabled\"", "name = \"../..\""),
    );
    let output = nas()
        .current_dir(&work)
        .args(["run", s(&config), "--quiet"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pass --out DIR"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// 5. What the report states.

#[test]
fn the_report_states_the_budget_rule_applied_and_the_most_spent() {
    let tmp = tempfile::tempdir().unwrap();
    for (limit, over, expect, spent_csv) in [
        (
            "max_train_epochs = 2.5",
            "",
            "a run stops once its trials have trained 2.5 training epochs in total: the trial that crosses the limit still counts, so a run may exceed it (the most a run spent: 3 training epochs)",
            Some("3"),
        ),
        (
            "max_train_seconds = 100",
            "",
            "a run stops once its trials have trained 100 recorded training seconds in total: the trial that crosses the limit still counts, so a run may exceed it (the most a run spent: 106 recorded training seconds)",
            None,
        ),
        (
            "max_train_seconds = 100",
            "over_budget = \"discard\"",
            "a run ends before the trial that would take its trials past 100 recorded training seconds in total: that trial is discarded (NAS-Bench-201's rule), so no run exceeds the limit (the most a run spent: 53 recorded training seconds)",
            None,
        ),
        (
            "max_train_epochs = 1e-300",
            "",
            "1e-300 training epochs in total",
            None,
        ),
    ] {
        let dir = tmp
            .path()
            .join(format!("{}{}", limit.replace(' ', ""), over.len()));
        fs::create_dir_all(&dir).unwrap();
        let text_config = TABLED.replace(
            "evaluations = 6",
            &format!("evaluations = 6\n{limit}\n{over}"),
        );
        let config = write_table(&dir, "run.toml", &text_config, &good_rows());
        let out = dir.join("out");
        nas_ok("run", &config, &out, &[]);
        let report = text(&out, "report.md");
        let budget = report
            .lines()
            .find(|l| l.starts_with("- **Budget**"))
            .unwrap();
        assert!(budget.contains(expect), "{budget}");
        assert!(budget.len() < 600, "{budget}");
        if let Some(spent) = spent_csv {
            let runs = text(&out, "runs.csv");
            let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
            let col = header.iter().position(|h| *h == "epochs_used").unwrap();
            let most = runs
                .lines()
                .skip(1)
                .map(|l| l.split(',').nth(col).unwrap().to_string())
                .max()
                .unwrap();
            assert_eq!(most, spent, "runs.csv agrees with the report");
        }
    }
}

#[test]
fn every_csv_has_its_header_even_without_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let one = TABLED.replace(
        "[[strategy]]\nkind = \"evolution\"\nparams = { population = 2, sample_size = 1 }\n",
        "",
    );
    let config = write_table(tmp.path(), "run.toml", &one, &good_rows());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let tests = text(&out, "tests.csv");
    assert!(
        tests.starts_with("metric,a,b,n_a,n_b,median_a,median_b,mwu_u,"),
        "{tests:?}"
    );
    assert_eq!(tests.lines().count(), 1, "{tests}");
    for f in [
        "trials.csv",
        "runs.csv",
        "summary.csv",
        "tests.csv",
        "timings.csv",
    ] {
        let bytes = read(&out, f);
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert!(!reader.headers().unwrap().is_empty(), "{f}");
    }
}

#[test]
fn settings_a_tabular_run_ignores_are_warned_about_and_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let with_unused = TABLED.replace(
        "[evaluator]",
        "[data]\ndataset = \"fashion-mnist\"\nvalidation_size = 1234\n\n[training]\nbatch_size = 7\n\n[evaluator]",
    );
    let config = write_table(tmp.path(), "run.toml", &with_unused, &good_rows());
    let out = tmp.path().join("out");
    let output = nas()
        .args(["run", s(&config), "--out", s(&out), "--quiet"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for field in ["data.dataset", "data.validation_size", "training"] {
        assert!(
            stderr.contains(&format!(
                "warning: {}: `{field}` is not used (a tabular run looks every trial up in its table)",
                config.display()
            )),
            "{stderr}"
        );
    }
    let resolved = text(&out, "config.resolved.toml");
    for line in [
        "dataset = \"fashion-mnist\"",
        "validation_size = 1234",
        "[training]",
    ] {
        assert!(
            resolved.contains(&format!(
                "{line}  # not used: a tabular run looks every trial up in its table"
            )),
            "{resolved}"
        );
    }
    // The marks do not change what the resolved config is: report and resume accept it.
    nas().args(["report", s(&out)]).assert().success();
    nas_ok("run", &config, &out, &["--resume"]);
    // Defaults left out of the file are marked, but not warned about.
    let plain = write_table(&tmp.path().join("plain"), "run.toml", TABLED, &good_rows());
    let output = nas()
        .args([
            "run",
            s(&plain),
            "--out",
            s(&tmp.path().join("p")),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("warning"));
}

/// A table edited (and its checksum recomputed) between the start of a run and its
/// resume, or between two shards: the answers of two tables would be mixed in one
/// result, so resume and merge refuse, naming both checksums.
#[test]
fn resume_and_merge_refuse_a_table_that_changed_under_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_table(tmp.path(), "run.toml", TABLED, &good_rows());
    let sha = |dir: &Path| {
        let json: serde_json::Value =
            serde_json::from_str(&text(&dir.join("table"), "table.json")).unwrap();
        json["table_sha256"].as_str().unwrap().to_string()
    };
    let old = sha(tmp.path());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let sharded = tmp.path().join("sharded");
    nas_ok("run", &config, &sharded, &["--shard", "0/2"]);

    let mut rows = good_rows();
    rows[0].val_acc = 0.5;
    write_table(tmp.path(), "run.toml", TABLED, &rows);
    let new = sha(tmp.path());
    assert_ne!(old, new);
    nas_refused(
        &["run", s(&config), "--out", s(&out), "--resume", "--quiet"],
        &format!("table.csv SHA-256 {old}, which now has {new}"),
    );
    nas_ok("run", &config, &sharded, &["--shard", "1/2"]);
    nas_refused(
        &["merge", s(&sharded)],
        &format!("was answered by a table with table.csv SHA-256 {new}, shard 0 by {old}"),
    );
}

/// `nas run ... 2>&1 | head -2`: stdout and stderr closed while the run goes on. The
/// run must finish and write its outputs (a worker's panicking progress line left the
/// others waiting forever).
#[test]
fn a_closed_output_pipe_does_not_stop_the_run() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let text = TABLED.replace("workers = 1", "workers = 2");
    let config = write_table(tmp.path(), "run.toml", &text, &good_rows());
    let out = tmp.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("nas"))
        .args(["run", s(&config), "--out", s(&out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away at once, as `head` does after its lines.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("nas run hung after its output pipe closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(out.join("report.md").exists() && out.join("runs.csv").exists());
}
