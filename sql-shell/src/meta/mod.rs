//! Backslash meta commands, in the REPL and in scripts alike.
//!
//! A line such as `\pset null '-'` is parsed once into a [`MetaCommand`]. Which commands exist,
//! their aliases, arguments and one-line descriptions are one table, [`COMMANDS`]: the parser
//! looks names up in it, `\?` is rendered from it and Tab completes from it. Running a command
//! ([`run`]) uses only the [`Shell`](crate::shell::Shell)'s public methods; `\q` and `\i`, which
//! decide what runs next, are handed back to the caller as [`Next`].
//!
//! Inside, imports point one way: `run` → `table` → `command`; `run` → `describe`, `statements`.

mod command;
mod describe;
mod run;
mod statements;
mod table;

pub use command::MetaCommand;
pub use describe::quote_ident;
pub use run::{Next, run};
pub use table::{COMMANDS, parse_maxrows};
