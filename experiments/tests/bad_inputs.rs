//! Hostile input: every case gives a clear error and exit code 2, and destroys nothing.
//!
//! The config cases live in `tests/bad-inputs/*.toml`, each opening with
//! `# expect: <text the error must contain>`; data-file, output-directory and journal
//! cases are generated here.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{TINY, nas, write_config, write_idx_dir};

/// Runs `nas run` and checks exit code 2, the expected text, and that the pre-existing
/// file in the output directory survived.
fn refused(config: &Path, out: &Path, expect: &str) -> String {
    let canary = out.join("keep.txt");
    if out.is_dir() {
        fs::write(&canary, "precious").unwrap();
    }
    let output = nas()
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}: {stderr}",
        config.display()
    );
    assert!(
        stderr.contains(expect),
        "{}: expected `{expect}` in: {stderr}",
        config.display()
    );
    assert!(
        stderr.starts_with("error: "),
        "one clean error line: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    if canary.exists() {
        assert_eq!(fs::read_to_string(&canary).unwrap(), "precious");
    }
    stderr
}

#[test]
fn every_bad_config_in_the_corpus_is_refused() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs");
    let mut cases: Vec<PathBuf> = fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    let tmp = tempfile::tempdir().unwrap();
    for case in &cases {
        let text = fs::read_to_string(case).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks its `# expect:` line", case.display()));
        let out = tmp.path().join(case.file_stem().unwrap());
        fs::create_dir_all(&out).unwrap();
        let stderr = refused(case, &out, expect);
        assert!(
            stderr.contains(case.file_name().unwrap().to_str().unwrap())
                || stderr.contains("does-not-exist")
                || stderr.contains("no-such-table"),
            "the error names the file: {stderr}"
        );
    }
    println!(
        "bad-input corpus: {} config cases refused with exit code 2",
        cases.len()
    );
    assert!(cases.len() >= 25, "the corpus has {} cases", cases.len());
}

#[test]
fn corrupt_data_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = 0;
    type Corrupt = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let corruptions: Vec<(&str, &str, Corrupt, &str)> = vec![
        (
            "truncated images",
            "train-images-idx3-ubyte",
            Box::new(|b: &[u8]| b[..b.len() / 2].to_vec()),
            "train-images-idx3-ubyte",
        ),
        (
            "wrong magic",
            "train-labels-idx1-ubyte",
            Box::new(|b: &[u8]| {
                let mut v = b.to_vec();
                v[3] = 0x09;
                v
            }),
            "magic",
        ),
        (
            "trailing bytes",
            "t10k-labels-idx1-ubyte",
            Box::new(|b: &[u8]| {
                let mut v = b.to_vec();
                v.extend_from_slice(&[0; 7]);
                v
            }),
            "t10k-labels-idx1-ubyte",
        ),
        (
            "label out of range",
            "t10k-labels-idx1-ubyte",
            Box::new(|b: &[u8]| {
                let mut v = b.to_vec();
                v[8] = 12;
                v
            }),
            "label 12",
        ),
    ];
    for (what, file, corrupt, expect) in corruptions {
        let dir = tmp.path().join(what.replace(' ', "-"));
        let files = write_idx_dir(&dir);
        let original = &files.iter().find(|(n, _)| n == file).unwrap().1;
        fs::write(dir.join(file), corrupt(original)).unwrap();
        let config = write_config(
            tmp.path(),
            &format!("{}.toml", what.replace(' ', "-")),
            &TINY.replace(
                "dataset = \"mnist\"",
                &format!("dataset = \"mnist\"\ndir = {:?}", dir.to_str().unwrap()),
            ),
        );
        refused(&config, &tmp.path().join(format!("out-{cases}")), expect);
        cases += 1;
    }
    // gzip garbage under a .gz name.
    let dir = tmp.path().join("gz-garbage");
    write_idx_dir(&dir);
    fs::remove_file(dir.join("train-images-idx3-ubyte")).unwrap();
    fs::write(
        dir.join("train-images-idx3-ubyte.gz"),
        b"\x1f\x8b\x08\x00garbage garbage",
    )
    .unwrap();
    let config = write_config(
        tmp.path(),
        "gz.toml",
        &TINY.replace(
            "dataset = \"mnist\"",
            &format!("dataset = \"mnist\"\ndir = {:?}", dir.to_str().unwrap()),
        ),
    );
    refused(
        &config,
        &tmp.path().join("out-gz"),
        "train-images-idx3-ubyte.gz",
    );
    cases += 1;
    // A truncated CIFAR-10 batch.
    let dir = tmp.path().join("cifar");
    fs::create_dir_all(&dir).unwrap();
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(label * 20, 3072));
        r
    };
    for name in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ] {
        let bytes: Vec<u8> = (0..20u8).flat_map(|i| record(i % 10)).collect();
        fs::write(dir.join(name), bytes).unwrap();
    }
    let mut short = fs::read(dir.join("data_batch_3.bin")).unwrap();
    short.truncate(short.len() - 100);
    fs::write(dir.join("data_batch_3.bin"), short).unwrap();
    let config = write_config(
        tmp.path(),
        "cifar.toml",
        &TINY.replace(
            "dataset = \"mnist\"",
            &format!("dataset = \"cifar10\"\ndir = {:?}", dir.to_str().unwrap()),
        ),
    );
    refused(&config, &tmp.path().join("out-cifar"), "data_batch_3.bin");
    cases += 1;
    println!("bad-input data cases: {cases} refused with exit code 2");
}

#[test]
fn bad_output_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "tiny.toml", TINY);
    // The output path is a file: it stays as it was.
    let file = tmp.path().join("a-file");
    fs::write(&file, "data").unwrap();
    refused(&config, &file, "not a directory");
    assert_eq!(fs::read_to_string(&file).unwrap(), "data");
    // An output directory nobody may write to (skipped as root, who may write anywhere).
    let ro = tmp.path().join("read-only");
    fs::create_dir(&ro).unwrap();
    let mut perms = fs::metadata(&ro).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    perms.set_mode(0o555);
    fs::set_permissions(&ro, perms).unwrap();
    if fs::write(ro.join("probe"), "x").is_err() {
        refused(&config, &ro.join("sub"), "cannot create");
    } else {
        println!("running as root: the read-only directory case cannot be tested");
    }
}
