//! Progress display: a bar on a terminal, plain lines otherwise. It is fed by the
//! runs' progress observers ([`crate::runner::Progress`]) from every worker thread.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::Progress;

/// Progress display: a bar on a terminal, plain lines otherwise.
pub struct Display {
    bar: Option<ProgressBar>,
    plain: bool,
    total: usize,
    done: AtomicUsize,
    best: Mutex<BTreeMap<String, f64>>,
}

impl Display {
    /// A display of `total` planned trials (`quiet`: nothing shown).
    pub fn new(total: usize, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal() && !quiet;
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} trials, ETA {eta}  {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Display {
            bar,
            plain: !terminal && !quiet,
            total,
            done: AtomicUsize::new(0),
            best: Mutex::new(BTreeMap::new()),
        }
    }

    /// Shows one event.
    pub fn on(&self, event: Progress) {
        let (trial, best, replayed) = match event {
            Progress::Trial {
                trial,
                best,
                replayed,
                ..
            } => (trial, best, replayed),
            Progress::RunDone { unreported, .. } => {
                let done = self.done.fetch_add(unreported, Ordering::SeqCst) + unreported;
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                }
                return;
            }
        };
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let message = {
            let mut bests = self.best.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(b) = best {
                let e = bests.entry(trial.strategy.clone()).or_insert(b);
                *e = e.max(b);
            }
            bests
                .iter()
                .map(|(s, b)| format!("{s} {b:.4}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("best: {message}"));
        } else if self.plain && !replayed {
            let score = trial
                .fitness()
                .map_or_else(|| trial.status.to_string(), |f| format!("val_acc {f:.4}"));
            // A closed stderr (`nas run ... 2>&1 | head`) must not stop the run: a
            // panicking `eprintln!` in a worker left the others waiting forever.
            let _ = writeln!(
                std::io::stderr().lock(),
                "[{done}/{}] {}/{} trial {}: {score}{} `{}`",
                self.total,
                trial.strategy,
                trial.repetition,
                trial.index,
                if trial.cached { " (cached)" } else { "" },
                trial.arch
            );
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::{Architecture, Status, Trial};

    fn trial(index: u32) -> Box<Trial> {
        Box::new(Trial {
            strategy: "random".into(),
            repetition: 0,
            index,
            seed: 1,
            arch: Architecture::new(Vec::new()),
            status: Status::Failed,
            reason: Some("test".into()),
            metrics: None,
            cached: false,
            fidelity: None,
            schedule: None,
        })
    }

    #[test]
    fn progress_counts_the_runs_that_ended_before_a_resume() {
        // Two runs of 5: the first ended before the resume (no trials reported), the
        // second replays 2 trials, evaluates 2, and its budget runs out one early.
        let display = Display::new(10, true);
        display.on(Progress::RunDone {
            unit: 0,
            unreported: 5,
        });
        for (index, replayed) in [(0, true), (1, true), (2, false), (3, false)] {
            display.on(Progress::Trial {
                unit: 1,
                trial: trial(index),
                best: None,
                replayed,
            });
        }
        assert_eq!(display.done.load(Ordering::SeqCst), 9);
        display.on(Progress::RunDone {
            unit: 1,
            unreported: 1,
        });
        assert_eq!(display.done.load(Ordering::SeqCst), 10);
    }
}
