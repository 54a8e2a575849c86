//! Concurrent writers.
