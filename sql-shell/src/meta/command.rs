//! [`MetaCommand`]: a meta command line, parsed and checked.

use std::path::PathBuf;

use crate::print::OutputFormat;

/// One meta command with its arguments, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    /// `\q`
    Quit,
    /// `\?`
    Help,
    /// `\h [STATEMENT]`: the syntax of statements; an empty topic lists them.
    StatementHelp(String),
    /// `\d` lists datasets and tables; `\d NAME` describes one.
    Describe(Option<String>),
    /// `\df [PATTERN]`
    Functions(Option<String>),
    /// `\timing [on|off]`; `None` toggles.
    Timing(Option<bool>),
    /// `\x [on|off]`; `None` toggles.
    Expanded(Option<bool>),
    /// `\pset` alone shows the print settings; `\pset NAME VALUE` changes one.
    Pset(Option<PsetChange>),
    /// `\o [FILE]`: results to a file, or back to standard output.
    Output(Option<PathBuf>),
    /// `\i FILE`
    Include(String),
    /// `\consumer [ID|-]`
    Consumer(SessionValue),
    /// `\cohort [NAME|-]`
    Cohort(SessionValue),
}

/// A change of one print setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsetChange {
    Format(OutputFormat),
    Null(String),
    /// `None` shows every row.
    MaxRows(Option<usize>),
    /// `None` toggles.
    Expanded(Option<bool>),
}

/// What `\consumer` and `\cohort` do with the session's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionValue {
    Show,
    Set(String),
    /// `-`
    Clear,
}
