//! Observers of the events a process records: a server's counters, say.

use std::fmt;
use std::sync::{Arc, RwLock};

use super::Event;

/// Told of every event as this process records it, before it is flushed: a server's counters,
/// say. Called on the recording thread, so it must be quick and must not block.
pub trait EventObserver: Send + Sync {
    /// `event` was just recorded.
    fn observe(&self, event: &Event);
}

/// The observers of one event log.
#[derive(Default)]
pub(super) struct Observers(RwLock<Vec<Arc<dyn EventObserver>>>);

impl Observers {
    pub(super) fn add(&self, observer: Arc<dyn EventObserver>) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(observer);
    }

    pub(super) fn tell(&self, event: &Event) {
        for observer in self.0.read().unwrap_or_else(|p| p.into_inner()).iter() {
            observer.observe(event);
        }
    }
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.read().map(|o| o.len()).unwrap_or_default();
        write!(f, "{n} observers")
    }
}
