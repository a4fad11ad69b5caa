//! [`ExternalStrategy`]: a strategy that is another process.

use serde_json::Value;

use nas_core::{Architecture, Error, History, Pending, Result, SearchSpace, Strategy, Trial};

use crate::process::{Launch, Process, ProcessError, kind};
use crate::protocol::{BudgetInfo, Reply, Request, Role, SpaceInfo, TrialInfo};

/// What a run tells its external strategy at `init`.
#[derive(Debug, Clone)]
pub struct StrategyInit {
    /// The strategy's seed (derived from the run's seed by the runner).
    pub seed: u64,
    /// The `params` of its `[[strategy]]`.
    pub params: Value,
    /// The run's budget.
    pub budget: BudgetInfo,
    /// The run, `name/repetition`.
    pub run: String,
}

/// A strategy implemented by an external process speaking the protocol (see the crate
/// docs): `ask` and `tell` are forwarded as messages; while answering `ask` the process
/// may `query` whether a text or genome is an architecture of the space.
///
/// A proposal outside the space, a malformed line, a crash or a timeout is an error that
/// stops the run, naming the process, the message and its line. The process is started by
/// [`ExternalStrategy::start`] and sent `close` when the strategy is dropped. It is not
/// serialized: a resumed run starts a new process and replays the asks and tells of the
/// journal (which checks that the process is deterministic in its seed).
#[derive(Debug)]
pub struct ExternalStrategy {
    process: Process,
    space: SearchSpace,
    pending: Pending,
}

fn to_error(e: ProcessError) -> Error {
    Error::Strategy(e.to_string())
}

impl ExternalStrategy {
    /// Starts the process and sends `hello` and `init`.
    ///
    /// # Errors
    /// [`Error::Strategy`] naming the process when it cannot start or refuses `init`.
    pub fn start(launch: &Launch, space: SearchSpace, init: StrategyInit) -> Result<Self> {
        let mut process = Process::start(launch, Role::Strategy).map_err(to_error)?;
        process
            .send(&Request::Init {
                space: SpaceInfo::of(&space),
                params: init.params,
                seed: Some(init.seed),
                budget: Some(init.budget),
                run: Some(init.run),
                classes: None,
            })
            .map_err(to_error)?;
        expect_ok(&mut process, "init")?;
        Ok(ExternalStrategy {
            process,
            space,
            pending: Pending::default(),
        })
    }

    /// Answers a query: the canonical text and genome, or why it is not in the space.
    fn answer(&self, arch: Option<String>, genes: Option<Vec<usize>>) -> Request {
        match self.resolve(arch, genes) {
            Ok(a) => Request::QueryResult {
                genes: self.space.encode(&a).ok(),
                arch: Some(a.to_string()),
                reason: None,
            },
            Err(reason) => Request::QueryResult {
                arch: None,
                genes: None,
                reason: Some(reason),
            },
        }
    }

    /// The architecture of the space a text or genome names.
    fn resolve(
        &self,
        arch: Option<String>,
        genes: Option<Vec<usize>>,
    ) -> std::result::Result<Architecture, String> {
        match (arch, genes) {
            (Some(text), None) => self.space.parse(&text).map_err(|e| e.to_string()),
            (None, Some(genes)) => {
                let a = self.space.decode(&genes).map_err(|e| e.to_string())?;
                self.space.contains(&a).map_err(|e| e.to_string())?;
                Ok(a)
            }
            _ => {
                Err("give either `arch` (a text) or `genes` (a genome), not both or neither".into())
            }
        }
    }
}

/// Waits for `ok` (an `error` is an error naming the message).
fn expect_ok(process: &mut Process, what: &str) -> Result<()> {
    match process.receive().map_err(to_error)? {
        (Reply::Ok {}, _) => Ok(()),
        (Reply::Error { message }, line) => Err(to_error(
            process.fault(format!("refused `{what}`: {message}"), Some(line)),
        )),
        (other, line) => Err(to_error(process.fault(
            format!("answered `{what}` with `{}` instead of `ok`", kind(&other)),
            Some(line),
        ))),
    }
}

impl Strategy for ExternalStrategy {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        self.process.send(&Request::Ask).map_err(to_error)?;
        loop {
            match self.process.receive().map_err(to_error)? {
                (Reply::Query { arch, genes }, _) => {
                    let answer = self.answer(arch, genes);
                    self.process.send(&answer).map_err(to_error)?;
                }
                (Reply::Proposal { arch, genes }, line) => {
                    let a = self.resolve(arch, genes).map_err(|reason| {
                        to_error(self.process.fault(
                            format!("proposed something that is not an architecture of the space: {reason}"),
                            Some(line),
                        ))
                    })?;
                    self.pending.push(a.id());
                    return Ok(a);
                }
                (Reply::Error { message }, line) => {
                    return Err(to_error(
                        self.process
                            .fault(format!("could not propose: {message}"), Some(line)),
                    ));
                }
                (other, line) => {
                    return Err(to_error(self.process.fault(
                        format!(
                            "answered `ask` with `{}` instead of `proposal`",
                            kind(&other)
                        ),
                        Some(line),
                    )));
                }
            }
        }
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.pending.take(trial, "the external strategy")?;
        self.process
            .send(&Request::Tell {
                trial: TrialInfo::of(trial, &self.space),
            })
            .map_err(to_error)?;
        expect_ok(&mut self.process, "tell")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::tests::python;
    use nas_core::testutil::toy_space;
    use nas_core::{Metrics, Status};

    /// Queries an invalid genome, a valid text and then proposes what `PROPOSE` says;
    /// writes the query answers and told trials to stderr (its log).
    const SCRIPT: &str = r#"import json, sys
def send(r): print(json.dumps(r), flush=True)
for line in sys.stdin:
    m = json.loads(line)
    t = m["type"]
    if t == "hello": send({"type": "hello", "protocol": 1})
    elif t == "init":
        print("genes", len(m["space"]["genes"]), "seed", m["seed"], "run", m["run"], file=sys.stderr)
        send({"type": "ok"})
    elif t == "ask":
        send({"type": "query", "genes": [9] * len(m.get("x", [0]))})
        print("q1", sys.stdin.readline().strip(), file=sys.stderr, flush=True)
        send({"type": "query", "arch": "conv3x3-8-relu"})
        answer = json.loads(sys.stdin.readline())
        print("q2", json.dumps(answer), file=sys.stderr, flush=True)
        send(PROPOSE or {"type": "proposal", "arch": answer["arch"]})
    elif t == "tell":
        print("told", json.dumps(m["trial"]), file=sys.stderr, flush=True)
        send({"type": "ok"})
    else: break
"#;

    fn start(dir: &std::path::Path, propose: &str) -> Result<ExternalStrategy> {
        let script = format!("PROPOSE = {propose}\n{SCRIPT}");
        ExternalStrategy::start(
            &python(dir, &script, 30.0),
            toy_space(),
            StrategyInit {
                seed: 77,
                params: serde_json::json!({}),
                budget: BudgetInfo {
                    evaluations: 5,
                    max_train_epochs: None,
                    max_train_seconds: None,
                },
                run: "ext/3".into(),
            },
        )
    }

    #[test]
    fn queries_are_answered_proposals_checked_and_trials_told() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = start(tmp.path(), "None").unwrap();
        let arch = s.ask(&History::default()).unwrap();
        assert_eq!(arch.to_string(), "conv3x3-8-relu");
        let trial = Trial {
            strategy: "ext".into(),
            repetition: 3,
            index: 0,
            seed: 5,
            arch,
            status: Status::Ok,
            reason: None,
            metrics: Some(Metrics {
                val_acc: Some(0.5),
                ..Metrics::default()
            }),
            cached: false,
            fidelity: None,
            schedule: None,
        };
        s.tell(&trial).unwrap();
        assert!(
            s.tell(&trial).is_err(),
            "a trial it did not propose (twice)"
        );
        drop(s);
        let log = std::fs::read_to_string(tmp.path().join("logs/p.log")).unwrap();
        let genes = toy_space().encoding().genes().len();
        assert!(
            log.contains(&format!("genes {genes} seed 77 run ext/3")),
            "{log}"
        );
        assert!(
            log.contains(
                r#"q1 {"type":"query_result","arch":null,"genes":null,"reason":"invalid genome"#
            ),
            "{log}"
        );
        assert!(
            log.contains(r#"q2 {"type": "query_result", "arch": "conv3x3-8-relu", "genes": ["#),
            "{log}"
        );
        assert!(
            log.contains(r#""index": 0, "arch": "conv3x3-8-relu""#),
            "{log}"
        );
        assert!(log.contains(r#""fitness": 0.5"#), "{log}");
    }

    #[test]
    fn a_proposal_outside_the_space_or_an_error_stops_with_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        for (propose, expected) in [
            (
                r#"{"type": "proposal", "arch": "conv9x9-8-relu"}"#,
                "proposed something that is not an architecture of the space",
            ),
            (
                r#"{"type": "proposal", "arch": "x", "genes": [1]}"#,
                "give either `arch` (a text) or `genes` (a genome)",
            ),
            (
                r#"{"type": "error", "message": "no idea"}"#,
                "could not propose: no idea",
            ),
            (
                r#"{"type": "ok"}"#,
                "answered `ask` with `ok` instead of `proposal`",
            ),
        ] {
            let mut s = start(tmp.path(), propose).unwrap();
            let e = s.ask(&History::default()).unwrap_err().to_string();
            assert!(e.contains(expected), "`{expected}` not in: {e}");
            assert!(e.contains("its line: `{\"type\": "), "{e}");
        }
    }
}
