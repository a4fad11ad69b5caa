//! `nas verify DIR` retrains recorded evaluations and checks them bit for bit, under every
//! kernel family this CPU has; the manifest records the engine's numeric contract, and a
//! resume or a merge refuses to mix two contracts in one result.

mod common;

use std::fs;
use std::path::Path;

use common::{TINY, nas, nas_ok, nas_refused, write_config, write_idx_dir};
use nas_eval::{NUMERIC_CONTRACT, SimdPath};

/// TINY with one repetition of random search and regularized evolution.
fn small(dir: &Path) -> std::path::PathBuf {
    let text = TINY
        .replace("repetitions = 2", "repetitions = 1")
        .split("[[strategy]]")
        .take(1)
        .collect::<String>()
        + "[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"evolution\"\n";
    write_config(dir, "verify.toml", &text)
}

fn verify(dir: &Path, extra: &[&str], simd: Option<&str>) -> std::process::Output {
    let mut cmd = nas();
    cmd.args(["verify", dir.to_str().unwrap()]).args(extra);
    if let Some(s) = simd {
        cmd.env("NAS_SIMD", s);
    }
    cmd.output().unwrap()
}

#[test]
fn verify_matches_under_every_kernel_family_and_names_a_one_bit_change() {
    let tmp = tempfile::tempdir().unwrap();
    let config = small(tmp.path());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);

    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains(&format!("\"numeric_contract\": {NUMERIC_CONTRACT}")),
        "{manifest}"
    );

    for path in SimdPath::ALL {
        if !path.is_supported() {
            eprintln!("skipped: this CPU lacks the {} kernels", path.name());
            continue;
        }
        let o = verify(&out, &["--trials", "3"], Some(path.name()));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{}: {stdout}{}",
            path.name(),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            stdout.contains("all 3 retrained evaluations match") && stdout.contains("same bits"),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("{} kernels", path.name())),
            "{stdout}"
        );
    }

    // One bit of one recorded validation loss: named, and the command fails.
    let journal = fs::read_to_string(out.join("journal.jsonl")).unwrap();
    let mut changed = false;
    let lines: Vec<String> = journal
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if !changed && v["event"] == "trial" && v["metrics"]["val_loss"].is_f64() {
                let x = v["metrics"]["val_loss"].as_f64().unwrap();
                v["metrics"]["val_loss"] = serde_json::json!(f64::from_bits(x.to_bits() + 1));
                changed = true;
                serde_json::to_string(&v).unwrap()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(changed);
    fs::write(out.join("journal.jsonl"), lines.join("\n") + "\n").unwrap();
    let o = verify(&out, &["--trials", "1"], None);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stdout}");
    assert!(
        stdout.contains("DIFFERENT") && stdout.contains("val_loss"),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 of 1 retrained evaluations differ")
            && stderr.contains("same numeric contract"),
        "{stderr}"
    );
}

#[test]
fn resume_and_merge_refuse_a_directory_of_another_numeric_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let config = small(tmp.path());
    let out = tmp.path().join("out");
    nas_ok("run", &config, &out, &[]);
    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    let line = format!("\"numeric_contract\": {NUMERIC_CONTRACT}");
    for (replacement, named) in [
        ("\"numeric_contract\": 1".to_string(), "numeric contract 1,"),
        // A manifest from before nas recorded the contract.
        (String::new(), "numeric contract unrecorded (1)"),
    ] {
        let text = manifest.replace(
            &format!(",\n  {line}"),
            &if replacement.is_empty() {
                String::new()
            } else {
                format!(",\n  {replacement}")
            },
        );
        assert_ne!(text, manifest, "the manifest layout changed");
        fs::write(out.join("manifest.json"), &text).unwrap();
        nas_refused(
            &[
                "run",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--resume",
                "--quiet",
            ],
            named,
        );
    }

    // Two shards, one of them trained under another contract: merge refuses.
    let sharded = tmp.path().join("sharded");
    for shard in ["0/2", "1/2"] {
        nas_ok("run", &config, &sharded, &["--shard", shard]);
    }
    let path = sharded.join("shards/1/manifest.json");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace(&line, "\"numeric_contract\": 1")).unwrap();
    nas_refused(
        &["merge", sharded.to_str().unwrap()],
        "was trained under the engine's numeric contract 1, shard 0 under 2",
    );
}

#[test]
fn verify_refuses_what_it_cannot_retrain() {
    let tmp = tempfile::tempdir().unwrap();
    nas_refused(
        &["verify", tmp.path().to_str().unwrap()],
        "it has no journal.jsonl",
    );
    // A tabular comparison (the journal fixture): table lookups, not the engine's numbers.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-0.1.0");
    let dir = tmp.path().join("tabular");
    fs::create_dir_all(&dir).unwrap();
    for f in ["config.resolved.toml", "manifest.json", "journal.jsonl"] {
        fs::copy(fixture.join(f), dir.join(f)).unwrap();
    }
    nas_refused(
        &["verify", dir.to_str().unwrap()],
        "only trials nas trained can be retrained",
    );
    nas_refused(
        &["verify", dir.to_str().unwrap(), "--trials", "0"],
        "--trials must be at least 1",
    );
}

/// A run whose config names its data by a relative path: the directory does not record
/// where that config was, so `nas verify` says how to point at the data instead of
/// failing on a path resolved from the wrong place; with `--data-dir` it retrains.
#[test]
fn a_relative_data_dir_is_named_with_the_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    write_idx_dir(&tmp.path().join("data"));
    let text = small(tmp.path());
    let text = fs::read_to_string(text).unwrap().replace(
        "dataset = \"mnist\"",
        "dataset = \"mnist\"\ndir = \"../data\"",
    );
    let configs = tmp.path().join("configs");
    fs::create_dir_all(&configs).unwrap();
    let config = write_config(&configs, "verify.toml", &text);
    let out = tmp.path().join("results/run");
    nas_ok("run", &config, &out, &[]);
    nas_refused(
        &["verify", out.to_str().unwrap(), "--trials", "1"],
        "is relative to the config that made this run",
    );
    let data = tmp.path().join("data");
    let output = verify(
        &out,
        &["--trials", "1", "--data-dir", data.to_str().unwrap()],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
