//! Sharding: for any number of shards, running every shard and merging gives tables
//! byte-identical to a single-machine run; merge refuses foreign and missing shards.

mod common;

use std::path::Path;

use common::{REPRODUCIBLE, TINY, nas, nas_ok, read, write_config};

fn run(config: &Path, out: &Path, extra: &[&str]) {
    nas_ok("run", config, out, extra);
}

#[test]
fn merged_shards_equal_a_single_machine_run_for_any_shard_count() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "tiny.toml", TINY);
    let single = tmp.path().join("single");
    run(&config, &single, &[]);
    // 10 runs: 1 shard, uneven shards, and more shards than runs.
    for count in [1u32, 3, 4, 11] {
        let out = tmp.path().join(format!("sharded-{count}"));
        for index in 0..count {
            run(&config, &out, &["--shard", &format!("{index}/{count}")]);
        }
        nas()
            .args(["merge", out.to_str().unwrap()])
            .assert()
            .success();
        for f in REPRODUCIBLE {
            assert_eq!(
                read(&single, f),
                read(&out, f),
                "{f} differs with {count} shards"
            );
        }
        // The merged directory is an ordinary output directory.
        nas()
            .args(["report", out.to_str().unwrap()])
            .assert()
            .success();
        println!("{count} shards: merged tables identical to the single-machine run");
    }
}

#[test]
fn merge_refuses_missing_and_foreign_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "tiny.toml", TINY);
    let out = tmp.path().join("out");
    run(&config, &out, &["--shard", "0/3"]);
    run(&config, &out, &["--shard", "2/3"]);
    // Shard 1 is missing: its runs are named, exit non-zero.
    let assert = nas()
        .args(["merge", out.to_str().unwrap()])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("runs are missing"), "{stderr}");
    assert!(
        stderr.contains("random/1 (shard 1), evolution/0 (shard 1), reinforce/1 (shard 1)"),
        "names the missing runs: {stderr}"
    );
    assert!(!out.join("trials.csv").exists());
    // --allow-partial writes the tables, marked partial.
    nas()
        .args(["merge", out.to_str().unwrap(), "--allow-partial"])
        .assert()
        .success();
    let report = String::from_utf8(read(&out, "report.md")).unwrap();
    assert!(report.contains("Partial results"), "{report}");
    let manifest = String::from_utf8(read(&out, "manifest.json")).unwrap();
    assert!(manifest.contains("\"partial\": true"), "{manifest}");
    // A shard of another experiment (another seed) is refused.
    let other = write_config(
        tmp.path(),
        "other.toml",
        &TINY.replace("seed = 7", "seed = 8"),
    );
    // Running it into the same directory is refused at once...
    let assert = nas()
        .args([
            "run",
            other.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--shard",
            "1/3",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("holds another experiment"), "{stderr}");
    assert!(!out.join("shards/1").exists());
    // ... and a shard of it copied in is refused by merge.
    let elsewhere = tmp.path().join("elsewhere");
    run(&other, &elsewhere, &["--shard", "1/3"]);
    std::fs::rename(elsewhere.join("shards/1"), out.join("shards/1")).unwrap();
    let assert = nas()
        .args(["merge", out.to_str().unwrap()])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("another experiment"), "{stderr}");
    std::fs::remove_dir_all(out.join("shards/1")).unwrap();
    // A shard resumed with another shard count is refused at run time.
    let assert = nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--resume",
            "--shard",
            "0/2",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("holds shard 0/3, not shard 0/2"),
        "{stderr}"
    );
}

#[test]
fn bad_shard_arguments_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "tiny.toml", TINY);
    for bad in ["3/3", "1/0", "x/2", "2"] {
        nas()
            .args([
                "run",
                config.to_str().unwrap(),
                "--out",
                tmp.path().join("o").to_str().unwrap(),
                "--shard",
                bad,
            ])
            .assert()
            .code(2);
    }
    nas()
        .args(["merge", tmp.path().join("nothing").to_str().unwrap()])
        .assert()
        .code(2);
}
