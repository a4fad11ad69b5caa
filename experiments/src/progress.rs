//! Progress display: a bar on a terminal, plain lines otherwise. It is fed by the
//! runs' progress observers ([`crate::runner::Progress`]) from every worker thread.
//!
//! Plain lines (stderr redirected to a log, a Slurm job) are rate-limited: a trial's
//! line is written when at least [`PLAIN_INTERVAL`] has passed since the last one (a
//! tabular comparison of tens of thousands of trials writes a few lines a second, not
//! one per trial), and one last line when the last run ends. Both the bar and the lines
//! count runs done beside trials: a run with a time budget ends below its evaluations cap.
//! The clock only paces this display; nothing a run decides or writes depends on it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::Progress;

/// Least time between two plain progress lines (the last line is always written).
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(1);

/// Progress display: a bar on a terminal, plain lines otherwise.
pub struct Display {
    bar: Option<ProgressBar>,
    plain: bool,
    total: usize,
    done: AtomicUsize,
    /// Runs planned, and runs ended: a run with a time budget ends before its
    /// evaluations cap, so its trials alone do not say how far an experiment is.
    runs: usize,
    runs_done: AtomicUsize,
    best: Mutex<BTreeMap<String, f64>>,
    pace: Pace,
}

/// When the next plain line is due.
struct Pace {
    interval: Duration,
    /// When the last line was written (None before the first).
    last: Mutex<Option<Instant>>,
}

impl Pace {
    /// Whether a trial's line is written at `now` (and if so, `now` becomes the last
    /// line's time): the first line, and any line at least `interval` after the last.
    fn due(&self, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| now.saturating_duration_since(t) >= self.interval);
        if due {
            *last = Some(now);
        }
        due
    }
}

impl Display {
    /// A display of `runs` runs of `total` planned trials in all (`quiet`: nothing
    /// shown).
    pub fn new(total: usize, runs: usize, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal() && !quiet;
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} trials, ETA {eta}  {prefix}  {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("0/{runs} runs"));
            bar
        });
        Display {
            bar,
            plain: !terminal && !quiet,
            total,
            done: AtomicUsize::new(0),
            runs,
            runs_done: AtomicUsize::new(0),
            best: Mutex::new(BTreeMap::new()),
            pace: Pace {
                interval: PLAIN_INTERVAL,
                last: Mutex::new(None),
            },
        }
    }

    /// Shows one event.
    pub fn on(&self, event: Progress) {
        if let Some(line) = self.line(event, Instant::now()) {
            // A closed stderr (`nas run ... 2>&1 | head`) must not stop the run: a
            // panicking `eprintln!` in a worker left the others waiting forever.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// Counts one event at `now`; the plain line to write for it, if one is due.
    fn line(&self, event: Progress, now: Instant) -> Option<String> {
        let (trial, best, replayed) = match event {
            Progress::Trial {
                trial,
                best,
                replayed,
                ..
            } => (trial, best, replayed),
            Progress::RunDone { unreported, .. } => {
                let done = self.done.fetch_add(unreported, Ordering::SeqCst) + unreported;
                let runs_done = self.runs_done.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_prefix(format!("{runs_done}/{} runs", self.runs));
                }
                // The last run to end writes the last line (runs that stop on their time
                // budget account for their unused evaluations here).
                return (self.plain && runs_done == self.runs).then(|| {
                    format!(
                        "[{done}/{}] every run done ({runs_done}/{} runs)  best: {}",
                        self.total,
                        self.runs,
                        self.bests()
                    )
                });
            }
        };
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(b) = best {
            let mut bests = self.best.lock().unwrap_or_else(|p| p.into_inner());
            let e = bests.entry(trial.strategy.clone()).or_insert(b);
            *e = e.max(b);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("best: {}", self.bests()));
            return None;
        }
        if !self.plain || replayed || !self.pace.due(now) {
            return None;
        }
        let score = trial
            .fitness()
            .map_or_else(|| trial.status.to_string(), |f| format!("val_acc {f:.4}"));
        Some(format!(
            "[{done}/{}, {}/{} runs done] {}/{} trial {}: {score}{} `{}`",
            self.total,
            self.runs_done.load(Ordering::SeqCst),
            self.runs,
            trial.strategy,
            trial.repetition,
            trial.index,
            if trial.cached { " (cached)" } else { "" },
            trial.arch
        ))
    }

    /// The best fitness so far of each strategy: `name value  name value ...`.
    fn bests(&self) -> String {
        let bests = self.best.lock().unwrap_or_else(|p| p.into_inner());
        bests
            .iter()
            .map(|(s, b)| format!("{s} {b:.4}"))
            .collect::<Vec<_>>()
            .join("  ")
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

    /// A plain display (as with stderr not a terminal) whose lines are `interval` apart.
    fn plain(total: usize, runs: usize, interval: Duration) -> Display {
        let mut display = Display::new(total, runs, true);
        display.plain = true;
        display.pace.interval = interval;
        display
    }

    fn event(index: u32, replayed: bool) -> Progress {
        Progress::Trial {
            unit: 0,
            trial: trial(index),
            best: None,
            replayed,
        }
    }

    fn run_done(unit: usize, unreported: usize) -> Progress {
        Progress::RunDone { unit, unreported }
    }

    #[test]
    fn plain_lines_are_paced_and_the_last_run_writes_the_last_line() {
        // One run of 5 trials (of 3 planned runs: a shard, say).
        let display = plain(5, 1, Duration::from_secs(3600));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let lines: Vec<Option<String>> = (0..5)
            .map(|i| display.line(event(i, false), at(u64::from(i))))
            .collect();
        let first = lines[0].as_deref().unwrap_or_default();
        assert!(
            first.starts_with("[1/5, 0/1 runs done] random/0 trial 0: failed"),
            "{first}"
        );
        assert!(lines[1..].iter().all(Option::is_none), "{lines:?}");
        let last = display.line(run_done(0, 0), at(5)).unwrap_or_default();
        assert!(
            last.starts_with("[5/5] every run done (1/1 runs)"),
            "{last}"
        );

        // An hour after a line the next one is due again.
        let display = plain(10, 2, Duration::from_secs(3600));
        assert!(display.line(event(0, false), t0).is_some());
        let before = t0 + Duration::from_secs(3599);
        assert!(display.line(event(1, false), before).is_none());
        let after = t0 + Duration::from_secs(3600);
        assert!(display.line(event(2, false), after).is_some());
    }

    #[test]
    fn without_pacing_every_new_trial_has_a_line_and_replays_none() {
        let display = plain(4, 1, Duration::ZERO);
        let t0 = Instant::now();
        let written: Vec<bool> = [(0, true), (1, false), (2, true), (3, false)]
            .into_iter()
            .map(|(i, replayed)| display.line(event(i, replayed), t0).is_some())
            .collect();
        assert_eq!(written, [false, true, false, true]);
    }

    #[test]
    fn runs_that_stop_early_end_with_a_line_at_the_total() {
        // Two runs of 5 evaluations; both stop after 3 trials (time budget used up).
        let display = plain(10, 2, Duration::from_secs(3600));
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for unit in 0..2 {
            for i in 0..3 {
                lines.extend(display.line(event(i, false), t0));
            }
            lines.extend(display.line(run_done(unit, 2), t0));
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("[1/10, 0/2 runs done] "), "{lines:?}");
        assert!(
            lines[1].starts_with("[10/10] every run done (2/2 runs)"),
            "{lines:?}"
        );
    }

    #[test]
    fn progress_counts_the_runs_that_ended_before_a_resume() {
        // Two runs of 5: the first ended before the resume (no trials reported), the
        // second replays 2 trials, evaluates 2, and its budget runs out one early.
        let display = Display::new(10, 2, true);
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
