//! [`ExternalEvaluator`]: an evaluator that is another process.

use std::sync::Mutex;

use serde_json::Value;

use nas_core::{EvalError, EvalRequest, Evaluation, Evaluator, Metrics, SearchSpace, Status};

use crate::process::{Launch, Process, kind};
use crate::protocol::{EvalBudget, MetricsInfo, Reply, Request, Role, SpaceInfo};

/// An evaluator implemented by external processes speaking the protocol: one process per
/// worker at a time (a pool), each sent `hello` and `init` once, then one `evaluate` per
/// trial.
///
/// A process that crashes, times out or writes a malformed line makes that trial `failed`
/// (with the reason, naming the process and the line); the process is stopped and the next
/// trial starts a new one. Metrics are checked where they enter: accuracies in [0, 1],
/// losses, epochs and seconds finite and non-negative; a result that breaks this fails the
/// trial. Parameters and MACs that the process leaves out are nas's analytic counts.
#[derive(Debug)]
pub struct ExternalEvaluator {
    launch: Launch,
    space: SearchSpace,
    params: Value,
    classes: u32,
    idle: Mutex<Vec<Process>>,
}

impl ExternalEvaluator {
    /// An evaluator that starts processes as `launch` says, for `space` and `classes`,
    /// passing `params` at `init`. No process starts until the first evaluation.
    pub fn new(launch: Launch, space: SearchSpace, params: Value, classes: u32) -> Self {
        ExternalEvaluator {
            launch,
            space,
            params,
            classes,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn start(&self) -> Result<Process, EvalError> {
        let mut p = Process::start(&self.launch, Role::Evaluator)?;
        p.send(&Request::Init {
            space: SpaceInfo::of(&self.space),
            params: self.params.clone(),
            seed: None,
            budget: None,
            run: None,
            classes: Some(self.classes),
        })?;
        match p.receive()? {
            (Reply::Ok {}, _) => Ok(p),
            (Reply::Error { message }, line) => Err(p
                .fault(format!("refused `init`: {message}"), Some(line))
                .into()),
            (other, line) => Err(p
                .fault(
                    format!("answered `init` with `{}` instead of `ok`", kind(&other)),
                    Some(line),
                )
                .into()),
        }
    }

    fn run(&self, p: &mut Process, request: &EvalRequest<'_>) -> Result<Evaluation, Failure> {
        p.send(&Request::Evaluate {
            arch: request.arch.to_string(),
            genes: self.space.encode(request.arch).unwrap_or_default(),
            budget: EvalBudget {
                epochs: request.epochs(),
                train_subset: request.budget.train_subset,
            },
            seed: request.seed,
            test: request.test,
        })
        .map_err(|e| Failure::from(e.to_string()))?;
        let (reply, line) = p.receive().map_err(|e| Failure::from(e.to_string()))?;
        // A reply in the protocol that cannot be used: the process stays.
        let refused = |reason: String| Failure {
            reason,
            reusable: true,
        };
        match reply {
            Reply::Result {
                status,
                reason,
                metrics,
            } => {
                let status = match status.as_str() {
                    "ok" => Status::Ok,
                    "diverged" => Status::Diverged,
                    other => {
                        return Err(refused(
                            p.fault(
                                format!("result status `{other}` (allowed: ok, diverged; report a failure with an `error` message)"),
                                Some(line),
                            )
                            .to_string(),
                        ));
                    }
                };
                let metrics = self
                    .metrics(request, status, metrics)
                    .map_err(|what| refused(p.fault(what, Some(line.clone())).to_string()))?;
                Ok(Evaluation {
                    status,
                    reason,
                    metrics,
                })
            }
            Reply::Error { message } => Err(refused(
                p.fault(format!("could not evaluate it: {message}"), Some(line))
                    .to_string(),
            )),
            other => Err(Failure::from(
                p.fault(
                    format!(
                        "answered `evaluate` with `{}` instead of `result`",
                        kind(&other)
                    ),
                    Some(line),
                )
                .to_string(),
            )),
        }
    }

    /// Checks and completes what a process measured.
    fn metrics(
        &self,
        request: &EvalRequest<'_>,
        status: Status,
        m: MetricsInfo,
    ) -> Result<Metrics, String> {
        for (name, v, accuracy) in [
            ("val_acc", m.val_acc, true),
            ("test_acc", m.test_acc, true),
            ("val_loss", m.val_loss, false),
            ("test_loss", m.test_loss, false),
            ("epochs", m.epochs, false),
            ("train_seconds", m.train_seconds, false),
        ] {
            if let Some(v) = v
                && (!v.is_finite() || v < 0.0 || (accuracy && v > 1.0))
            {
                let allowed = if accuracy {
                    "a fraction in [0, 1]"
                } else {
                    "a finite number >= 0"
                };
                return Err(format!("metric `{name}` = {v} (allowed: {allowed})"));
            }
        }
        if status == Status::Ok && m.val_acc.is_none() {
            return Err("an `ok` result without `val_acc` (the fitness)".into());
        }
        if request.test && status == Status::Ok && m.test_acc.is_none() {
            return Err("a test request answered without `test_acc`".into());
        }
        let cost = self
            .space
            .cost(request.arch, self.classes)
            .unwrap_or_default();
        Ok(Metrics {
            val_acc: m.val_acc,
            val_loss: m.val_loss,
            test_acc: m.test_acc.filter(|_| request.test),
            test_loss: m.test_loss.filter(|_| request.test),
            params: m.params.unwrap_or(cost.params),
            macs: m.macs.unwrap_or(cost.macs),
            epochs: m.epochs.unwrap_or(f64::from(request.epochs())),
            train_seconds: m.train_seconds.unwrap_or(0.0),
            curve: Vec::new(),
        })
    }
}

/// Why a trial failed, and whether its process may take the next one.
struct Failure {
    reason: String,
    reusable: bool,
}

impl From<String> for Failure {
    /// A fault of the process: it is not reused.
    fn from(reason: String) -> Self {
        Failure {
            reason,
            reusable: false,
        }
    }
}

impl Evaluator for ExternalEvaluator {
    fn evaluate(&self, request: &EvalRequest<'_>) -> Result<Evaluation, EvalError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut process = match idle {
            Some(p) => p,
            None => self.start()?,
        };
        let outcome = self.run(&mut process, request);
        // A process that answered in the protocol (a result or an `error`) is kept; one
        // that crashed, timed out or wrote something else is dropped (stopped), and the
        // next trial starts a new one.
        if outcome.as_ref().map_or_else(|f| f.reusable, |_| true) {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(process);
        }
        outcome.map_err(|f| f.reason.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::tests::python;
    use nas_core::Budget;
    use nas_core::testutil::{toy_cell_optimum, toy_cell_space};

    /// Answers each `evaluate` by the first word of the architecture's first op:
    /// `nor_conv_3x3` ok (train_seconds = its pid, to tell processes apart), `skip` an
    /// accuracy of 1.5, `avg_pool` an `error`, `none` a crash; `nor_conv_1x1` ok without
    /// `test_acc`.
    const SCRIPT: &str = r#"import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    t = m["type"]
    if t == "hello": r = {"type": "hello", "protocol": 1}
    elif t == "init": r = {"type": "ok"}
    elif t == "close": break
    else:
        op = m["arch"].split("|")[1].split("~")[0]
        if op == "none": sys.exit(5)
        if op == "avg_pool_3x3": r = {"type": "error", "message": "no GPU today"}
        elif op == "skip_connect": r = {"type": "result", "status": "ok", "metrics": {"val_acc": 1.5}}
        else:
            metrics = {"val_acc": 0.75, "train_seconds": os.getpid()}
            if m["test"] and op == "nor_conv_3x3": metrics["test_acc"] = 0.7
            r = {"type": "result", "status": "ok", "metrics": metrics}
    print(json.dumps(r), flush=True)
"#;

    fn cell(first_op: &str) -> nas_core::Architecture {
        let text = toy_cell_optimum().to_string();
        text.replacen("nor_conv_3x3", first_op, 1).parse().unwrap()
    }

    #[test]
    fn results_are_checked_and_a_process_is_reused_unless_it_failed() {
        let tmp = tempfile::tempdir().unwrap();
        let space = toy_cell_space();
        let evaluator = ExternalEvaluator::new(
            python(tmp.path(), SCRIPT, 30.0),
            space,
            serde_json::json!({}),
            10,
        );
        let budget = Budget::default();
        let eval = |op: &str, test: bool| {
            let arch = cell(op);
            evaluator.evaluate(&EvalRequest {
                arch: &arch,
                budget: &budget,
                seed: 1,
                test,
                fidelity: None,
            })
        };
        let first = eval("nor_conv_3x3", true).unwrap();
        let m = &first.metrics;
        assert_eq!((m.val_acc, m.test_acc), (Some(0.75), Some(0.7)));
        let cost = toy_cell_space().cost(&cell("nor_conv_3x3"), 10).unwrap();
        assert_eq!(
            (m.params, m.macs),
            (cost.params, cost.macs),
            "nas's counts fill in"
        );
        assert_eq!(m.epochs, 1.0, "the budget's epochs fill in");
        let pid = m.train_seconds;

        let e = eval("skip_connect", false).unwrap_err().to_string();
        assert!(
            e.contains("metric `val_acc` = 1.5 (allowed: a fraction in [0, 1])"),
            "{e}"
        );
        let e = eval("avg_pool_3x3", false).unwrap_err().to_string();
        assert!(e.contains("could not evaluate it: no GPU today"), "{e}");
        let e = eval("nor_conv_1x1", true).unwrap_err().to_string();
        assert!(e.contains("without `test_acc`"), "{e}");
        let again = eval("nor_conv_3x3", false).unwrap();
        assert_eq!(
            again.metrics.train_seconds, pid,
            "answers in the protocol keep it"
        );
        assert_eq!(again.metrics.test_acc, None);

        let e = eval("none", false).unwrap_err().to_string();
        assert!(e.contains("exited before answering"), "{e}");
        let after = eval("nor_conv_3x3", false).unwrap();
        assert_ne!(
            after.metrics.train_seconds, pid,
            "a crash starts a new process"
        );
    }
}
