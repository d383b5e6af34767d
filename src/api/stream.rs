//! `GET /v1/events`: the journal as server-sent events, `id:` = the event's seq.
//!
//! A subscriber first listens to the live fan-out, then replays the journal from where it
//! asked (`Last-Event-ID`, `?since=`, or the head now), then forwards live events. Every event
//! is sent exactly once and in order: live events at or below the last one sent are dropped,
//! and any gap (a slow subscriber that lagged, a fan-out behind the journal) is filled from
//! the journal before going on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use super::error::{ApiError, QueryParams};
use super::metrics::Metrics;
use super::state::{Frame, ServerState};
use crate::model::{Event, Seq};

/// Journal events fetched per replay page.
const REPLAY_PAGE: usize = 1000;
/// Frames buffered per subscriber before it is treated as slow (and replays later).
const SUBSCRIBER_BUFFER: usize = 256;

impl Frame {
    fn of(event: &Event) -> Option<Frame> {
        serde_json::to_string(event).ok().map(|json| Frame {
            seq: event.seq,
            json,
        })
    }

    fn sse(&self) -> SseEvent {
        SseEvent::default()
            .id(self.seq.to_string())
            .data(&self.json)
    }
}

/// Serializes each engine event once and hands it to every subscriber.
pub fn spawn_fanout(state: Arc<ServerState>, mut events: broadcast::Receiver<Event>) {
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        loop {
            let received = tokio::select! {
                r = events.recv() => r,
                _ = shutdown.changed() => return,
            };
            match received {
                Ok(event) => {
                    state.metrics.appended(event.seq);
                    if let Some(frame) = Frame::of(&event) {
                        let _ = state.frames.send(Arc::new(frame));
                    }
                }
                // Subscribers see the gap by its seq and fill it from the journal.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Where to start, when not from a `Last-Event-ID` header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Send events after this id (default: only events from now on).
    since: Option<Seq>,
}

/// `GET /v1/events`.
pub async fn events(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let from_header = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<Seq>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID must be an event id (a whole number, e.g. 42)",
                    )
                })?,
        ),
        None => None,
    };
    // Listen before reading the journal, so nothing falls between the two.
    let live = state.frames.subscribe();
    let start = match from_header.or(query.since) {
        Some(seq) => seq,
        None => {
            state
                .engine
                .snapshot()
                .await
                .map_err(ApiError::from)?
                .state
                .head
        }
    };
    let (tx, mut rx) = mpsc::channel(SUBSCRIBER_BUFFER);
    tokio::spawn(forward(state, live, start, tx));
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Feeds one subscriber until it goes away or the server shuts down.
async fn forward(
    state: Arc<ServerState>,
    mut live: broadcast::Receiver<Arc<Frame>>,
    mut last: Seq,
    tx: mpsc::Sender<SseEvent>,
) {
    let _guard = Metrics::subscriber(&state.metrics);
    let mut shutdown = state.shutdown.clone();
    if !replay(&state, &mut last, &tx).await {
        return;
    }
    loop {
        let received = tokio::select! {
            r = live.recv() => r,
            () = tx.closed() => return,
            _ = shutdown.changed() => return,
        };
        let in_order = match received {
            Ok(frame) if frame.seq <= last => continue,
            Ok(frame) if frame.seq == last + 1 => {
                if tx.send(frame.sse()).await.is_err() {
                    return;
                }
                state.metrics.streamed(1);
                last = frame.seq;
                true
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => false,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !in_order && !replay(&state, &mut last, &tx).await {
            return;
        }
    }
}

/// Sends every journal event after `last`; false when the subscriber or the engine is gone.
async fn replay(state: &ServerState, last: &mut Seq, tx: &mpsc::Sender<SseEvent>) -> bool {
    loop {
        let page = match state.engine.events(*last, REPLAY_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!("event stream: cannot read the journal: {e}");
                return false;
            }
        };
        let full = page.len() == REPLAY_PAGE;
        for event in page {
            if event.seq <= *last {
                continue;
            }
            let Some(frame) = Frame::of(&event) else {
                continue;
            };
            if tx.send(frame.sse()).await.is_err() {
                return false;
            }
            state.metrics.streamed(1);
            *last = event.seq;
        }
        if !full {
            return true;
        }
    }
}
