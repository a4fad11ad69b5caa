//! Crash safety: an experiment killed with SIGKILL at random moments (and with SIGINT)
//! and resumed each time ends with tables byte-identical to an uninterrupted run.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{REPRODUCIBLE, TINY, nas, read, write_config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The tiny experiment with more evaluations, so that it lives long enough to be killed.
fn config(dir: &Path) -> std::path::PathBuf {
    write_config(
        dir,
        "kill.toml",
        &TINY.replace("evaluations = 4", "evaluations = 10"),
    )
}

fn reference(config: &Path, out: &Path) -> Duration {
    let start = Instant::now();
    nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .assert()
        .success();
    start.elapsed()
}

fn assert_same_tables(a: &Path, b: &Path) {
    for f in REPRODUCIBLE {
        assert_eq!(
            read(a, f),
            read(b, f),
            "{f} differs from the uninterrupted run"
        );
    }
}

#[test]
fn five_sigkills_at_random_moments_then_resume_give_identical_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let full = tmp.path().join("uninterrupted");
    let took = reference(&config, &full);
    let out = tmp.path().join("killed");
    // A fixed kill schedule: each kill lands somewhere in the first 5-25% of a full run.
    let mut schedule = ChaCha8Rng::seed_from_u64(20261128);
    let mut kills = 0;
    let mut journal_lines = Vec::new();
    for round in 0..5 {
        let mut child = common::spawn_run(&config, &out, round > 0);
        let wait = took.mul_f64(schedule.random_range(0.05..0.25));
        std::thread::sleep(wait);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        let lines = std::fs::read(out.join("journal.jsonl"))
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0);
        journal_lines.push(lines);
    }
    let status = common::spawn_run(&config, &out, true).wait().unwrap();
    assert!(status.success(), "the final resume finishes");
    println!(
        "kill-and-resume: {kills} SIGKILLs (uninterrupted run {:.2} s); journal lines after each: {journal_lines:?}",
        took.as_secs_f64()
    );
    assert!(kills >= 3, "only {kills} kills landed before the run ended");
    assert_same_tables(&full, &out);
}

#[test]
fn sigint_records_killed_trials_and_says_how_to_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let full = tmp.path().join("uninterrupted");
    let took = reference(&config, &full);
    let out = tmp.path().join("interrupted");
    let child = common::spawn_run(&config, &out, false);
    std::thread::sleep(took.mul_f64(0.4));
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        println!("the run finished before SIGINT arrived; nothing to resume");
    } else {
        assert_eq!(output.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(stderr.contains("--resume"), "says how to resume: {stderr}");
        println!("after SIGINT: {}", stderr.trim());
        nas()
            .args([
                "run",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
                "--resume",
            ])
            .assert()
            .success();
    }
    assert_same_tables(&full, &out);
}

#[test]
fn resume_refuses_another_config_and_accepts_other_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let out = tmp.path().join("out");
    reference(&config, &out);
    let journal = read(&out, "journal.jsonl");
    // Only the worker count changes: accepted, nothing to do, same tables.
    let tables: Vec<Vec<u8>> = REPRODUCIBLE.iter().map(|f| read(&out, f)).collect();
    nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--resume",
            "--workers",
            "2",
        ])
        .assert()
        .success();
    for (f, bytes) in REPRODUCIBLE.iter().zip(tables) {
        assert_eq!(read(&out, f), bytes, "{f}");
    }
    // Another seed: refused, journal untouched.
    let other = write_config(
        tmp.path(),
        "other.toml",
        &std::fs::read_to_string(&config)
            .unwrap()
            .replace("seed = 7", "seed = 8"),
    );
    let assert = nas()
        .args([
            "run",
            other.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--resume",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("different config"), "{stderr}");
    assert!(
        stderr.contains("seed = 8"),
        "shows the changed line: {stderr}"
    );
    assert_eq!(read(&out, "journal.jsonl"), journal);
}

#[test]
fn a_corrupt_journal_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let out = tmp.path().join("out");
    reference(&config, &out);
    let text = String::from_utf8(read(&out, "journal.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3] = "{\"event\":\"trial\",\"garbage";
    std::fs::write(out.join("journal.jsonl"), lines.join("\n") + "\n").unwrap();
    let assert = nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--resume",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("corrupt journal line 4"), "{stderr}");
    // A torn last line (no newline) is ignored on resume.
    let mut torn = text.clone();
    torn.push_str("{\"event\":\"trial\",\"stra");
    std::fs::write(out.join("journal.jsonl"), &torn).unwrap();
    nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--resume",
        ])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(read(&out, "journal.jsonl")).unwrap(),
        text,
        "the torn tail is cut off"
    );
}

/// Unmounts a tmpfs when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_with_a_clear_error_and_loses_no_finished_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let full = tmp.path().join("uninterrupted");
    reference(&config, &full);
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    // A real full disk: a 40 KiB tmpfs where we may mount one (root); otherwise a file-size
    // limit (`ulimit -f`), which fails writes the same way past the limit.
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=40k",
            "tmpfs",
            disk.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _guard = mounted.then(|| Mount(disk.clone()));
    let out = disk.join("out");
    let nas_bin = assert_cmd::cargo::cargo_bin("nas");
    let run = format!(
        "{}exec {} run {} --out {} --quiet",
        if mounted {
            ""
        } else {
            "ulimit -f 40; trap '' XFSZ; "
        },
        nas_bin.display(),
        config.display(),
        out.display()
    );
    let output = Command::new("sh").args(["-c", &run]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("No space left on device") || stderr.contains("File too large"),
        "{stderr}"
    );
    assert!(stderr.contains("journal"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clean error line: {stderr}");
    println!(
        "disk full ({}): {}",
        if mounted { "40 KiB tmpfs" } else { "ulimit -f" },
        stderr.trim()
    );
    // Every finished trial is in the journal; copy it off the full disk and finish there.
    let contents = experiments::journal::read(&out.join("journal.jsonl")).unwrap();
    assert!(
        contents.events.len() > 10,
        "{} events kept",
        contents.events.len()
    );
    let moved = tmp.path().join("moved");
    std::fs::create_dir(&moved).unwrap();
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, moved.join(path.file_name().unwrap())).unwrap();
        }
    }
    nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            moved.to_str().unwrap(),
            "--quiet",
            "--resume",
        ])
        .assert()
        .success();
    assert_same_tables(&full, &moved);
}
