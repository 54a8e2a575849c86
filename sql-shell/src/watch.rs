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
