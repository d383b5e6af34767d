//! Reusable pieces: pane frames, popups, countdown gauges.

pub mod gauge;
pub mod pane;
pub mod popup;
