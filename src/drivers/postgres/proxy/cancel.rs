//! CancelRequests through the proxy: a client cancels with the BackendKeyData it was given at
//! login, which names a backend on whichever upstream the session was on then. The proxy keeps
//! every key it passed on, with the server and real key the session is on now (a re-bound
//! session's backend is another one, on another server), and forwards the cancel there.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Shared;
use super::wire::{self, BackendKey};

/// Remembers that the client of a session knows `client_key`, which now means `real` on `addr`.
pub(super) fn remember(shared: &Shared, client_key: BackendKey, addr: &str, real: BackendKey) {
    shared
        .cancels()
        .insert(client_key, (addr.to_string(), real));
}

/// Forgets a session's key when the session ends.
pub(super) fn forget(shared: &Shared, client_key: BackendKey) {
    shared.cancels().remove(&client_key);
}

/// Forwards a client's CancelRequest to the backend it means; unknown keys are dropped, as
/// PostgreSQL itself answers nothing to a cancel.
pub(super) async fn route(shared: &Shared, client_key: BackendKey) {
    let target = shared.cancels().get(&client_key).cloned();
    let Some((addr, real)) = target else {
        return;
    };
    if let Ok(mut server) = TcpStream::connect(&addr).await {
        let _ = server.write_all(&wire::cancel_request(real)).await;
        let _ = server.shutdown().await;
    }
}
