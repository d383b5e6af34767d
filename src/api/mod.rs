//! The remote engine: an HTTP API over a `LocalEngine` (`lockstep serve`) and `RemoteEngine`,
//! the `Engine` trait over that API, so the dashboard and every command work against a server.

pub mod auth;
pub mod client;
pub mod error;
mod follow;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod serve;
pub mod server;
pub mod stream;

pub use auth::{Principal, Role, Tokens, digest_hex, new_token};
pub use client::RemoteEngine;
pub use server::Server;
