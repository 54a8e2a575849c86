//! Bucketing and plan identity.
