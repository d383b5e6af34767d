//! The dashboard (TUI), in The Elm Architecture: [`App`] holds the engine's state (folded from
//! its event stream) and the operator's UI state; [`update`] turns actions into changes and
//! effects without I/O; [`view`] draws from `&App` with `now` injected; [`runner`] merges
//! terminal keys, engine events and ticks and runs effects as tasks.

pub mod action;
pub mod app;
pub mod board;
pub mod chaos;
pub mod fmt;
pub mod input;
pub mod runner;
pub mod state;
pub mod targets;
pub mod testing;
pub mod theme;
pub mod triage;
pub mod update;
pub mod views;
pub mod widgets;

pub use action::{Action, Effect};
pub use app::App;
pub use input::{config, keymap, keys};
pub use runner::{Launch, TuiError, perform, run};
pub use state::{Options, Pane};
pub use state::{derive, filter, modal, rows, travel};
pub use update::update;
pub use views::view;
