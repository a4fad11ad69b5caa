//! Every space kind through the `nas` binary: `nas space` describes NAS-Bench-201's cell
//! space and NAS-Bench-Macro's space with the benchmarks' sizes, `nas eval` reads every
//! kind's text (and a NAS-Bench-Macro key), trains cells in a skeleton given by flags and
//! says clearly what it cannot train, and bad architecture texts are one-line errors
//! naming the text.

mod common;

use common::{nas, write_config};

const HEAD: &str = r#"
[experiment]
seed = 3
repetitions = 1
evaluations = 2
[[strategy]]
kind = "random"
"#;

fn space_output(space: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "space.toml", &format!("{HEAD}\n{space}"));
    let out = nas()
        .args(["space", config.to_str().unwrap(), "--samples", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn nas_space_describes_the_benchmark_spaces() {
    let cell = space_output("[data]\ndataset = \"mnist\"\n[space]\nkind = \"cell\"\n");
    assert!(cell.contains("architectures:  15625"), "{cell}");
    assert!(
        cell.contains("distinct cells: 6466 up to isomorphism"),
        "{cell}"
    );
    assert!(cell.contains("4 nodes, 6 edges"), "{cell}");
    assert!(cell.contains("edge 3<-2 (5 values)"), "{cell}");
    assert!(
        cell.lines()
            .filter(|l| l.trim_start().starts_with('|'))
            .count()
            == 3
    );

    let mac = space_output("[space]\nkind = \"macro\"\n");
    assert!(mac.contains("architectures:  6561"), "{mac}");
    assert!(mac.contains("stages of [2, 3, 3]"), "{mac}");
    assert!(
        mac.contains("key "),
        "samples show their NAS-Bench-Macro key: {mac}"
    );

    let chain = space_output(
        "[space]\nmax_layers = 2\nmaxpool2d = true\n[space.dense]\nunits = [8]\nactivations = [\"relu\"]\n",
    );
    assert!(chain.starts_with("chain search space"), "{chain}");
    assert!(chain.contains("with 1 layer(s)"), "{chain}");
}

fn eval_error(arch: &str) -> String {
    let out = nas().args(["eval", "--arch", arch]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{arch}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.trim().lines().count() == 1,
        "{stderr}"
    );
    stderr
}

#[test]
fn nas_eval_reads_every_kind_and_says_what_it_cannot_train() {
    let head = nas()
        .args(["eval", "--arch", "22212220", "--head-channels", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&head.stderr);
    assert_eq!(head.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--head-channels"), "{stderr}");
    for (bad, needle) in [
        ("|nor_conv_3x3~1|", "expected 0"),
        ("|bogus~0|", "unknown cell op `bogus`"),
        ("|none~0|+|none~0|", "node 2 has 1 incoming edge(s)"),
        ("2221222", "a key of 7 digits; this space has 8 layers"),
        ("22212223", "`3` is not a block of this space"),
        ("mbconv_k9_e3 identity", "unknown block `mbconv_k9_e3`"),
    ] {
        let err = eval_error(bad);
        assert!(err.contains(needle), "{bad}: {err}");
        assert!(err.contains(bad.trim()), "the error names the text: {err}");
    }
}

/// `nas eval` of a cell in a small skeleton on the shipped mini MNIST: the JSON report.
fn eval_cell(arch: &str, threads: &str) -> serde_json::Value {
    let skeleton = [
        "--stem-channels",
        "4",
        "--cells-per-stage",
        "1",
        "--stages",
        "2",
    ];
    eval_small(arch, &skeleton, threads)
}

/// `nas eval` of `arch` with the `extra` flags (its skeleton) on 300 mini-MNIST images:
/// the JSON report.
fn eval_small(arch: &str, extra: &[&str], threads: &str) -> serde_json::Value {
    let out = nas()
        .args(["eval", "--arch", arch])
        .args(extra)
        .args([
            "--train-subset",
            "300",
            "--validation-size",
            "200",
            "--batch-size",
            "50",
            "--optimizer",
            "sgd",
            "--lr",
            "0.1",
            "--nesterov",
            "--lr-schedule",
            "cosine",
            "--threads",
            threads,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn nas_eval_trains_a_cell_with_the_same_numbers_on_any_thread_count() {
    let index0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
    let one = eval_cell(index0, "1");
    let two = eval_cell(index0, "2");
    assert_eq!(one["status"], "ok", "{one}");
    // The skeleton's parameter count, as nas-core counts it (equal to NAS-Bench-201's
    // published counts for its default skeleton).
    let space = nas_core::space::CellParams {
        skeleton: nas_core::space::CellSkeleton {
            stem_channels: 4,
            cells_per_stage: 1,
            stages: 2,
        },
        ..Default::default()
    }
    .check(nas_core::InputShape::new(1, 28, 28))
    .unwrap();
    let cell: nas_core::Cell = index0.parse().unwrap();
    assert_eq!(one["params"], space.cost(&cell, 10).params);
    for key in ["val_acc", "val_loss", "test_acc", "test_loss"] {
        assert!(one[key].as_f64().is_some(), "{key}: {one}");
        assert_eq!(one[key], two[key], "{key}");
    }
    // A skeleton that halves a 7x7 map is refused before training, naming the flag.
    let out = nas()
        .args(["eval", "--arch", index0, "--stages", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--stages"), "{stderr}");
}

#[test]
fn nas_eval_trains_a_macro_network_with_the_same_numbers_on_any_thread_count() {
    // Every block: a stride-2 inverted residual without expansion, an identity, a
    // stride-2 identity (1x1 convolution) and an inverted residual with its shortcut.
    let text = "mbconv_k3_e1 identity / identity mbconv_k5_e3";
    let flags = [
        "--stem-channels",
        "4",
        "--head-channels",
        "16",
        "--epochs",
        "4",
    ];
    let one = eval_small(text, &flags, "1");
    let two = eval_small(text, &flags, "2");
    assert_eq!(one["status"], "ok", "{one}");
    let net: nas_core::MacroNet = text.parse().unwrap();
    let space = nas_core::space::MacroParams::holding(
        &net,
        nas_core::space::MacroSkeleton {
            stem_channels: 4,
            head_channels: 16,
            ..Default::default()
        },
    )
    .check(nas_core::InputShape::new(1, 28, 28))
    .unwrap();
    assert_eq!(one["params"], space.cost(&net, 10).params);
    for key in ["val_acc", "val_loss", "test_acc", "test_loss"] {
        assert!(one[key].as_f64().is_some(), "{key}: {one}");
        assert_eq!(one[key], two[key], "{key}");
    }
    // It learns: 4 epochs on 300 images take this tiny network (3,714 parameters) well
    // above chance (0.1; one standard deviation over 200 images is 0.02).
    assert!(one["val_acc"].as_f64().unwrap() > 0.17, "{one}");
}
