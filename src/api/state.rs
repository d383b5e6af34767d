//! What every handler of the API shares: the engine, the tokens, the counters and the events
//! serialized for the live streams.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use super::auth::Tokens;
use super::metrics::Metrics;
use crate::engine::Engine;
use crate::model::Seq;

/// What every handler shares.
pub struct ServerState {
    /// The engine behind the API.
    pub engine: Arc<dyn Engine>,
    /// Accepted tokens.
    pub tokens: Arc<Tokens>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Serialized events for stream subscribers.
    pub frames: broadcast::Sender<Arc<Frame>>,
    /// Flips to true when the server stops, ending every stream.
    pub shutdown: watch::Receiver<bool>,
}

/// One event, serialized once for every subscriber.
#[derive(Debug)]
pub struct Frame {
    /// The event's id.
    pub seq: Seq,
    /// The event as JSON.
    pub json: String,
}
