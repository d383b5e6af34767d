//! The dashboard's state that views read and input changes, below both: its kinds (panes,
//! cursors, status levels) and the run board's state.

pub mod board;
mod kinds;

pub use board::{BoardState, RunConfirm, RunOp};
pub use kinds::{Cursor, Level, Options, Pane, Status};
