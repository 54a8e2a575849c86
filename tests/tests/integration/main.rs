//! End-to-end tests of datafusion-rollout: one binary, topic modules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod common;
mod concurrency;
mod contracts;
mod crash;
mod dashboard;
mod events;
mod hostile;
mod layers;
mod lifecycle;
mod live;
mod notify;
mod old_store;
mod profiles;
mod reliability;
mod resolution;
mod s3;
mod serve;
mod serve_http;
mod signals;
mod slt;
mod spine;
mod store;
