//! Chart geometry for the pages: numbers for inline SVG that the templates draw (and escape).
//! Server-side SVG needs no script and no network, and the report file carries it as is.

use datafusion_rollout::contract::{Bins, ColumnHistogram};
use datafusion_rollout::store::EvaluationEvent;

/// Drawing area of a line chart (SVG user units; the SVG scales to its box).
const LINE_W: f64 = 640.0;
const LINE_H: f64 = 150.0;
/// Margins: left for the y labels, bottom for the x labels.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// One guard's values over the rounds of a rollout.
#[derive(Debug, Clone)]
pub struct GuardChart {
    /// The check (`read_error_rate()`, `latency_ratio()`, ...).
    pub title: String,
    /// Its threshold as written (`<= 0.01`).
    pub threshold_text: String,
    /// The polyline's points (`x,y x,y ...`).
    pub points: String,
    /// One dot per round with a value.
    pub dots: Vec<Dot>,
    /// The threshold's height, when it is a number inside the plotted range.
    pub threshold_y: Option<f64>,
    /// Labels: top and bottom of the y axis, first and last round's time.
    pub y_top: String,
    pub y_bottom: String,
    pub x_first: String,
    pub x_last: String,
    /// Rounds in which the check had no value (pending, error), as marks on the time axis.
    pub gaps: Vec<Dot>,
    /// How many.
    pub without_value: usize,
}

/// A point of a line chart.
#[derive(Debug, Clone)]
pub struct Dot {
    pub x: String,
    pub y: String,
    /// `pass`, `warn`, `fail`, `error`, `pending`.
    pub status: String,
    /// The tooltip.
    pub label: String,
}

/// The viewBox of line charts.
pub const LINE_VIEWBOX: &str = "0 0 640 150";
/// Where the plot starts and ends horizontally, and its bottom (for the axis lines).
pub const PLOT_LEFT: f64 = LEFT;
pub const PLOT_BOTTOM: f64 = LINE_H - BOTTOM;

fn fmt(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (0.001..100_000.0).contains(&a) {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3e}")
    }
}

/// The number in a threshold like `<= 0.01` or `BETWEEN 1 AND 5` (its first number).
fn threshold_value(text: &str) -> Option<f64> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .find_map(|w| {
            w.trim_start_matches(['<', '>', '=', '!'])
                .parse::<f64>()
                .ok()
        })
}

/// A chart per guard of the evaluations, in the order the guards first appear.
pub fn guard_charts(evaluations: &[EvaluationEvent]) -> Vec<GuardChart> {
    let mut names: Vec<(String, String)> = Vec::new();
    for e in evaluations {
        for c in &e.checks {
            let name = check_name(c);
            if !names.iter().any(|(n, _)| n == &name) {
                let threshold = c.get("threshold").and_then(|t| t.as_str()).unwrap_or("");
                names.push((name, threshold.to_string()));
            }
        }
    }
    let time = |e: &EvaluationEvent| e.time.format("%m-%d %H:%M:%S").to_string();
    names
        .into_iter()
        .map(|(name, threshold_text)| {
            let series: Vec<(usize, Option<f64>, String, &EvaluationEvent)> = evaluations
                .iter()
                .enumerate()
                .filter_map(|(i, e)| {
                    let c = e.checks.iter().find(|c| check_name(c) == name)?;
                    let value = c
                        .get("value")
                        .and_then(|v| v.as_f64())
                        .filter(|v| v.is_finite());
                    let status = c.get("status").and_then(|s| s.as_str()).unwrap_or("error");
                    Some((i, value, status.to_string(), e))
                })
                .collect();
            let threshold = threshold_value(&threshold_text);
            let values = series.iter().filter_map(|(_, v, _, _)| *v);
            let (mut lo, mut hi) = values
                .chain(threshold)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            if !lo.is_finite() {
                (lo, hi) = (0.0, 1.0);
            }
            if hi - lo < 1e-12 {
                let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
                (lo, hi) = (lo - pad, hi + pad);
            }
            let n = evaluations.len().max(2) - 1;
            let x = |i: usize| LEFT + (LINE_W - LEFT - 8.0) * i as f64 / n as f64;
            let y = |v: f64| TOP + (LINE_H - TOP - BOTTOM) * (1.0 - (v - lo) / (hi - lo));
            let dots: Vec<Dot> = series
                .iter()
                .filter_map(|(i, v, status, e)| {
                    let v = (*v)?;
                    Some(Dot {
                        x: format!("{:.1}", x(*i)),
                        y: format!("{:.1}", y(v)),
                        status: status.clone(),
                        label: format!("{}: {} ({status}, {})", time(e), fmt(v), e.decision),
                    })
                })
                .collect();
            let gaps: Vec<Dot> = series
                .iter()
                .filter(|(_, v, _, _)| v.is_none())
                .map(|(i, _, status, e)| Dot {
                    x: format!("{:.1}", x(*i)),
                    y: format!("{:.1}", LINE_H - BOTTOM),
                    status: status.clone(),
                    label: format!("{}: no value ({status}, {})", time(e), e.decision),
                })
                .collect();
            GuardChart {
                gaps,
                points: dots
                    .iter()
                    .map(|d| format!("{},{}", d.x, d.y))
                    .collect::<Vec<_>>()
                    .join(" "),
                without_value: series.iter().filter(|(_, v, _, _)| v.is_none()).count(),
                dots,
                threshold_y: threshold.map(y),
                y_top: fmt(hi),
                y_bottom: fmt(lo),
                x_first: evaluations.first().map(time).unwrap_or_default(),
                x_last: evaluations.last().map(time).unwrap_or_default(),
                title: name,
                threshold_text,
            }
        })
        .collect()
}

/// `check` or `check on column`.
pub fn check_name(c: &serde_json::Value) -> String {
    let check = c.get("check").and_then(|v| v.as_str()).unwrap_or("?");
    match c.get("column").and_then(|v| v.as_str()) {
        Some(col) => format!("{check} on {col}"),
        None => check.to_string(),
    }
}

/// A histogram of two versions side by side.
#[derive(Debug, Clone)]
pub struct HistogramChart {
    /// Bars, two per bin (baseline then candidate).
    pub bars: Vec<Bar>,
    /// Labels of the first and last bin.
    pub x_first: String,
    pub x_last: String,
    /// NULLs of each side, when there are any.
    pub nulls: Option<(u64, u64)>,
}

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    /// `baseline` or `candidate`.
    pub side: &'static str,
    /// The tooltip: the bin, the count and its share.
    pub label: String,
}

/// The viewBox of histograms.
pub const BAR_VIEWBOX: &str = "0 0 320 110";
const BAR_W: f64 = 320.0;
const BAR_H: f64 = 96.0;

/// Bars of `h`, each side as shares of its own rows (so versions of different sizes compare).
pub fn histogram_chart(h: &ColumnHistogram) -> HistogramChart {
    let bins = h.baseline.len().max(h.candidate.len());
    let label = |i: usize| match &h.bins {
        Bins::Numeric { edges } => match (edges.get(i), edges.get(i + 1)) {
            (Some(a), Some(b)) => format!(
                "[{}, {}{}",
                fmt(*a),
                fmt(*b),
                if i + 1 == bins { "]" } else { ")" }
            ),
            _ => String::new(),
        },
        Bins::Categorical { values, .. } => {
            values.get(i).cloned().unwrap_or_else(|| "(other)".into())
        }
    };
    let total = |v: &[u64]| v.iter().sum::<u64>().max(1) as f64;
    let (tb, tc) = (total(&h.baseline), total(&h.candidate));
    let share = |v: &[u64], i: usize, t: f64| v.get(i).copied().unwrap_or(0) as f64 / t;
    let top = (0..bins)
        .map(|i| share(&h.baseline, i, tb).max(share(&h.candidate, i, tc)))
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let slot = BAR_W / bins.max(1) as f64;
    let mut bars = Vec::with_capacity(bins * 2);
    for i in 0..bins {
        for (k, (side, values, t)) in [
            ("baseline", &h.baseline, tb),
            ("candidate", &h.candidate, tc),
        ]
        .into_iter()
        .enumerate()
        {
            let s = share(values, i, t);
            let height = BAR_H * s / top;
            bars.push(Bar {
                x: format!("{:.2}", slot * i as f64 + slot * (0.1 + 0.4 * k as f64)),
                y: format!("{:.2}", BAR_H - height),
                w: format!("{:.2}", slot * 0.4),
                h: format!("{height:.2}"),
                side,
                label: format!(
                    "{side} {}: {} rows ({:.1}%)",
                    label(i),
                    values.get(i).copied().unwrap_or(0),
                    s * 100.0
                ),
            });
        }
    }
    HistogramChart {
        bars,
        x_first: if bins > 0 { label(0) } else { String::new() },
        x_last: if bins > 1 {
            label(bins - 1)
        } else {
            String::new()
        },
        nulls: (h.baseline_nulls + h.candidate_nulls > 0)
            .then_some((h.baseline_nulls, h.candidate_nulls)),
    }
}

/// A stage bar: one segment per stage, the current one marked.
#[derive(Debug, Clone)]
pub struct StageSegment {
    pub x: String,
    pub w: String,
    /// `done`, `current` or `todo`.
    pub state: &'static str,
    pub label: String,
}

/// The viewBox of stage bars.
pub const STAGE_VIEWBOX: &str = "0 0 200 14";

/// Segments of a staged rollout (widths proportional to each stage's percentage step).
pub fn stage_segments(stages: &[f64], current: usize) -> Vec<StageSegment> {
    let mut out = Vec::new();
    let mut previous = 0.0;
    for (i, &p) in stages.iter().enumerate() {
        let step = (p - previous).max(0.0);
        out.push(StageSegment {
            x: format!("{:.2}", 2.0 * previous),
            w: format!("{:.2}", (2.0 * step - 1.0).max(1.0)),
            state: match (i + 1).cmp(&current) {
                std::cmp::Ordering::Less => "done",
                std::cmp::Ordering::Equal => "current",
                std::cmp::Ordering::Greater => "todo",
            },
            label: format!("stage {} of {}: {}%", i + 1, stages.len(), fmt(p)),
        });
        previous = p;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_numbers() {
        assert_eq!(threshold_value("<= 0.01"), Some(0.01));
        assert_eq!(threshold_value(">= -0.02"), Some(-0.02));
        assert_eq!(threshold_value("BETWEEN 1 AND 5"), Some(1.0));
        assert_eq!(threshold_value("BIGINT"), None);
        assert_eq!(fmt(0.0100), "0.01");
        assert_eq!(fmt(2.0), "2");
        assert_eq!(fmt(1e-7), "1.000e-7");
    }

    #[test]
    fn shares_compare_versions_of_different_sizes() {
        let h = ColumnHistogram {
            column: "x".into(),
            data_type: "Int64".into(),
            bins: Bins::Numeric {
                edges: vec![0.0, 1.0, 2.0],
            },
            baseline: vec![10, 10],
            candidate: vec![1, 1],
            baseline_nulls: 0,
            candidate_nulls: 0,
        };
        let c = histogram_chart(&h);
        assert_eq!(c.bars.len(), 4);
        // Same shares, same heights, although the candidate has a tenth of the rows.
        assert_eq!(c.bars[0].h, c.bars[1].h);
        assert_eq!(c.x_last, "[1, 2]");
        assert!(c.nulls.is_none());
    }

    #[test]
    fn stages_mark_the_current_one() {
        let s = stage_segments(&[5.0, 25.0, 100.0], 2);
        let states: Vec<&str> = s.iter().map(|s| s.state).collect();
        assert_eq!(states, ["done", "current", "todo"]);
    }
}
