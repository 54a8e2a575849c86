//! `rollout watch`: the controller ([`datafusion_rollout::Controller`]) every interval, printing
//! what each round decided for each self-running (`AUTO`) rollout, until Ctrl-C. A round that
//! fails (the store unreachable for a moment) is reported and the next one runs: the watch only
//! ends on Ctrl-C or after `--rounds`.

use std::time::Duration;

use datafusion_rollout::{Controller, RolloutContext, Round};

use crate::outcome::Failure;

/// Runs rounds until Ctrl-C, or `rounds` of them.
pub async fn run(
    ctx: RolloutContext,
    interval: Duration,
    rounds: Option<usize>,
) -> Result<(), Failure> {
    let id = format!(
        "watch@{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
        std::process::id()
    );
    let controller = Controller::new(ctx.clone(), id);
    let mut done = 0;
    loop {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f UTC");
        match controller.round().await {
            Ok(round) => print_round(&now.to_string(), &round),
            Err(e) => eprintln!("-- {now}: the round failed: {e}"),
        }
        done += 1;
        if rounds.is_some_and(|n| done >= n) {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let _ = ctx.close().await;
    Ok(())
}

fn print_round(now: &str, round: &Round) {
    if round.decisions.is_empty() {
        println!("-- {now}: no AUTO rollout is live");
    }
    for d in &round.decisions {
        let commit = d.sequence.map(|s| format!(" (#{s})")).unwrap_or_default();
        println!(
            "-- {now}: {} '{}': {}{commit}: {}",
            d.dataset, d.version, d.decision, d.detail
        );
        for r in &d.report.results {
            let value = r.value.map(|v| format!(" = {v:.4}")).unwrap_or_default();
            println!(
                "     {} {}{value} ({}): {}",
                r.status, r.check, r.threshold, r.detail
            );
        }
    }
    for s in &round.skipped {
        eprintln!("-- {now}: {s}");
    }
}

/// The `--every` interval: the library's one interval grammar (`60s`, `5m`, `1 hour`, a number
/// of seconds), and more than nothing.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = datafusion_rollout::parse_interval(text)?;
    if interval.is_zero() {
        return Err(format!("the interval must be positive, not '{text}'"));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5 parsecs").is_err());
        assert_eq!(parse_interval("2 h"), Ok(Duration::from_secs(7200)));
    }
}
