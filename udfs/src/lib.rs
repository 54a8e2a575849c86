//! Quality and drift functions (in progress).
