//! Snapshots (insta) of every output format and meta command, run through the real binary.
