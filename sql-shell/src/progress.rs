//! The progress line of a long statement: rows and bytes scanned so far, and the elapsed time.
//!
//! Drawn on standard error, and only when that is a terminal, so nothing reaches a pipe or a
//! log. The counts come from the running plan's metrics, which DataFusion updates as batches
//! flow: the leaves (scans, `generate_series`, ...) report what they have read.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::physical_plan::ExecutionPlan;

/// Statements quicker than this draw nothing, so short results never flicker.
const DELAY: Duration = Duration::from_millis(500);

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub struct Progress {
    enabled: bool,
    start: Instant,
    drawn: bool,
    frame: usize,
}

impl Progress {
    pub fn new(enabled: bool, start: Instant) -> Self {
        Progress {
            enabled,
            start,
            drawn: false,
            frame: 0,
        }
    }

    /// Redraws the line (after the first moment).
    pub fn draw(&mut self, plan: Option<&Arc<dyn ExecutionPlan>>) {
        let elapsed = self.start.elapsed();
        if !self.enabled || elapsed < DELAY {
            return;
        }
        let mut line = format!("{} ", SPINNER[self.frame % SPINNER.len()]);
        self.frame += 1;
        if let Some(plan) = plan {
            let (rows, bytes) = scanned(plan);
            line.push_str(&format!("{} rows", thousands(rows)));
            if bytes > 0 {
                line.push_str(&format!(", {}", human_bytes(bytes)));
            }
            line.push_str(" scanned, ");
        }
        line.push_str(&format!("{:.1} s  (Ctrl-C cancels)", elapsed.as_secs_f64()));
        let mut err = std::io::stderr().lock();
        // A failed write to the terminal only loses a progress line.
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line, so results start on a clean line.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

/// Rows and bytes read by the leaves of `plan` so far.
fn scanned(plan: &Arc<dyn ExecutionPlan>) -> (usize, usize) {
    let children = plan.children();
    if children.is_empty() {
        return plan.metrics().map_or((0, 0), |metrics| {
            let rows = metrics.output_rows().unwrap_or(0);
            let bytes = metrics
                .sum_by_name("bytes_scanned")
                .map_or(0, |v| v.as_usize());
            (rows, bytes)
        });
    }
    children.into_iter().fold((0, 0), |(rows, bytes), child| {
        let (r, b) = scanned(child);
        (rows + r, bytes + b)
    })
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: usize) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
