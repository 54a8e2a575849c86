//! Restart, corrupt logs, tampered files.
