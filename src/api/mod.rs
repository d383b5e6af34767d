//! The remote engine: an HTTP API over a `LocalEngine` (served by `lockstep serve`, wired in
//! `app::serve`) and `RemoteEngine`,
//! the `Engine` trait over that API, so the dashboard and every command work against a server.

pub mod auth;
pub mod client;
pub mod error;
mod follow;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod server;
pub mod state;
pub mod stream;

pub use auth::{Principal, Role, Tokens, digest_hex, new_token};
pub use client::RemoteEngine;
pub use server::Server;
