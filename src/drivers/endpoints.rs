//! The client endpoints of registered PostgreSQL services, held by the long-lived process
//! (`lockstep serve`): clients connect to lockstep's endpoint instead of blue, and B5 moves
//! it to green. Only the process that holds a service's endpoint can switch it over; any
//! other process leaves the switchover waiting for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::postgres::dsn::Dsn;
use super::postgres::proxy::{self, ProxyHandle, Settings};
use super::postgres::switchover::upstream_for;
use super::targets::{Registration, Targets};
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
        let serving = match side {
            ServingSide::Blue => &reg.blue,
            ServingSide::Green => &reg.green,
        };
        let settings = settings_for(service, reg, serving).await;
        let proxy = ProxyHandle::start_with(listen, upstream, PARK_LIMIT, settings)
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

/// Connections left on the server for lockstep's own sessions (replication, observation, the
/// switchover's fence and its connections opened ahead) when the pool size is derived.
const OWN_CONNECTIONS: i64 = 10;

/// The endpoint's limits for `service`: those registered, and for the pool size when none is,
/// what the serving server's `max_connections` leaves after its reserved connections and
/// lockstep's own (PostgreSQL's default when the server cannot be asked).
async fn settings_for(service: &str, reg: &Registration, serving: &Dsn) -> Settings {
    let mut settings = Settings::default();
    if let Some(s) = reg.queue_wait_s {
        settings.queue_wait = Duration::from_secs(s);
    }
    if let Some(s) = reg.login_deadline_s {
        settings.login_deadline = Duration::from_secs(s);
    }
    settings.pool_size = match reg.pool_size {
        Some(n) => usize::try_from(n).unwrap_or(proxy::DEFAULT_POOL_SIZE),
        None => match free_connections(serving).await {
            Ok(free) => usize::try_from((free - OWN_CONNECTIONS).max(1)).unwrap_or(1),
            Err(e) => {
                tracing::warn!(
                    service,
                    "cannot read the server's max_connections ({e}); the endpoint holds at \
                     most {} server connections (set --pool-size to choose)",
                    proxy::DEFAULT_POOL_SIZE
                );
                proxy::DEFAULT_POOL_SIZE
            }
        },
    };
    settings
}

/// Connections the server at `dsn` takes from ordinary roles.
async fn free_connections(dsn: &Dsn) -> Result<i64, String> {
    const SQL: &str = "SELECT (current_setting('max_connections')::int \
         - current_setting('superuser_reserved_connections')::int \
         - coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0))::text";
    let ask = async {
        let session = super::postgres::session::connect(dsn, "the serving side").await?;
        session.text(SQL).await
    };
    let text = tokio::time::timeout(Duration::from_secs(10), ask)
        .await
        .map_err(|_| "no answer within 10 s".to_string())??;
    text.parse()
        .map_err(|e| format!("max_connections less its reserve is not a number: {e}"))
}
