//! The dashboard's state that views read and input changes, below both: its kinds (panes,
//! cursors, status levels) and the run board's state.

pub mod board;
pub mod dashboard;
pub mod derive;
mod derived;
pub mod filter;
mod kinds;
pub mod modal;
pub mod rows;
pub mod travel;

pub use board::{BoardState, RunConfirm, RunOp};
pub use dashboard::{App, DEFAULT_SPEED, HISTORY_LIMIT, SLOTS, SPEEDS};
pub use derived::{Derived, Summary};
pub use kinds::{Cursor, Level, Options, Pane, Status};
