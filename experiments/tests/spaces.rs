//! Every space kind through the `nas` binary: `nas space` describes NAS-Bench-201's cell
//! space and NAS-Bench-Macro's space with the benchmarks' sizes, `nas eval` reads every
//! kind's text (and a NAS-Bench-Macro key) and says clearly what it cannot train, and bad
//! architecture texts are one-line errors naming the text.

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
    let nb201_index0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
    assert!(eval_error(nb201_index0).contains("cannot train cell architectures yet"));
    let macro_error = eval_error("22212220");
    assert!(macro_error.contains("cannot train macro architectures yet"));
    assert!(
        macro_error.contains("benchmarks/nas-bench-macro"),
        "{macro_error}"
    );
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
