//! The remote engine's stream follower: one task that reads `GET /v1/events` and hands each
//! event, once and in order, to the engine's subscribers. When the stream breaks (server
//! restart, network, silence past the keep-alive) it reconnects with exponential backoff and
//! jitter, sending `Last-Event-ID` so the server replays exactly what was missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use rand::Rng;
use tokio::sync::{broadcast, watch};

use crate::engine::LinkState;
use crate::model::{Event, Seq};

/// First wait after a failure.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between tries.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Silence after which the stream is presumed dead (the server sends keep-alives every 15 s).
const SILENCE: Duration = Duration::from_secs(40);

/// Everything the follower task needs.
pub struct Follower {
    /// `…/v1/events`.
    pub url: String,
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// Bearer token.
    pub token: Arc<str>,
    /// Where events go.
    pub events: broadcast::Sender<Event>,
    /// Newest event id seen by the engine.
    pub known_head: Arc<AtomicU64>,
    /// Link state for the dashboard.
    pub link: watch::Sender<LinkState>,
}

impl Follower {
    /// Follows the stream from after `last`, forever (until aborted).
    pub async fn run(self, mut last: Seq) {
        let mut attempt: u32 = 0;
        self.link.send_replace(LinkState::Connecting);
        loop {
            let error = match self.follow_once(&mut last, &mut attempt).await {
                Ok(()) => "the server closed the stream".to_string(),
                Err(e) => e,
            };
            attempt = attempt.saturating_add(1);
            self.link.send_replace(LinkState::Reconnecting {
                attempt,
                error: error.clone(),
            });
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// One connection: returns when it ends, with why it failed.
    async fn follow_once(&self, last: &mut Seq, attempt: &mut u32) -> Result<(), String> {
        let resp = self
            .http
            .get(&self.url)
            .bearer_auth(&*self.token)
            .header("accept", "text/event-stream")
            .header("last-event-id", last.to_string())
            .send()
            .await
            .map_err(|e| format!("cannot reach the server: {}", e.without_url()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("the server answered {status} to the event stream"));
        }
        self.link.send_replace(LinkState::Connected);
        *attempt = 0;
        let mut stream = resp.bytes_stream().eventsource();
        loop {
            let item = match tokio::time::timeout(SILENCE, stream.next()).await {
                Err(_) => return Err("the stream went silent".into()),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => return Err(format!("the stream broke: {e}")),
                Ok(Some(Ok(item))) => item,
            };
            if item.data.is_empty() {
                continue;
            }
            let event: Event = serde_json::from_str(&item.data)
                .map_err(|e| format!("the server sent an event this client cannot read: {e}"))?;
            if event.seq <= *last {
                continue;
            }
            if event.seq != *last + 1 {
                // Never skip: reconnect and let the server replay from the last one we have.
                return Err(format!(
                    "the stream skipped from event {} to {}",
                    last, event.seq
                ));
            }
            *last = event.seq;
            self.known_head.fetch_max(event.seq, Ordering::Relaxed);
            let _ = self.events.send(event);
        }
    }
}

/// Exponential backoff with jitter, from 100 ms to 5 s.
fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_MIN.saturating_mul(1u32 << attempt.min(6));
    let capped = base.min(BACKOFF_MAX);
    let jitter = rand::rng().random_range(0.5..1.0);
    capped.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_five_seconds() {
        assert!(backoff(1) <= Duration::from_millis(200));
        assert!(backoff(3) >= Duration::from_millis(400));
        for attempt in 0..100 {
            assert!(backoff(attempt) <= BACKOFF_MAX);
        }
    }
}
