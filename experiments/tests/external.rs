//! External strategies and evaluators (docs/protocol.md) driven through the real `nas`
//! binary: a client written from the document alone, the shipped Optuna example
//! (twice byte-identical, killed and resumed byte-identical), misbehaving strategies (a
//! clear error naming the process and its line; the journal kept; `--resume` goes on),
//! misbehaving evaluators (failed trials, the run completes) and a strategy that is not
//! deterministic in its seed (refused on resume).
//!
//! Python: `$NAS_PYTHON` or `python3`. The Optuna test needs optuna importable by it; it
//! is skipped with a message when it is not, unless `NAS_REQUIRE_OPTUNA=1` (as `.ci/run`
//! sets after installing optuna into a virtual environment).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{REPRODUCIBLE, nas, nas_ok, read, write_config};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn python() -> String {
    std::env::var("NAS_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A TOML string literal of a path.
fn lit(path: &Path) -> String {
    format!("{:?}", path.to_str().unwrap())
}

/// The shipped `experiments/optuna-mnist-small.toml`, with fewer repetitions and trials,
/// its table and script paths made absolute and its `python3` replaced by [`python`].
fn optuna_config(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(repo().join("experiments/optuna-mnist-small.toml"))
        .unwrap()
        .replace("repetitions = 50", "repetitions = 3")
        .replace("evaluations = 100", "evaluations = 30")
        .replace("max_train_seconds = 100", "max_train_seconds = 40")
        .replace(
            "\"../benchmarks/mnist-small\"",
            &lit(&repo().join("benchmarks/mnist-small")),
        )
        .replace(
            "[\"python3\", \"../examples/external/optuna_tpe.py\"]",
            &format!(
                "[{}, {}]",
                lit(Path::new(&python())),
                lit(&repo().join("examples/external/optuna_tpe.py"))
            ),
        );
    assert!(shipped.contains("optuna_tpe.py") && shipped.contains("repetitions = 3"));
    write_config(dir, "optuna.toml", &shipped)
}

/// The mnist-small tabular benchmark with one external strategy (and random search).
fn tabular_config(dir: &Path, command: &str, timeout: f64, repetitions: u32) -> PathBuf {
    let text = format!(
        r#"
[experiment]
name = "external"
seed = 11
repetitions = {repetitions}
evaluations = 12
workers = 1

[evaluator]
kind = "tabular"
table = {table}

[data]
dataset = "mnist"
validation_size = 5000

[space]
max_layers = 3
maxpool2d = true
[space.conv2d]
filters = [8, 16]
kernels = [3, 5]
activations = ["relu", "tanh"]
[space.dense]
units = [32, 128]
activations = ["relu", "tanh"]

[budget]
epochs = 1
train_subset = 5000

[[strategy]]
kind = "random"

[[strategy]]
kind = "external"
name = "ext"
command = {command}
timeout = {timeout}
"#,
        table = lit(&repo().join("benchmarks/mnist-small")),
    );
    write_config(dir, "external.toml", &text)
}

fn misbehave() -> String {
    lit(&repo().join("experiments/tests/fixtures/external/misbehave.py"))
}

fn assert_same_tables(a: &Path, b: &Path, what: &str) {
    for f in REPRODUCIBLE {
        assert_eq!(read(a, f), read(b, f), "{f} differs: {what}");
    }
}

fn run(config: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// Trial rows (strategy, status, reason, arch) of a run's trials.csv.
fn trials(out: &Path) -> Vec<(String, String, String, String)> {
    let mut reader = csv::Reader::from_path(out.join("trials.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (s, st, r, a) = (col("strategy"), col("status"), col("reason"), col("arch"));
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            (
                row[s].to_string(),
                row[st].to_string(),
                row[r].to_string(),
                row[a].to_string(),
            )
        })
        .collect()
}

/// A protocol-1 strategy written from docs/protocol.md alone (not the shipped client):
/// random genes, re-drawn until a `query` confirms them.
const MINIMAL_CLIENT: &str = r#"import json, random, sys

def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()

rng, genes = None, []
for line in sys.stdin:
    message = json.loads(line)
    kind = message["type"]
    if kind == "hello":
        send({"type": "hello", "protocol": 1, "name": "minimal"})
    elif kind == "init":
        rng = random.Random(message["seed"])
        genes = [g["cardinality"] for g in message["space"]["genes"]]
        send({"type": "ok"})
    elif kind == "ask":
        while True:
            send({"type": "query", "genes": [rng.randrange(c) for c in genes]})
            answer = json.loads(sys.stdin.readline())
            if answer["arch"] is not None:
                break
        send({"type": "proposal", "arch": answer["arch"]})
    elif kind == "tell":
        print("told", message["trial"]["index"], message["trial"]["fitness"], file=sys.stderr)
        send({"type": "ok"})
    elif kind == "close":
        break
"#;

#[test]
fn a_client_written_from_the_document_runs_reproducibly_with_a_relative_command() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("minimal.py"), MINIMAL_CLIENT).unwrap();
    // The command is relative: it resolves against the config's folder, not the cwd.
    let command = format!("[{}, \"minimal.py\"]", lit(Path::new(&python())));
    let config = tabular_config(tmp.path(), &command, 30.0, 3);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    nas_ok("run", &config, &a, &[]);
    nas_ok("run", &config, &b, &["--workers", "2"]);
    assert_same_tables(&a, &b, "1 worker vs 2 workers");
    let rows = trials(&a);
    let external: Vec<_> = rows.iter().filter(|r| r.0 == "ext").collect();
    assert_eq!(
        external.len(),
        3 * 12,
        "every trial of the external strategy ran"
    );
    assert!(external.iter().all(|r| r.1 == "ok"), "{external:?}");
    // Its stderr went to its log: one `told` line per trial.
    let log = std::fs::read_to_string(a.join("logs/strategy-ext-0.log")).unwrap();
    assert_eq!(log.lines().filter(|l| l.starts_with("told ")).count(), 12);
    // Another seed gives other proposals (the seed reaches the process).
    let other = tmp.path().join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("seed = 11", "seed = 12"),
    )
    .unwrap();
    let c = tmp.path().join("c");
    nas_ok("run", &other, &c, &[]);
    let arches = |rows: &[(String, String, String, String)]| -> Vec<String> {
        rows.iter()
            .filter(|r| r.0 == "ext")
            .map(|r| r.3.clone())
            .collect()
    };
    assert_ne!(arches(&rows), arches(&trials(&c)));
}

/// The interpreter with optuna, or None (skip) when it has none and CI does not demand it.
fn optuna_python() -> Option<String> {
    let ok = Command::new(python())
        .args(["-c", "import optuna"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python());
    }
    assert!(
        std::env::var_os("NAS_REQUIRE_OPTUNA").is_none(),
        "NAS_REQUIRE_OPTUNA is set but `{} -c 'import optuna'` fails",
        python()
    );
    eprintln!(
        "skipped: `{} -c 'import optuna'` fails (set NAS_PYTHON to an interpreter with optuna)",
        python()
    );
    None
}

/// The journal's trial lines of `strategy`.
fn journal_trials(out: &Path, strategy: &str) -> usize {
    let needle = format!("\"event\":\"trial\",\"strategy\":\"{strategy}\"");
    std::fs::read_to_string(out.join("journal.jsonl"))
        .map(|s| s.lines().filter(|l| l.contains(&needle)).count())
        .unwrap_or(0)
}

#[test]
fn optuna_tpe_is_byte_identical_twice_and_after_a_kill_and_resume() {
    if optuna_python().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = optuna_config(tmp.path());
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let start = Instant::now();
    nas_ok("run", &config, &a, &[]);
    let took = start.elapsed();
    nas_ok("run", &config, &b, &["--workers", "1"]);
    assert_same_tables(&a, &b, "two runs of the Optuna comparison");
    let tpe = trials(&a)
        .into_iter()
        .filter(|r| r.0 == "optuna-tpe")
        .count();
    assert!(tpe >= 3 * 10, "Optuna's TPE ran its trials ({tpe})");
    // (Its trials' recorded training time stops each run before 30 trials.)

    // Killed once some TPE trials are in the journal, then resumed.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nas"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            killed.to_str().unwrap(),
            "--quiet",
            "--workers",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Strategies run in config order (random, evolution, optuna-tpe): kill it in the
    // middle of TPE's second run.
    let deadline = Instant::now() + took * 4 + Duration::from_secs(60);
    while journal_trials(&killed, "optuna-tpe") < tpe / 2 && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let at_kill = journal_trials(&killed, "optuna-tpe");
    assert!(
        at_kill > 0 && at_kill < tpe,
        "killed mid-way ({at_kill} of {tpe} TPE trials)"
    );
    nas_ok("run", &config, &killed, &["--resume"]);
    assert_same_tables(&a, &killed, "killed and resumed");
}

/// A strategy in `mode` (read from `<dir>/mode`), and random search beside it.
fn misbehaving_strategy(dir: &Path, mode: &str, timeout: f64) -> PathBuf {
    std::fs::write(dir.join("mode"), mode).unwrap();
    let command = format!(
        "[{}, {}, \"strategy\", \"from-file\"]",
        lit(Path::new(&python())),
        misbehave()
    );
    tabular_config(dir, &command, timeout, 1)
}

#[test]
fn a_misbehaving_strategy_stops_its_run_with_the_process_and_line_and_resume_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let clean_dir = tmp.path().join("clean");
    std::fs::create_dir(&clean_dir).unwrap();
    let clean_config = misbehaving_strategy(&clean_dir, "ok", 3.0);
    let clean = tmp.path().join("clean-out");
    nas_ok("run", &clean_config, &clean, &[]);
    for (mode, expected) in [
        (
            "outside",
            "proposed something that is not an architecture of the space",
        ),
        ("malformed", "this is not json"),
        ("crash", "exited before answering"),
        ("sleep", "did not answer within 3 s"),
    ] {
        let dir = tmp.path().join(mode);
        std::fs::create_dir(&dir).unwrap();
        let config = misbehaving_strategy(&dir, mode, 3.0);
        let out = dir.join("out");
        let output = run(&config, &out, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{mode}: the run must fail");
        for needle in [expected, "misbehave.py", "ext/0", "strategy-ext-0.log"] {
            assert!(
                stderr.contains(needle),
                "{mode}: `{needle}` not in: {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        if mode == "outside" {
            assert!(stderr.contains("\"genes\""), "the line is quoted: {stderr}");
        }
        if mode == "crash" {
            let log = std::fs::read_to_string(out.join("logs/strategy-ext-0.log")).unwrap();
            assert!(log.contains("crashing on purpose"), "{log}");
        }
        // Its first two trials are in the journal; fixed, the run resumes to the end
        // with the tables of a run that never failed.
        assert_eq!(
            journal_trials(&out, "ext"),
            2,
            "{mode}: the journal kept its trials"
        );
        std::fs::write(dir.join("mode"), "ok").unwrap();
        nas_ok("run", &config, &out, &["--resume"]);
        assert_same_tables(&clean, &out, mode);
    }
}

#[test]
fn a_strategy_that_ignores_its_seed_is_refused_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let config = misbehaving_strategy(tmp.path(), "nondeterministic", 30.0);
    let out = tmp.path().join("out");
    let first = run(&config, &out, &[]);
    assert!(!first.status.success(), "it crashes the first time");
    let output = run(&config, &out, &["--resume"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("the journal does not match this config")
            && stderr.contains("not deterministic in its seed"),
        "{stderr}"
    );
}

/// A chain space trained by an external evaluator in `mode` (misbehaving on every
/// architecture with a dense128 layer), searched by random search.
fn evaluator_config(dir: &Path, mode: &str) -> PathBuf {
    let text = format!(
        r#"
[experiment]
name = "evaluator"
seed = 5
repetitions = 2
evaluations = 10
workers = 1

[evaluator]
kind = "external"
command = [{python}, {script}, "evaluator", "{mode}"]
params = {{ note = "sent at init" }}
timeout = 3

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
units = [16, 128]
activations = ["relu"]

[budget]
epochs = 1

[[strategy]]
kind = "random"
"#,
        python = lit(Path::new(&python())),
        script = misbehave(),
    );
    write_config(dir, &format!("{mode}.toml"), &text)
}

#[test]
fn a_misbehaving_evaluator_fails_its_trials_and_the_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let ok_out = tmp.path().join("ok-out");
    nas_ok("run", &evaluator_config(tmp.path(), "ok"), &ok_out, &[]);
    let ok_rows = trials(&ok_out);
    assert!(ok_rows.iter().all(|r| r.1 == "ok"), "{ok_rows:?}");
    assert!(
        ok_rows.iter().any(|r| r.3.contains("dense128")),
        "the seed must draw some dense128 networks for this test to mean anything"
    );
    for (mode, expected) in [
        ("flaky", "out of GPU memory (on purpose)"),
        ("badmetric", "val_acc"),
        ("crash", "exited before answering"),
        ("sleep", "did not answer within 3 s"),
        ("malformed", "colour"),
    ] {
        let out = tmp.path().join(format!("{mode}-out"));
        let config = evaluator_config(tmp.path(), mode);
        nas_ok("run", &config, &out, &[]);
        let rows = trials(&out);
        assert_eq!(rows.len(), ok_rows.len(), "{mode}: every trial ran");
        for (row, ok_row) in rows.iter().zip(&ok_rows) {
            assert_eq!(row.3, ok_row.3, "{mode}: the same proposals");
            if row.3.contains("dense128") {
                assert_eq!(row.1, "failed", "{mode}: {row:?}");
                assert!(
                    row.2.contains(expected) && row.2.contains("misbehave.py"),
                    "{mode}: the reason names the fault and the process: {row:?}"
                );
            } else {
                // After a crash or a timeout a new process takes the next trial.
                assert_eq!(row.1, "ok", "{mode}: {row:?}");
            }
        }
    }
}
