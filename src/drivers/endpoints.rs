//! The client endpoints of registered PostgreSQL services, held by the long-lived process
//! (`lockstep serve`): clients connect to lockstep's endpoint instead of blue, and B5 moves
//! it to green. Only the process that holds a service's endpoint can switch it over; any
//! other process leaves the switchover waiting for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::postgres::proxy::ProxyHandle;
use super::postgres::switchover::upstream_for;
use super::targets::Targets;
use crate::model::run::ServingSide;

/// How long a new client waits while the endpoint is parked for a switchover.
const PARK_LIMIT: Duration = Duration::from_secs(60);

fn held() -> &'static Mutex<HashMap<String, Arc<ProxyHandle>>> {
    static HELD: OnceLock<Mutex<HashMap<String, Arc<ProxyHandle>>>> = OnceLock::new();
    HELD.get_or_init(Mutex::default)
}

/// The endpoint this process holds for `service` (`project/name`), if any.
#[must_use]
pub fn get(service: &str) -> Option<Arc<ProxyHandle>> {
    held().lock().ok()?.get(service).cloned()
}

/// Opens the endpoint of every service registered with one beside the database at `db`, in
/// front of the side that serves (`sides`, blue when not named); returns where each listens
/// and in front of which side.
pub async fn open_all(
    db: &Path,
    sides: &HashMap<String, ServingSide>,
) -> Result<Vec<(String, SocketAddr, ServingSide)>, String> {
    let targets = Targets::load(db)?;
    let mut opened = Vec::new();
    for (service, reg) in &targets.postgres {
        let Some(listen) = &reg.endpoint else {
            continue;
        };
        if get(service).is_some() {
            continue;
        }
        let side = sides.get(service).copied().unwrap_or(ServingSide::Blue);
        let upstream = match side {
            ServingSide::Blue => upstream_for(&reg.blue)?,
            ServingSide::Green => upstream_for(&reg.green)?,
        };
        let proxy = ProxyHandle::start(listen, upstream, PARK_LIMIT)
            .await
            .map_err(|e| format!("{service}: {e}"))?;
        let addr = proxy.local_addr();
        held()
            .lock()
            .map_err(|_| "the endpoint registry is unusable".to_string())?
            .insert(service.clone(), Arc::new(proxy));
        opened.push((service.clone(), addr, side));
    }
    if !opened.is_empty() {
        // Clients a crash left parked were refused until now (B5's downtime counts it).
        super::flips::Flips::settle(db, chrono::Utc::now()).map_err(|e| e.0)?;
    }
    Ok(opened)
}
