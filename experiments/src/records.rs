//! The runs of an experiment as read back from its journal, in canonical order.

use std::collections::BTreeMap;

use nas_core::{History, Status, Trial};

use crate::journal::{Event, FinalEval};
use crate::runner::{Recorded, Unit};

/// One run's record.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run.
    pub unit: Unit,
    /// Its trials in order (killed trials that were re-run are superseded).
    pub trials: Vec<Trial>,
    /// The final test evaluation of its best architecture.
    pub final_eval: Option<FinalEval>,
    /// True when the run reached its end.
    pub ended: bool,
}

impl RunRecord {
    /// The run's history.
    pub fn history(&self) -> History {
        let mut h = History::new();
        for t in &self.trials {
            h.push(t.clone());
        }
        h
    }

    /// Test accuracy of the final evaluation, when it succeeded.
    pub fn test_acc(&self) -> Option<f64> {
        self.final_eval
            .as_ref()
            .filter(|f| f.status == Status::Ok)
            .and_then(|f| f.metrics.as_ref())
            .and_then(|m| m.test_acc)
    }
}

/// The run an event belongs to: (strategy, repetition).
pub fn event_run(event: &Event) -> (String, u32) {
    match event {
        Event::Trial(t) => (t.strategy.clone(), t.repetition),
        Event::Final(f) => (f.strategy.clone(), f.repetition),
        Event::RunEnd(e) => (e.strategy.clone(), e.repetition),
    }
}

/// Groups journal events by run. Events of runs that are not in the config are ignored
/// by the caller's check (see [`foreign_runs`]).
pub fn recorded_by_unit(units: &[Unit], events: &[Event]) -> Vec<Recorded> {
    let index: BTreeMap<(String, u32), usize> = units
        .iter()
        .map(|u| ((u.strategy.clone(), u.repetition), u.index))
        .collect();
    let mut out = vec![Recorded::default(); units.len()];
    for event in events {
        let Some(&i) = index.get(&event_run(event)) else {
            continue;
        };
        match event {
            Event::Trial(t) if t.status == Status::Killed => {}
            Event::Trial(t) => {
                out[i].trials.insert(t.index, t.clone());
            }
            Event::Final(f) => out[i].final_eval = Some(f.clone()),
            Event::RunEnd(_) => out[i].ended = true,
        }
    }
    out
}

/// Runs named in the journal that the config does not have (`strategy/repetition`).
pub fn foreign_runs(units: &[Unit], events: &[Event]) -> Vec<String> {
    let known: std::collections::BTreeSet<(String, u32)> = units
        .iter()
        .map(|u| (u.strategy.clone(), u.repetition))
        .collect();
    let mut foreign: Vec<String> = events
        .iter()
        .map(event_run)
        .filter(|k| !known.contains(k))
        .map(|(s, r)| format!("{s}/{r}"))
        .collect();
    foreign.sort();
    foreign.dedup();
    foreign
}

/// Every run with what the journal holds for it, in canonical order.
pub fn collect(units: &[Unit], events: &[Event]) -> Vec<RunRecord> {
    units
        .iter()
        .cloned()
        .zip(recorded_by_unit(units, events))
        .map(|(unit, rec)| RunRecord {
            unit,
            trials: rec.trials.into_values().collect(),
            final_eval: rec.final_eval,
            ended: rec.ended,
        })
        .collect()
}
