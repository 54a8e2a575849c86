//! Concurrent refreshes of the log, shared: see [`RefreshGate`].

use std::sync::Arc;

use super::Store;
use crate::catalog::State;
use crate::error::Result;

/// One refresh of the log at a time per process, shared by the statements that wait for it.
///
/// A statement must see every commit acknowledged before it started, so it may use a refresh
/// that *began* after it arrived, not one already under way (that one may have read the log's
/// end before the commit). Refreshes are numbered as they begin. A statement notes how many
/// had begun when it arrived; while one runs it waits, and when one ends every waiter wakes
/// at once: those it serves (numbered after their arrival) are done, and one of the others
/// begins the next, which serves the rest. Under many concurrent statements this is one
/// request (and one fold of each new entry) for a whole queue instead of one each, and no
/// statement waits for more than the refresh under way and its own.
#[derive(Debug, Default)]
pub(super) struct RefreshGate {
    progress: std::sync::Mutex<Progress>,
    /// Told when a refresh ends, well or not.
    ended: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Progress {
    /// How many refreshes have begun (the last one's number).
    begun: u64,
    /// Whether one is running now.
    running: bool,
    /// The number of the last refresh that ended well, and of the last of those that
    /// probed for gaps.
    finished: u64,
    finished_probing: u64,
}

impl RefreshGate {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The refresh under way: ends it when dropped, also when its statement is cancelled, so that
/// the waiters never wait for a refresh nobody runs.
struct Running<'a> {
    gate: &'a RefreshGate,
    number: u64,
    probing: bool,
    succeeded: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut progress = self.gate.progress();
        progress.running = false;
        if self.succeeded {
            progress.finished = progress.finished.max(self.number);
            if self.probing {
                progress.finished_probing = progress.finished_probing.max(self.number);
            }
        }
        drop(progress);
        self.gate.ended.notify_waiters();
    }
}

impl Store {
    pub(super) async fn refresh_probing(&self, probe_gaps: bool) -> Result<Arc<State>> {
        let gate = &self.refreshes;
        let arrived = gate.progress().begun;
        let mut running = loop {
            let ended = gate.ended.notified();
            {
                let mut progress = gate.progress();
                let served = if probe_gaps {
                    progress.finished_probing
                } else {
                    progress.finished
                };
                if served > arrived {
                    return Ok(self.state());
                }
                if !progress.running {
                    progress.running = true;
                    progress.begun += 1;
                    break Running {
                        gate,
                        number: progress.begun,
                        probing: probe_gaps,
                        succeeded: false,
                    };
                }
            }
            // Made before the lock was released: the end of the one running wakes it.
            ended.await;
        };
        let state = self.fold_new_entries(probe_gaps).await?;
        running.succeeded = true;
        Ok(state)
    }
}
