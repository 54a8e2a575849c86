//! `rollout watch`: evaluates the guards of every live rollout (`CHECK ROLLOUTS`) every
//! interval, printing what each round found and did, until Ctrl-C.

use std::time::Duration;

use crate::outcome::Failure;
use crate::shell::Shell;

const STATEMENT: &str = "CHECK ROLLOUTS";

/// Runs rounds until Ctrl-C, or `rounds` of them. A round that fails is reported and the next
/// one runs; only a first round that cannot run at all (the statement is unknown, the store
/// unreadable) ends the watch with its error.
pub async fn run(
    shell: &mut Shell,
    interval: Duration,
    rounds: Option<usize>,
) -> Result<(), Failure> {
    // Ctrl-C ends a running round as well as the wait between rounds.
    shell.interactive = true;
    let mut done = 0;
    loop {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
        println!("-- {now}: {STATEMENT}");
        match shell.run_one(STATEMENT, 1).await {
            Ok(()) => {}
            Err(failure) if failure.to_string() == "cancelled" => return Ok(()),
            Err(failure) if done == 0 => return Err(failure),
            // A failed check was printed with its result; the watch goes on.
            Err(failure) => eprintln!("{}", failure.report()),
        }
        done += 1;
        if rounds.is_some_and(|n| done >= n) {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// `60s`, `5m`, `1h`, `500ms`, or a number of seconds.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not an interval like 30s, 5m or 1h"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" | "mins" => value * 60.0,
        "h" | "hour" | "hours" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}'; use ms, s, m or h"
            ));
        }
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("the interval must be positive, not '{text}'"));
    }
    Ok(Duration::from_secs_f64(seconds))
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
    }
}
