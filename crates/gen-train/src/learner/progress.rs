//! Keras-style progress: a live bar on a terminal, plain lines elsewhere.
//!
//! `157/157 ━━━━━━━━━━━━━━━━━━━━ 12s 75ms/step - accuracy: 0.8123 - loss: 0.4012`
//!
//! Without a terminal (a log, a pipe), an epoch prints its end line and, when it runs long, a
//! line every [`PLAIN_INTERVAL`] on the way, so that a log never stays silent for minutes.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Without a terminal, the longest an epoch stays silent before it prints a progress line.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(20);

/// How much the trainer prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Nothing.
    Silent,
    /// A bar on a terminal, one line per epoch otherwise (default).
    #[default]
    Normal,
}

/// Formats metrics as Keras does: ` - name: value` with `%.4f`, sorted by name.
pub fn format_metrics(metrics: &BTreeMap<String, f64>) -> String {
    metrics
        .iter()
        .map(|(k, v)| format!(" - {k}: {v:.4}"))
        .collect()
}

/// The progress display of one epoch.
pub struct EpochProgress {
    bar: Option<ProgressBar>,
    start: Instant,
    total: u64,
    /// Batches done before this process started the epoch (a resumed run).
    done: u64,
    steps: u64,
    verbosity: Verbosity,
    /// When the latest plain (no terminal) line was printed.
    last_line: Instant,
}

impl EpochProgress {
    /// Starts epoch `epoch` (1-based) of `epochs`, with `total` batches of which `done` are done.
    pub fn start(epoch: usize, epochs: usize, total: u64, done: u64, verbosity: Verbosity) -> Self {
        let tty = std::io::stderr().is_terminal();
        if verbosity != Verbosity::Silent {
            eprintln!("Epoch {epoch}/{epochs}");
        }
        let bar = (tty && verbosity != Verbosity::Silent).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{pos}/{len} {bar:20} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("━━─");
            bar.set_style(style);
            bar.set_position(done);
            bar
        });
        EpochProgress {
            bar,
            start: Instant::now(),
            total,
            done,
            steps: 0,
            verbosity,
            last_line: Instant::now(),
        }
    }

    fn ms_per_step(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0 / self.steps.max(1) as f64
    }

    /// Records one finished step with the running metrics.
    pub fn step(&mut self, metrics: &BTreeMap<String, f64>) {
        self.steps += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "{:.0}ms/step{}",
                self.ms_per_step(),
                format_metrics(metrics)
            ));
        } else if self.verbosity != Verbosity::Silent && self.last_line.elapsed() >= PLAIN_INTERVAL
        {
            eprintln!("{}", self.plain_line(metrics));
            self.last_line = Instant::now();
        }
    }

    /// `DONE/TOTAL ELAPSEDs MSms/step - metric: value ...`: the plain progress and end line.
    fn plain_line(&self, metrics: &BTreeMap<String, f64>) -> String {
        format!(
            "{}/{} {}s {:.0}ms/step{}",
            self.done + self.steps,
            self.total,
            self.start.elapsed().as_secs(),
            self.ms_per_step(),
            format_metrics(metrics)
        )
    }

    /// Ends the epoch with its final metrics (validation included).
    pub fn finish(self, metrics: &BTreeMap<String, f64>) {
        match (&self.bar, self.verbosity) {
            (_, Verbosity::Silent) => {}
            (Some(bar), _) => bar.finish_with_message(format!(
                "{}s {:.0}ms/step{}",
                self.start.elapsed().as_secs(),
                self.ms_per_step(),
                format_metrics(metrics)
            )),
            (None, _) => eprintln!("{}", self.plain_line(metrics)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_counts_steps_after_those_done_before_a_resume() {
        let mut p = EpochProgress::start(1, 2, 125, 10, Verbosity::Normal);
        let metrics = BTreeMap::from([("loss".to_string(), 1.0), ("acc".to_string(), 0.5)]);
        for _ in 0..40 {
            p.step(&metrics);
        }
        let line = p.plain_line(&metrics);
        assert!(line.starts_with("50/125 0s "), "{line}");
        assert!(
            line.ends_with("ms/step - acc: 0.5000 - loss: 1.0000"),
            "{line}"
        );
    }
}
