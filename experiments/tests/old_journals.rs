//! Journals written by an earlier nas still report and resume: the fixture
//! `tests/fixtures/journal-0.1.0/` holds the journal, resolved config and manifest that
//! nas wrote at commit 632c7be (before the loop moved into nas-core and before run ends
//! recorded why they stopped) for `config.toml` beside them, and in `table/` the
//! `benchmarks/mnist-small` table it was run against (the one tabulated under the
//! engine's numeric contract 1; the shipped table has since been re-tabulated).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{REPRODUCIBLE, nas, nas_ok, read};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-0.1.0")
}

/// Copies the fixture's output files into `dir`, the journal cut to its first `lines`.
fn copy_fixture(dir: &Path, lines: Option<usize>) {
    fs::create_dir_all(dir).unwrap();
    for f in ["config.resolved.toml", "manifest.json"] {
        fs::copy(fixture().join(f), dir.join(f)).unwrap();
    }
    let journal = fs::read_to_string(fixture().join("journal.jsonl")).unwrap();
    let kept: String = match lines {
        Some(n) => journal.lines().take(n).map(|l| format!("{l}\n")).collect(),
        None => journal,
    };
    fs::write(dir.join("journal.jsonl"), kept).unwrap();
}

/// Lays out under `root` the fixture's config at the depth its table path expects
/// (`../../../../benchmarks/mnist-small`) beside the fixture's table; returns the
/// config's path.
fn lay_out_config(root: &Path) -> PathBuf {
    let dir = root.join("experiments/tests/fixtures/journal-0.1.0");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(fixture().join("config.toml"), dir.join("config.toml")).unwrap();
    let table = root.join("benchmarks/mnist-small");
    fs::create_dir_all(&table).unwrap();
    for f in ["table.csv", "table.json"] {
        fs::copy(fixture().join("table").join(f), table.join(f)).unwrap();
    }
    dir.join("config.toml")
}

#[test]
fn an_old_journal_reports_and_resumes_to_the_tables_of_a_fresh_run() {
    let tmp = tempfile::tempdir().unwrap();
    let config = lay_out_config(&tmp.path().join("tree"));
    let fresh = tmp.path().join("fresh");
    nas_ok("run", &config, &fresh, &[]);

    let journal = fs::read_to_string(fixture().join("journal.jsonl")).unwrap();
    assert!(
        !journal.contains("\"reason\":\"evaluations\"") && journal.contains("\"run_end\""),
        "the fixture is a journal from before run ends recorded their reason"
    );

    // `nas report` on the old journal.
    let reported = tmp.path().join("reported");
    copy_fixture(&reported, None);
    nas()
        .args(["report", reported.to_str().unwrap()])
        .assert()
        .success();

    // Resume from the middle of the second run: the first run ended, the second has
    // some trials, the third none.
    let total = journal.lines().count();
    let resumed = tmp.path().join("resumed");
    copy_fixture(&resumed, Some(total / 2));
    nas_ok("run", &config, &resumed, &["--resume"]);

    for f in REPRODUCIBLE {
        assert_eq!(read(&reported, f), read(&fresh, f), "report: {f}");
        assert_eq!(read(&resumed, f), read(&fresh, f), "resume: {f}");
    }
    let text = fs::read_to_string(resumed.join("journal.jsonl")).unwrap();
    assert!(
        text.contains("\"reason\":"),
        "runs finished now record why they stopped"
    );
}
