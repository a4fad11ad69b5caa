//! End to end: `nas run` on a tiny real experiment, `nas report`, worker-count invariance.

mod common;

use common::{REPRODUCIBLE, TINY, nas, read, write_config};

#[test]
fn run_writes_every_output_and_workers_never_change_results() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "tiny.toml", TINY);
    let one = tmp.path().join("w1");
    let two = tmp.path().join("w2");
    let out = nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            one.to_str().unwrap(),
            "--workers",
            "1",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("| strategy |"),
        "summary table printed: {stdout}"
    );
    assert!(stdout.contains("report.md"), "{stdout}");
    nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            two.to_str().unwrap(),
            "--workers",
            "2",
            "--quiet",
        ])
        .assert()
        .success();

    for f in [
        "config.resolved.toml",
        "manifest.json",
        "journal.jsonl",
        "trials.csv",
        "runs.csv",
        "summary.csv",
        "tests.csv",
        "timings.csv",
        "report.md",
        "tables.tex",
        "anytime.svg",
        "anytime.png",
        "test_box.svg",
        "test_box.png",
    ] {
        assert!(one.join(f).is_file(), "{f} missing");
    }
    // 5 strategies x 2 repetitions x 4 evaluations, plus the header.
    let trials = String::from_utf8(read(&one, "trials.csv")).unwrap();
    assert_eq!(trials.lines().count(), 1 + 5 * 2 * 4, "{trials}");
    let runs = String::from_utf8(read(&one, "runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 5 * 2);
    for f in REPRODUCIBLE {
        assert_eq!(
            read(&one, f),
            read(&two, f),
            "{f} differs between 1 and 2 workers"
        );
    }
    // Every run's best architecture was evaluated on the test set.
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "test_acc").unwrap();
    for line in runs.lines().skip(1) {
        let acc: f64 = line.split(',').nth(col).unwrap().parse().unwrap();
        assert!(acc > 0.2, "test accuracy {acc} in {line}");
    }

    // `nas report` regenerates the same tables from the journal alone.
    let before: Vec<Vec<u8>> = REPRODUCIBLE.iter().map(|f| read(&one, f)).collect();
    for f in REPRODUCIBLE {
        std::fs::remove_file(one.join(f)).unwrap();
    }
    nas()
        .args(["report", one.to_str().unwrap()])
        .assert()
        .success();
    for (f, bytes) in REPRODUCIBLE.iter().zip(before) {
        assert_eq!(read(&one, f), bytes, "{f} differs after nas report");
    }

    // A second run into the same directory is refused, and destroys nothing.
    let journal = read(&one, "journal.jsonl");
    nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            one.to_str().unwrap(),
        ])
        .assert()
        .code(2);
    assert_eq!(read(&one, "journal.jsonl"), journal);
}
