//! The single integration-test binary of `datafusion-rollout-udfs` (topic modules below).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod compare;
mod docs;
mod errors;
mod golden;
mod helpers;
mod partitioning;
mod quality;
mod registry;
