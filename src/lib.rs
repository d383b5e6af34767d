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

/// mimalloc for every binary built on lockstep (the dashboard, the server, the tests and the
/// benchmarks): opening a large journal and committing commands allocate many small values.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
