//! Just enough of the PostgreSQL wire protocol for the switchover proxy: the untyped first
//! packet (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage), the framing of typed
//! messages (type byte and length) in both directions, and the few messages the proxy writes
//! itself. Nothing here trusts a length it was sent: bad framing is an error, never a panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Protocol 3.0, the only startup the proxy accepts.
pub const PROTOCOL_3: u32 = 196_608;
/// The code of an SSLRequest.
pub const SSL_REQUEST: u32 = 80_877_103;
/// The code of a GSSENCRequest.
pub const GSSENC_REQUEST: u32 = 80_877_104;
/// The code of a CancelRequest.
pub const CANCEL_REQUEST: u32 = 80_877_102;
/// The largest first packet accepted (PostgreSQL itself allows 10 000 bytes).
const MAX_STARTUP: usize = 10_000;
/// The largest typed message accepted (PostgreSQL's own limit is 1 GB).
const MAX_MESSAGE: usize = 1 << 30;

/// What a client's first packet asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstPacket {
    /// SSLRequest: answered `N`, then the client sends another first packet.
    Ssl,
    /// GSSENCRequest: answered `N`, likewise.
    GssEnc,
    /// CancelRequest for the backend with this key.
    Cancel(BackendKey),
    /// A StartupMessage: its raw bytes (to forward as they came) and its parameters.
    Startup {
        /// The whole packet, length included (as protocol 3.0 when the client asked for a
        /// newer minor version or for protocol options).
        raw: Bytes,
        /// `user`, `database`, `application_name`, … in the order sent.
        params: Vec<(String, String)>,
        /// The NegotiateProtocolVersion to send the client first, when it asked for a newer
        /// 3.x or for `_pq_.` options: the endpoint speaks 3.0 without options.
        negotiate: Option<Bytes>,
    },
}

/// The key a server hands out in BackendKeyData, and a CancelRequest names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendKey {
    /// The backend's process id.
    pub pid: i32,
    /// Its secret.
    pub secret: i32,
}

/// Reads one untyped first packet.
pub async fn read_first_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<FirstPacket, String> {
    let len = reader
        .read_u32()
        .await
        .map_err(|e| format!("reading a startup packet: {e}"))? as usize;
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(format!("a startup packet of {len} bytes is not valid"));
    }
    let mut body = vec![0u8; len - 4];
    reader
        .read_exact(&mut body)
        .await
        .map_err(|e| format!("reading a startup packet: {e}"))?;
    let mut rest = &body[..];
    let code = rest.get_u32();
    match code {
        SSL_REQUEST => Ok(FirstPacket::Ssl),
        GSSENC_REQUEST => Ok(FirstPacket::GssEnc),
        CANCEL_REQUEST if rest.len() == 8 => Ok(FirstPacket::Cancel(BackendKey {
            pid: rest.get_i32(),
            secret: rest.get_i32(),
        })),
        PROTOCOL_3 => {
            let params = startup_params(rest)?;
            if params.iter().any(|(name, _)| name.starts_with("_pq_.")) {
                return Ok(negotiated(params));
            }
            let mut raw = BytesMut::with_capacity(len);
            raw.put_u32(len as u32);
            raw.put_slice(&body);
            Ok(FirstPacket::Startup {
                raw: raw.freeze(),
                params,
                negotiate: None,
            })
        }
        // A newer minor version of protocol 3 (libpq 18 may ask for 3.2): answered, as
        // PostgreSQL does, with the newest the endpoint speaks.
        newer if newer >> 16 == 3 => Ok(negotiated(startup_params(rest)?)),
        other => Err(format!("unsupported protocol or request code {other}")),
    }
}

/// A startup asking for more than protocol 3.0: its options (`_pq_.…`) are dropped, its
/// packet rebuilt as 3.0, and NegotiateProtocolVersion names minor version 0 and the options
/// not recognised.
fn negotiated(params: Vec<(String, String)>) -> FirstPacket {
    let (options, params): (Vec<_>, Vec<_>) = params
        .into_iter()
        .partition(|(name, _)| name.starts_with("_pq_."));
    let mut body = BytesMut::new();
    body.put_u32(0);
    body.put_u32(options.len() as u32);
    for (name, _) in &options {
        body.put_slice(name.as_bytes());
        body.put_u8(0);
    }
    FirstPacket::Startup {
        raw: startup_message(&params),
        params,
        negotiate: Some(message(b'v', &body)),
    }
}

/// The `name\0value\0…\0` list of a StartupMessage.
fn startup_params(mut rest: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut params = Vec::new();
    loop {
        let name = cstr(&mut rest)?;
        if name.is_empty() {
            return Ok(params);
        }
        let value = cstr(&mut rest)?;
        // One identity per login: a repeated parameter would let two readers see two users.
        if params.iter().any(|(seen, _)| *seen == name) {
            return Err(format!(
                "the startup packet gives the parameter \"{name}\" twice: send each parameter once"
            ));
        }
        params.push((name, value));
    }
}

/// Takes one NUL-terminated string off the front of `rest`.
pub fn cstr(rest: &mut &[u8]) -> Result<String, String> {
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or("a string without its terminating NUL")?;
    let text = String::from_utf8_lossy(&rest[..end]).into_owned();
    *rest = &rest[end + 1..];
    Ok(text)
}

/// A StartupMessage with `params`.
#[must_use]
pub fn startup_message(params: &[(String, String)]) -> Bytes {
    let mut body = BytesMut::new();
    body.put_u32(PROTOCOL_3);
    for (name, value) in params {
        body.put_slice(name.as_bytes());
        body.put_u8(0);
        body.put_slice(value.as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    let mut raw = BytesMut::with_capacity(body.len() + 4);
    raw.put_u32(body.len() as u32 + 4);
    raw.put_slice(&body);
    raw.freeze()
}

/// A CancelRequest for `key`.
#[must_use]
pub fn cancel_request(key: BackendKey) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[0..4].copy_from_slice(&16u32.to_be_bytes());
    out[4..8].copy_from_slice(&CANCEL_REQUEST.to_be_bytes());
    out[8..12].copy_from_slice(&key.pid.to_be_bytes());
    out[12..16].copy_from_slice(&key.secret.to_be_bytes());
    out
}

/// One typed message: its type byte and the whole message, header included.
#[derive(Debug, Clone)]
pub struct Message {
    /// The type byte (`Z` ReadyForQuery, `Q` Query, …).
    pub tag: u8,
    /// Type byte, length and body, exactly as on the wire.
    pub raw: Bytes,
}

impl Message {
    /// The body, after type byte and length.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.raw[5..]
    }
}

/// Messages up to this size (type byte and length included) are passed on whole; larger ones
/// stream through in pieces as they arrive, so a session never buffers more than this of
/// one message (PostgreSQL allows 1 GB).
pub const STREAM_ABOVE: usize = 256 * 1024;

/// A piece of a typed message stream, as [`Framer`] cuts it.
#[derive(Debug, Clone)]
pub enum Piece {
    /// A whole message of at most [`STREAM_ABOVE`] bytes.
    Whole(Message),
    /// The first bytes of a larger message: its type byte, its whole size (type byte and
    /// length included) and the bytes that arrived so far (at least the header).
    Start {
        /// The type byte.
        tag: u8,
        /// The whole message's size on the wire.
        size: usize,
        /// Its first bytes.
        bytes: Bytes,
    },
    /// More bytes of the large message under way.
    More(Bytes),
}

impl Piece {
    /// Its bytes, as on the wire.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Piece::Whole(message) => &message.raw,
            Piece::Start { bytes, .. } | Piece::More(bytes) => bytes,
        }
    }
}

/// Cuts a byte stream into [`Piece`]s: whole small messages, large ones in pieces.
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes of the large message under way not passed on yet.
    rest: usize,
}

impl Framer {
    /// Whether a large message is under way (part of it passed on, part still to come).
    #[must_use]
    pub fn mid_message(&self) -> bool {
        self.rest > 0
    }

    /// Takes every piece it can off the front of `buf`, leaving a partial small message there.
    pub fn split(&mut self, buf: &mut BytesMut, out: &mut Vec<Piece>) -> Result<(), String> {
        loop {
            if self.rest > 0 {
                if buf.is_empty() {
                    return Ok(());
                }
                let n = self.rest.min(buf.len());
                self.rest -= n;
                out.push(Piece::More(buf.split_to(n).freeze()));
                continue;
            }
            let Some(size) = claimed_size(buf)? else {
                return Ok(());
            };
            if size <= STREAM_ABOVE {
                if buf.len() < size {
                    buf.reserve(size - buf.len());
                    return Ok(());
                }
                let raw = buf.split_to(size).freeze();
                out.push(Piece::Whole(Message { tag: raw[0], raw }));
                continue;
            }
            let tag = buf[0];
            let n = size.min(buf.len());
            self.rest = size - n;
            out.push(Piece::Start {
                tag,
                size,
                bytes: buf.split_to(n).freeze(),
            });
        }
    }
}

/// The whole size (type byte and length included) the typed message at the front of `buf`
/// claims, once its header is there; a length no message can have is an error.
fn claimed_size(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if !(4..=MAX_MESSAGE).contains(&len) {
        return Err(format!(
            "a message of type {:?} claims {len} bytes",
            buf[0] as char
        ));
    }
    Ok(Some(len + 1))
}

/// Takes every complete typed message off the front of `buf`, leaving a partial one there.
pub fn split_messages(buf: &mut BytesMut, out: &mut Vec<Message>) -> Result<(), String> {
    while let Some(size) = claimed_size(buf)? {
        if buf.len() < size {
            buf.reserve(size - buf.len());
            return Ok(());
        }
        let raw = buf.split_to(size).freeze();
        out.push(Message { tag: raw[0], raw });
    }
    Ok(())
}

/// A typed message with `tag` and `body`.
#[must_use]
pub fn message(tag: u8, body: &[u8]) -> Bytes {
    let mut raw = BytesMut::with_capacity(body.len() + 5);
    raw.put_u8(tag);
    raw.put_u32(body.len() as u32 + 4);
    raw.put_slice(body);
    raw.freeze()
}

/// An ErrorResponse with severity, SQLSTATE and message, for the proxy's own refusals.
#[must_use]
pub fn error_response(severity: &str, code: &str, text: &str) -> Bytes {
    let mut body = BytesMut::new();
    for (field, value) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', text),
    ] {
        body.put_u8(field);
        body.put_slice(value.as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    message(b'E', &body)
}

/// The message field (`M`) of an ErrorResponse body, for reports.
#[must_use]
pub fn error_text(body: &[u8]) -> String {
    let mut rest = body;
    while let Some((&field, tail)) = rest.split_first() {
        if field == 0 {
            break;
        }
        rest = tail;
        let Ok(value) = cstr(&mut rest) else { break };
        if field == b'M' {
            return value;
        }
    }
    "an error without a message".into()
}

/// The name of the prepared statement a Parse (`P`) body defines.
#[must_use]
pub fn parse_statement_name(body: &[u8]) -> Option<String> {
    let mut rest = body;
    cstr(&mut rest).ok()
}

/// The statement a Close (`C`) body closes, if it closes a statement (not a portal).
#[must_use]
pub fn closed_statement_name(body: &[u8]) -> Option<String> {
    let (&kind, mut rest) = body.split_first()?;
    (kind == b'S').then(|| cstr(&mut rest).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_startup_message_round_trips_with_its_parameters() {
        let params = vec![
            ("user".to_string(), "app".to_string()),
            ("database".to_string(), "shop".to_string()),
        ];
        let raw = startup_message(&params);
        let mut reader = &raw[..];
        match read_first_packet(&mut reader).await.expect("parses") {
            FirstPacket::Startup {
                raw: again,
                params: p,
                negotiate,
            } => {
                assert_eq!(p, params);
                assert_eq!(again, raw);
                assert_eq!(negotiate, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_cancel_request_names_its_backend() {
        let key = BackendKey {
            pid: 42,
            secret: -7,
        };
        let raw = cancel_request(key);
        let mut reader = &raw[..];
        let packet = read_first_packet(&mut reader).await.expect("parses");
        assert_eq!(packet, FirstPacket::Cancel(key));
    }

    #[tokio::test]
    async fn absurd_lengths_are_refused_not_trusted() {
        let mut reader = &[0xff_u8, 0xff, 0xff, 0xff, 0, 0, 0, 0][..];
        assert!(read_first_packet(&mut reader).await.is_err());
        let mut buf = BytesMut::from(&[b'Q', 0xff, 0xff, 0xff, 0xff][..]);
        assert!(split_messages(&mut buf, &mut Vec::new()).is_err());
        let mut buf = BytesMut::from(&[b'Q', 0, 0, 0, 1][..]);
        assert!(split_messages(&mut buf, &mut Vec::new()).is_err());
    }

    #[test]
    fn messages_split_at_their_boundaries_and_keep_the_partial_rest() {
        let mut buf = BytesMut::new();
        buf.put_slice(&message(b'Z', b"I"));
        buf.put_slice(&message(b'C', b"INSERT 0 1\0"));
        buf.put_slice(&message(b'Z', b"T")[..3]);
        let mut out = Vec::new();
        split_messages(&mut buf, &mut out).expect("frames");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].body(), b"I");
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn a_large_message_streams_in_pieces_and_the_next_one_frames_again() {
        let big = message(b'Q', &vec![b'x'; STREAM_ABOVE]);
        let mut framer = Framer::default();
        let mut out = Vec::new();
        let mut buf = BytesMut::from(&big[..1000]);
        framer.split(&mut buf, &mut out).expect("frames");
        assert!(matches!(&out[..], [Piece::Start { tag: b'Q', size, bytes }]
            if *size == big.len() && bytes.len() == 1000));
        assert!(framer.mid_message());
        out.clear();
        buf.put_slice(&big[1000..]);
        buf.put_slice(&message(b'S', &[]));
        framer.split(&mut buf, &mut out).expect("frames");
        assert!(matches!(&out[0], Piece::More(b) if b.len() == big.len() - 1000));
        assert!(matches!(&out[1], Piece::Whole(m) if m.tag == b'S'));
        assert!(!framer.mid_message());
        assert!(buf.is_empty());
    }

    #[test]
    fn an_error_response_carries_its_message() {
        let raw = error_response("FATAL", "57P03", "parked too long");
        assert_eq!(error_text(&raw[5..]), "parked too long");
    }
}
