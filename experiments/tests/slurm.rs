//! Slurm end to end: the quickstart as a 3-task job array plus the merge job on a real
//! (local, single-node) Slurm cluster gives tables byte-identical to a single-machine run.
//!
//! Needs a running cluster: `eval "$(scripts/slurm-local.sh start)"` (which `.ci/run`
//! does). Without one the test says SKIPPED, except under CI, where it fails.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{REPRODUCIBLE, nas, read};

fn slurm_available() -> Result<(), String> {
    if std::env::var_os("SLURM_CONF").is_none() {
        return Err("SLURM_CONF is not set".into());
    }
    let out = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .map_err(|e| format!("cannot run sinfo: {e}"))?;
    let state = String::from_utf8_lossy(&out.stdout);
    if !out.status.success()
        || !state
            .lines()
            .any(|l| l.starts_with("idle") || l.starts_with("mix"))
    {
        return Err(format!(
            "no usable node: {} {}",
            state.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// `scontrol show job` fields of every record of a job (array tasks each have one).
fn job_states(id: &str) -> Vec<(String, String)> {
    let out = Command::new("scontrol")
        .args(["show", "job", id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("\n\n")
        .filter(|r| r.contains("JobState="))
        .map(|r| {
            let field = |name: &str| {
                r.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .unwrap_or_default()
                    .to_string()
            };
            (field("JobState="), field("ExitCode="))
        })
        .collect()
}

fn wait_for(ids: &[&str], timeout: Duration) {
    let start = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-j", &ids.join(",")])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "jobs {ids:?} still queued after {timeout:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn slurm_array_of_three_shards_and_merge_reproduce_the_single_machine_quickstart() {
    if let Err(why) = slurm_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Slurm must run in CI (.ci/run starts it): {why}"
        );
        println!(
            "SKIPPED: no Slurm cluster ({why}); start one with: eval \"$(scripts/slurm-local.sh start)\""
        );
        return;
    }
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("quickstart.toml");
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    let started = Instant::now();
    nas()
        .args([
            "run",
            quickstart.to_str().unwrap(),
            "--out",
            single.to_str().unwrap(),
            "--quiet",
        ])
        .assert()
        .success();
    let single_time = started.elapsed();

    let out = tmp.path().join("cluster");
    let started = Instant::now();
    let assert = nas()
        .args([
            "slurm",
            quickstart.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--shards",
            "3",
            "--cpus-per-task",
            "1",
            "--time",
            "00:30:00",
            "--submit",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("submitted array job"))
        .unwrap_or_else(|| panic!("no job ids in: {stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    // "submitted array job <A> (3 tasks) and merge job <M> (afterok:<A>); ..."
    let (array, merge) = (words[3], words[9]);
    assert!(
        array
            .chars()
            .chain(merge.chars())
            .all(|c| c.is_ascii_digit()),
        "job ids in: {line}"
    );
    println!("{line}");
    wait_for(&[array, merge], Duration::from_secs(20 * 60));
    let tasks = job_states(array);
    assert_eq!(tasks.len(), 3, "three array tasks: {tasks:?}");
    assert!(
        tasks.iter().all(|(s, e)| s == "COMPLETED" && e == "0:0"),
        "{tasks:?}"
    );
    let merged = job_states(merge);
    assert_eq!(
        merged,
        vec![("COMPLETED".to_string(), "0:0".to_string())],
        "merge job {merge}"
    );
    for f in REPRODUCIBLE {
        assert_eq!(
            read(&single, f),
            read(&out, f),
            "{f} differs between Slurm and one machine"
        );
    }
    println!(
        "Slurm: array job {array} (3 tasks) and merge job {merge} completed in {:.0} s; single machine {:.0} s; tables byte-identical",
        started.elapsed().as_secs_f64(),
        single_time.as_secs_f64()
    );
}
