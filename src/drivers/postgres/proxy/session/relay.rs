//! The session's two directions: what the server sends goes to the client and what the client
//! sends goes to the server, whole small messages followed (ReadyForQuery, keys, requests
//! awaiting an answer, prepared statements) and large ones streamed in pieces; a login passed
//! through to the server is watched for its refusal.

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::super::wire::{self, BackendKey, Message, Piece};
use super::super::{cancel, login, upstream};
use super::Session;

impl Session {
    /// Forwards what the server sent: whole messages, following ReadyForQuery and keys, and
    /// large ones (rows, copy data) in pieces as they come.
    pub(super) async fn forward_server(&mut self) -> Result<(), String> {
        let mut pieces = Vec::new();
        self.server_framer
            .split(&mut self.server_buf, &mut pieces)?;
        let mut out = BytesMut::new();
        for piece in pieces {
            let Piece::Whole(Message { tag, raw }) = piece else {
                out.extend_from_slice(piece.bytes());
                continue;
            };
            match tag {
                b'Z' if raw.len() == 6 => {
                    if self.status.is_none() {
                        self.logged_in_at = Some(std::time::Instant::now());
                    }
                    self.status = Some(raw[5]);
                    self.outstanding = self.outstanding.saturating_sub(1);
                }
                b'K' if raw.len() == 13 && self.client_key.is_none() => {
                    let key = BackendKey {
                        pid: i32::from_be_bytes([raw[5], raw[6], raw[7], raw[8]]),
                        secret: i32::from_be_bytes([raw[9], raw[10], raw[11], raw[12]]),
                    };
                    self.client_key = Some(key);
                    self.server_key = Some(key);
                    cancel::remember(&self.shared, key, &self.server_addr, key);
                }
                b'S' if self.pooled => upstream::note_status(&mut self.server_statuses, &raw[5..]),
                // The server refused a login passed through to it.
                b'E' if self.status.is_none() => self.login_failed(&wire::error_text(&raw[5..])),
                _ => {}
            }
            out.extend_from_slice(&raw);
        }
        self.client.write_all(&out).await.map_err(|e| e.to_string())
    }

    /// A login passed through to the server failed: counted against the client's address
    /// (its next logins through the endpoint wait, once it keeps failing) and logged.
    fn login_failed(&self, why: &str) {
        let peer = self.client.peer_addr().ok();
        if let Some(peer) = peer {
            self.shared.failed_logins.failed(peer.ip());
        }
        let role = self
            .params
            .iter()
            .find(|(name, _)| name == "user")
            .map_or("", |(_, value)| value.as_str());
        tracing::warn!(
            session = self.id,
            client = %peer.map_or_else(|| "?".into(), |a| a.to_string()),
            role,
            "login through the endpoint refused: {why}"
        );
    }

    /// Tells the client why its session ends, as PostgreSQL does (an ErrorResponse), and
    /// returns why for the log.
    async fn refuse(&mut self, why: String) -> String {
        let text = format!("invalid message from the client: {why}");
        let _ = self
            .client
            .write_all(&wire::error_response("FATAL", "08P01", &text))
            .await;
        why
    }

    /// Forwards what the client sent, following what awaits an answer; large messages (a
    /// huge query or bind) stream through in pieces. Before its login completes on the server,
    /// nothing larger than PostgreSQL takes there is passed on.
    pub(super) async fn forward_client(&mut self) -> Result<(), String> {
        let mut pieces = Vec::new();
        if let Err(e) = self.client_framer.split(&mut self.client_buf, &mut pieces) {
            return Err(self.refuse(e).await);
        }
        let mut out = BytesMut::new();
        for piece in pieces {
            let (tag, size) = match &piece {
                Piece::Whole(message) => (message.tag, message.raw.len()),
                Piece::Start { tag, size, .. } => (*tag, *size),
                Piece::More(bytes) => {
                    out.extend_from_slice(bytes);
                    continue;
                }
            };
            if self.status.is_none() && size > login::MAX_LOGIN_MESSAGE + 1 {
                let why = format!(
                    "a message of {} bytes before login is larger than the {} bytes \
                     PostgreSQL takes there",
                    size - 1,
                    login::MAX_LOGIN_MESSAGE
                );
                self.login_failed(&why);
                return Err(self.refuse(why).await);
            }
            match tag {
                // A pooled session's server connection outlives its client.
                b'X' if self.pooled => {
                    self.client_left = true;
                    break;
                }
                b'Q' | b'F' => self.outstanding += 1,
                b'S' => {
                    self.outstanding += 1;
                    self.unsynced = false;
                }
                b'P' => {
                    match &piece {
                        Piece::Whole(message) => {
                            if let Some(name) = wire::parse_statement_name(message.body())
                                && !name.is_empty()
                            {
                                self.statements.insert(name, message.raw.clone());
                            }
                        }
                        // Too large to keep for a replay on another upstream.
                        _ => self.unreplayable = true,
                    }
                    self.unsynced = true;
                }
                b'C' => {
                    if let Piece::Whole(message) = &piece
                        && let Some(name) = wire::closed_statement_name(message.body())
                    {
                        self.statements.remove(&name);
                    }
                    self.unsynced = true;
                }
                b'B' | b'E' | b'D' | b'H' => self.unsynced = true,
                _ => {}
            }
            out.extend_from_slice(piece.bytes());
        }
        self.server.write_all(&out).await.map_err(|e| e.to_string())
    }
}
