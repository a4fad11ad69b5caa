//! `nas verify DIR`: retrain a sample of an output directory's recorded evaluations on
//! this machine and check that they match bit for bit.
//!
//! The engine's numeric contract ([`nas_eval::NUMERIC_CONTRACT`]) makes a trained trial
//! a function of (architecture, budget, trial seed, data, config) alone, the same on every
//! x86-64 CPU, kernel family and thread count. `nas verify` lets a reviewer check that
//! claim for a committed directory in minutes: it picks evaluations evenly spread over
//! the journal, retrains each with its recorded seed, and compares every recorded number
//! (validation and test accuracy and loss, parameters, MACs, epochs, status) by its bits.
//! Training seconds are wall-clock time and are not compared.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use nas_core::{Architecture, EvalRequest, Metrics, Status};

use crate::config::EvaluatorKind;
use crate::error::BadInput;
use crate::journal::Event;
use crate::manifest::contract_name;
use crate::{manifest, outdir, setup};

/// Arguments of `nas verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// An output directory of `nas run` or `nas tabulate` whose trials were trained.
    pub dir: PathBuf,
    /// How many recorded evaluations to retrain, evenly spread over the journal (trials,
    /// and final test evaluations); all of them when the journal has fewer.
    #[arg(long, default_value_t = 4)]
    pub trials: usize,
    /// Folder of the data set's files [default: the resolved config's `data.dir`, taken
    /// relative to DIR]. The files must be the ones the manifest records.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// One recorded evaluation to retrain.
struct Recorded {
    what: String,
    arch: Architecture,
    seed: u64,
    test: bool,
    /// The trial's fidelity (epochs), for a multi-fidelity strategy's trial.
    fidelity: Option<u32>,
    status: Status,
    metrics: Option<Metrics>,
}

/// The recorded evaluations a retraining can reproduce: trials that trained (not
/// cached, not failed or killed) and final evaluations, in journal order.
fn recorded(events: &[Event]) -> Vec<Recorded> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Trial(t) if !t.cached && matches!(t.status, Status::Ok | Status::Diverged) => {
                Some(Recorded {
                    what: format!("{} rep {} trial {}", t.strategy, t.repetition, t.index),
                    arch: t.arch.clone(),
                    seed: t.seed,
                    test: t.metrics.as_ref().is_some_and(|m| m.test_acc.is_some()),
                    fidelity: t.fidelity.as_ref().map(|f| f.epochs),
                    status: t.status,
                    metrics: t.metrics.clone(),
                })
            }
            Event::Final(f) if matches!(f.status, Status::Ok | Status::Diverged) => {
                Some(Recorded {
                    what: format!("{} rep {} final test", f.strategy, f.repetition),
                    arch: f.arch.clone(),
                    seed: f.seed,
                    test: true,
                    fidelity: None,
                    status: f.status,
                    metrics: f.metrics.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

/// `count` indices evenly spread over `0..len` (first and last included), in order.
fn spread(len: usize, count: usize) -> Vec<usize> {
    if count >= len {
        return (0..len).collect();
    }
    if count == 1 {
        return vec![0];
    }
    (0..count).map(|i| i * (len - 1) / (count - 1)).collect()
}

/// The numbers of two evaluations that differ, each `field recorded -> now`; empty when
/// every compared number has the same bits.
fn differences(status: (Status, Status), a: Option<&Metrics>, b: Option<&Metrics>) -> Vec<String> {
    let mut out = Vec::new();
    if status.0 != status.1 {
        out.push(format!("status {} -> {}", status.0, status.1));
    }
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (None, None) => return out,
        _ => {
            out.push("metrics present in one only".into());
            return out;
        }
    };
    let floats = [
        ("val_acc", a.val_acc, b.val_acc),
        ("val_loss", a.val_loss, b.val_loss),
        ("test_acc", a.test_acc, b.test_acc),
        ("test_loss", a.test_loss, b.test_loss),
        ("epochs", Some(a.epochs), Some(b.epochs)),
    ];
    for (field, x, y) in floats {
        if x.map(f64::to_bits) != y.map(f64::to_bits) {
            let show = |v: Option<f64>| v.map_or_else(|| "none".into(), |v| format!("{v:?}"));
            out.push(format!("{field} {} -> {}", show(x), show(y)));
        }
    }
    for (field, x, y) in [("params", a.params, b.params), ("macs", a.macs, b.macs)] {
        if x != y {
            out.push(format!("{field} {x} -> {y}"));
        }
    }
    if a.curve.len() != b.curve.len() {
        out.push(format!(
            "curve of {} epochs -> {}",
            a.curve.len(),
            b.curve.len()
        ));
    }
    for (i, (x, y)) in a.curve.iter().zip(&b.curve).enumerate() {
        for (field, x, y) in [
            ("val_acc", x.val_acc, y.val_acc),
            ("val_loss", x.val_loss, y.val_loss),
        ] {
            if x.to_bits() != y.to_bits() {
                out.push(format!("curve[{}].{field} {x:?} -> {y:?}", i + 1));
            }
        }
    }
    out
}

/// `nas verify`: retrains the sample and prints one line per evaluation; an error when
/// any differs.
pub fn exec(args: &VerifyArgs) -> Result<()> {
    let dir = &args.dir;
    outdir::require_journal(dir)?;
    if args.trials == 0 {
        return Err(BadInput::new("--trials must be at least 1").into());
    }
    let outdir::Recorded {
        config_path,
        loaded,
        manifest: recorded_manifest,
        contents,
    } = outdir::Recorded::read(dir)?;
    if loaded.config.evaluator.kind != EvaluatorKind::Train {
        return Err(BadInput::at(
            &config_path,
            format!(
                "evaluator.kind = {:?}: only trials nas trained can be retrained (table lookups and external evaluators are not the engine's numbers)",
                loaded.config.evaluator.kind
            ),
        )
        .into());
    }
    // A relative `data.dir` is relative to the config that made the run, which the
    // directory does not record: resolved from DIR it may point nowhere.
    if args.data_dir.is_none()
        && let Some(data) = &loaded.config.data.dir
        && data.is_relative()
    {
        let resolved = dir.join(data);
        if !resolved.exists() {
            return Err(BadInput::at(
                &config_path,
                format!(
                    "`data.dir` = {:?} is relative to the config that made this run, and from {} it points to {}, which does not exist: pass --data-dir with the run's data (recorded: {})",
                    data.display().to_string(),
                    dir.display(),
                    resolved.display(),
                    describe_files(&recorded_manifest.data_files)
                ),
            )
            .into());
        }
    }
    let scorer = setup::scorer(&loaded, args.data_dir.as_deref(), &std::env::temp_dir())?;
    if scorer.files != recorded_manifest.data_files {
        return Err(BadInput::at(
            &dir.join(outdir::MANIFEST),
            format!(
                "the data files differ from the ones the run used ({}; recorded: {}): pass --data-dir with the run's data",
                describe_files(&scorer.files),
                describe_files(&recorded_manifest.data_files)
            ),
        )
        .into());
    }
    let all = recorded(&contents.events);
    if all.is_empty() {
        return Err(BadInput::at(dir, "the journal holds no trained evaluation to retrain").into());
    }
    let picks = spread(all.len(), args.trials);
    let kernels = nas_eval::simd_path().map_err(|e| BadInput::new(e.to_string()))?;
    println!(
        "recorded: numeric contract {} on {}, threads per trial: {}",
        contract_name(recorded_manifest.numeric_contract),
        recorded_manifest.cpu,
        recorded_manifest.threads
    );
    println!(
        "this machine: numeric contract {} on {}, {} kernels, threads per trial: {}",
        contract_name(scorer.numeric_contract),
        manifest::cpu_model(),
        kernels,
        loaded.config.training.threads
    );
    println!(
        "retraining {} of {} recorded evaluations",
        picks.len(),
        all.len()
    );
    let mut report = String::new();
    let mut differ = 0;
    for &i in &picks {
        let r = &all[i];
        let request = EvalRequest {
            arch: &r.arch,
            budget: &loaded.config.budget,
            seed: r.seed,
            test: r.test,
            fidelity: r.fidelity,
        };
        let (status, metrics) = match scorer.evaluator.evaluate(&request) {
            Ok(e) => (e.status, Some(e.metrics)),
            Err(e) => (Status::Failed, {
                let _ = writeln!(report, "  error: {e}");
                None
            }),
        };
        let diff = differences((r.status, status), r.metrics.as_ref(), metrics.as_ref());
        if diff.is_empty() {
            println!("  same bits  {}  {}", r.what, r.arch);
        } else {
            differ += 1;
            println!("  DIFFERENT  {}  {}: {}", r.what, r.arch, diff.join(", "));
        }
    }
    print!("{report}");
    if differ > 0 {
        let hint = if recorded_manifest.numeric_contract == scorer.numeric_contract {
            "same numeric contract: a bug worth reporting, with both manifests"
        } else {
            "the run was trained under another numeric contract, whose numbers may differ"
        };
        anyhow::bail!(
            "{differ} of {} retrained evaluations differ from {} ({hint})",
            picks.len(),
            dir.display()
        );
    }
    println!(
        "all {} retrained evaluations match {} bit for bit",
        picks.len(),
        dir.display()
    );
    Ok(())
}

/// `name sha256[..12]` of each file, comma-separated.
fn describe_files(files: &[(String, String)]) -> String {
    files
        .iter()
        .map(|(n, h)| format!("{n} {}", &h[..12.min(h.len())]))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_picks_first_and_last_evenly() {
        assert_eq!(spread(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(spread(3, 5), vec![0, 1, 2]);
        assert_eq!(spread(7, 1), vec![0]);
        assert_eq!(spread(2, 2), vec![0, 1]);
    }

    fn metrics(val_loss: f64) -> Metrics {
        Metrics {
            val_acc: Some(0.5),
            val_loss: Some(val_loss),
            test_acc: None,
            test_loss: None,
            params: 10,
            macs: 20,
            epochs: 1.0,
            train_seconds: 3.0,
            curve: Vec::new(),
        }
    }

    #[test]
    fn one_bit_of_a_loss_is_a_difference_and_seconds_are_not() {
        let a = metrics(0.25);
        let mut b = metrics(f64::from_bits(0.25f64.to_bits() + 1));
        b.train_seconds = 9.0;
        let s = (Status::Ok, Status::Ok);
        assert_eq!(differences(s, Some(&a), Some(&a)), Vec::<String>::new());
        let mut same_but_time = a.clone();
        same_but_time.train_seconds = 99.0;
        assert!(differences(s, Some(&a), Some(&same_but_time)).is_empty());
        let d = differences(s, Some(&a), Some(&b));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("val_loss 0.25 -> 0.25000000000000006"),
            "{d:?}"
        );
        assert_eq!(
            differences((Status::Ok, Status::Diverged), Some(&a), Some(&a)),
            vec!["status ok -> diverged".to_string()]
        );
    }

    #[test]
    fn a_learning_curve_is_compared_point_by_point_without_its_seconds() {
        let point = |val_loss: f64, train_seconds: f64| nas_core::EpochScore {
            val_acc: 0.5,
            val_loss,
            train_seconds,
        };
        let mut a = metrics(0.25);
        a.curve = vec![point(0.5, 1.0), point(0.25, 2.0)];
        let mut b = a.clone();
        b.curve[0].train_seconds = 7.0;
        let s = (Status::Ok, Status::Ok);
        assert!(differences(s, Some(&a), Some(&b)).is_empty());
        b.curve[1].val_loss = 0.3;
        assert_eq!(
            differences(s, Some(&a), Some(&b)),
            vec!["curve[2].val_loss 0.25 -> 0.3".to_string()]
        );
        b.curve.pop();
        assert_eq!(
            differences(s, Some(&a), Some(&b)),
            vec!["curve of 2 epochs -> 1".to_string()]
        );
    }
}
