//! lockstep: a control room for database upgrades — controlled upgrade pipelines, blue/green
//! upgrade runs, and the dashboard operators watch them from.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod app;
pub mod cli;
pub mod demo;
pub mod drivers;
pub mod engine;
pub mod human;
pub mod model;
pub mod tui;
