//! Progress of the long stages (training steps, generated rows): a bar on a terminal, periodic
//! `info` lines otherwise (cron, Airflow and CI read logs, not bars).
//!
//! Guarantee: progress shows counts and seconds only, never a value from a row.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

static BARS: AtomicBool = AtomicBool::new(false);

/// Whether stages may draw bars; the binary enables them when stderr is a terminal and the log
/// format is text.
pub fn enable_bars(enabled: bool) {
    BARS.store(enabled, Ordering::Relaxed);
}

/// Progress of one stage of `total` units.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    next_line: u64,
    stage: &'static str,
    started: std::time::Instant,
}

impl Progress {
    /// Starts a stage; `unit` names what is counted ("steps", "rows").
    pub fn new(stage: &'static str, unit: &'static str, total: u64) -> Self {
        let bar = BARS.load(Ordering::Relaxed).then(|| {
            let bar = ProgressBar::new(total);
            let template = format!(
                "{stage:>10} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{elapsed}}, {{eta}} left)"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            total,
            done: 0,
            next_line: Self::step(total),
            stage,
            started: std::time::Instant::now(),
        }
    }

    fn step(total: u64) -> u64 {
        (total / 10).max(1)
    }

    /// Whether the stage is reported by lines (no bar): callers add their own fields to the
    /// periodic line, as training does with its losses.
    pub fn by_lines(&self) -> bool {
        self.bar.is_none()
    }

    /// Counts `units` more; returns true when a periodic line is due (every tenth of the total,
    /// and at the end), which this logs unless `quiet`.
    pub fn advance(&mut self, units: u64, quiet: bool) -> bool {
        self.done = (self.done + units).min(self.total);
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            return false;
        }
        if self.done < self.next_line && self.done < self.total {
            return false;
        }
        while self.next_line <= self.done {
            self.next_line += Self::step(self.total);
        }
        if !quiet {
            tracing::info!(
                done = self.done,
                of = self.total,
                seconds = self.started.elapsed().as_secs_f64(),
                "{} progress",
                self.stage
            );
        }
        true
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_every_tenth_and_at_the_end() {
        let mut progress = Progress::new("test", "rows", 95);
        assert!(progress.by_lines());
        let due: Vec<u64> = (1..=95).filter(|_| progress.advance(1, true)).collect();
        // every 9 rows (95 / 10), and the last
        assert_eq!(due, vec![9, 18, 27, 36, 45, 54, 63, 72, 81, 90, 95]);
        let mut big_steps = Progress::new("test", "rows", 100);
        assert!(big_steps.advance(35, true));
        assert!(!big_steps.advance(4, true));
        assert!(big_steps.advance(1, true));
    }
}
