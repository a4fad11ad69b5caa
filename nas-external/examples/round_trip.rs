//! The cost of the protocol: how long one `ask` and one `tell` take through an external
//! strategy process, on NAS-Bench-201's cell space (every genome is a cell, so a
//! proposal needs no query).
//!
//! ```text
//! cargo run --release -p nas-external --example round_trip -- [TRIALS] [COMMAND...]
//! ```
//!
//! TRIALS defaults to 2000; COMMAND to an inline Python strategy (standard library only)
//! that proposes uniform random genes, so the time is the protocol's (JSON both ways,
//! pipes, the process's message loop) rather than a strategy's. Give
//! `python3 examples/external/random_search.py` to time the shipped client (one `query`
//! per `ask`). Prints the mean microseconds per `ask` and per `tell`.

use std::time::{Duration, Instant};

use nas_core::testutil::toy_cell_space;
use nas_core::{Metrics, Status, Strategy, Trial};
use nas_external::protocol::BudgetInfo;
use nas_external::{ExternalStrategy, Launch, StrategyInit};

/// A protocol-1 strategy in a few lines of Python, without the shipped client.
const INLINE: &str = r#"
import json, random, sys
rng = random.Random(0)
cards = []
for line in sys.stdin:
    m = json.loads(line)
    t = m["type"]
    if t == "hello": r = {"type": "hello", "protocol": 1}
    elif t == "init":
        cards = [g["cardinality"] for g in m["space"]["genes"]]
        rng.seed(m["seed"]); r = {"type": "ok"}
    elif t == "ask": r = {"type": "proposal", "genes": [rng.randrange(c) for c in cards]}
    elif t == "tell": r = {"type": "ok"}
    else: break
    sys.stdout.write(json.dumps(r) + "\n"); sys.stdout.flush()
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let trials: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let mut command: Vec<String> = args.collect();
    if command.is_empty() {
        command = vec!["python3".into(), "-c".into(), INLINE.into()];
    }
    let log = std::env::temp_dir().join("nas-round-trip.log");
    let launch = Launch {
        command,
        workdir: std::env::current_dir()?,
        log: log.clone(),
        timeout: Duration::from_secs(60),
    };
    let space = toy_cell_space();
    let init = StrategyInit {
        seed: 1,
        params: serde_json::json!({}),
        budget: BudgetInfo {
            evaluations: trials,
            max_train_epochs: None,
            max_train_seconds: None,
        },
        run: "round-trip/0".into(),
    };
    let started = Instant::now();
    let mut strategy = ExternalStrategy::start(&launch, space, init)?;
    let startup = started.elapsed();
    let history = nas_core::History::default();
    let (mut asking, mut telling) = (Duration::ZERO, Duration::ZERO);
    for index in 0..trials {
        let t = Instant::now();
        let arch = strategy.ask(&history)?;
        asking += t.elapsed();
        let trial = Trial {
            strategy: "round-trip".into(),
            repetition: 0,
            index,
            seed: u64::from(index),
            arch,
            status: Status::Ok,
            reason: None,
            metrics: Some(Metrics {
                val_acc: Some(0.5),
                val_loss: Some(1.0),
                epochs: 1.0,
                ..Metrics::default()
            }),
            cached: false,
            fidelity: None,
            schedule: None,
        };
        let t = Instant::now();
        strategy.tell(&trial)?;
        telling += t.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(trials);
    println!(
        "{trials} trials: start (hello + init) {:.1} ms, ask {:.1} µs, tell {:.1} µs, round trip {:.1} µs",
        startup.as_secs_f64() * 1e3,
        per(asking),
        per(telling),
        per(asking + telling)
    );
    println!("(the process's stderr: {})", log.display());
    Ok(())
}
