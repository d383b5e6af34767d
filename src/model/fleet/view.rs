//! What the incidents pane and the CLI say about incidents, in words.

use chrono::{DateTime, Duration, Utc};

use super::{Endpoint, Incident, IncidentKind, Stage};
use crate::model::service::{NodeRole, NodeStatus, Service};
use crate::model::state::State;

/// A duration as a clock: `0:42`, `5:00`, `1:02:03`.
#[must_use]
pub fn format_clock(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// One incident, said in words at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentLine {
    /// Its id.
    pub incident_id: u64,
    /// `project/name`.
    pub service: String,
    /// Whether it is still open.
    pub open: bool,
    /// What happened: "primary pg-prod-1 lost (F1)".
    pub what: String,
    /// The kind, short: "primary lost (F1)".
    pub kind: String,
    /// Where it stands against its clock: "primary unreachable 0:42 / 1:00 → promotion".
    pub progress: String,
    /// The same, short, for narrow panels: "0:42 / 1:00 → promotion".
    pub clock: String,
    /// What lockstep does next.
    pub next: String,
    /// Where the endpoints point now.
    pub endpoints: Vec<String>,
}

/// Every incident, open ones first then the most recent, said at `now`.
#[must_use]
pub fn incident_lines(state: &State, now: DateTime<Utc>) -> Vec<IncidentLine> {
    incident_order(state)
        .into_iter()
        .filter_map(|i| incident_line(state, i, now))
        .collect()
}

/// Every incident, open ones first then the most recent.
#[must_use]
pub fn incident_order(state: &State) -> Vec<&Incident> {
    let mut all: Vec<&Incident> = state.incidents.values().collect();
    all.sort_by_key(|i| (!i.is_open(), std::cmp::Reverse(i.incident_id)));
    all
}

/// One incident said at `now` (`None` when its service is gone).
#[must_use]
pub fn incident_line(state: &State, i: &Incident, now: DateTime<Utc>) -> Option<IncidentLine> {
    let svc = state.services.get(&i.service)?;
    Some(IncidentLine {
        incident_id: i.incident_id,
        service: i.service.to_string(),
        open: i.is_open(),
        what: what(i, svc),
        kind: kind(i, svc).into(),
        progress: progress(i, svc, now),
        clock: {
            let p = progress(i, svc, now);
            match p.split_once(" unreachable ") {
                Some((_, clock)) if i.stage == Stage::AwaitingTimeout => clock.to_string(),
                _ => p,
            }
        },
        next: next(i, svc),
        endpoints: endpoint_lines(svc),
    })
}

/// V6: one warning per step whose source is powered off (its destination upgrades unheld).
#[must_use]
pub fn unheld_warnings(state: &State) -> Vec<String> {
    state
        .steps
        .values()
        .filter(|s| {
            state
                .services
                .get(&s.source)
                .is_some_and(|svc| !svc.powered)
        })
        .map(|s| {
            format!(
                "V6: source {} is powered off: {} is NOT held and upgrades regardless",
                s.source.name, s.destination.name
            )
        })
        .collect()
}

/// Where a service's endpoints point: "pg-prod-acme → pg-prod-2 (up)".
#[must_use]
pub fn endpoint_lines(svc: &Service) -> Vec<String> {
    let line = |e: Endpoint, target: &Option<String>| {
        let host = e.host(&svc.key);
        match target {
            None => format!("{host} ✗ unreachable"),
            Some(n) => {
                let status = svc
                    .nodes
                    .iter()
                    .find(|x| &x.name == n)
                    .map_or("gone", |x| status_word(x.status));
                format!("{host} → {n} ({status})")
            }
        }
    };
    let mut out = vec![line(Endpoint::Primary, &svc.endpoints.primary)];
    if svc.plan.node_count() > 1 {
        out.push(line(Endpoint::Replica, &svc.endpoints.replica));
    }
    out
}

/// A node status in one word.
#[must_use]
pub fn status_word(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Up => "up",
        NodeStatus::Unreachable => "not answering",
        NodeStatus::Down => "down",
        NodeStatus::Building => "building",
        NodeStatus::Forwarding => "forwarding",
    }
}

fn has_standby(svc: &Service) -> bool {
    svc.nodes
        .iter()
        .any(|n| n.role == NodeRole::Standby && n.status == NodeStatus::Up)
}

fn kind(i: &Incident, svc: &Service) -> &'static str {
    match i.kind {
        IncidentKind::PrimaryLost if svc.plan.node_count() == 1 => "primary lost (F3)",
        IncidentKind::PrimaryLost => "primary lost (F1)",
        IncidentKind::StandbyLost => "standby lost (F2)",
        IncidentKind::Switchover => "switchover (F4)",
    }
}

fn what(i: &Incident, svc: &Service) -> String {
    match i.kind {
        IncidentKind::PrimaryLost if svc.plan.node_count() == 1 => {
            format!("primary {} lost, no standby (F3)", i.node)
        }
        IncidentKind::PrimaryLost => format!("primary {} lost (F1)", i.node),
        IncidentKind::StandbyLost => format!("standby {} lost (F2)", i.node),
        IncidentKind::Switchover => format!("controlled switchover from {} (F4)", i.node),
    }
}

fn progress(i: &Incident, svc: &Service, now: DateTime<Utc>) -> String {
    if let Some(closed) = i.closed_at {
        let when = if closed.date_naive() == now.date_naive() {
            closed.format("%H:%M:%S")
        } else {
            closed.format("%a %m-%d %H:%M")
        };
        return format!(
            "resolved {when} after {}",
            format_clock(closed - i.opened_at)
        );
    }
    let left = i
        .next_at
        .map(|at| format_clock(at - now))
        .unwrap_or_default();
    match i.stage {
        Stage::AwaitingTimeout => {
            let then = match i.kind {
                IncidentKind::PrimaryLost if has_standby(svc) => "promotion",
                IncidentKind::PrimaryLost => "restore from backup",
                _ => "replacement",
            };
            let timeout = Duration::seconds(i64::from(i.timeout_s));
            let elapsed = (now - i.opened_at).min(timeout);
            format!(
                "{} unreachable {} / {} → {then}",
                if i.kind == IncidentKind::StandbyLost {
                    "standby"
                } else {
                    "primary"
                },
                format_clock(elapsed),
                format_clock(timeout)
            )
        }
        Stage::Rebuilding => format!(
            "building {}, synced in {left}",
            i.replacement.as_deref().unwrap_or("?")
        ),
        Stage::Restoring => format!(
            "restoring {}, done in {left}",
            i.replacement.as_deref().unwrap_or("?")
        ),
        Stage::ReplacingStandbys => format!("1/5 new standbys restoring, synced in {left}"),
        Stage::AddingServer => format!(
            "2/5 extra server {}, synced in {left}",
            i.replacement.as_deref().unwrap_or("?")
        ),
        Stage::AwaitingPromotion => format!("3/5 quorum commit on; promotion in {left}"),
        Stage::Forwarding => format!("5/5 {} forwards TCP for {left}", i.node),
        Stage::Resolved => "resolved".into(),
    }
}

fn next(i: &Incident, svc: &Service) -> String {
    let new = i.replacement.as_deref().unwrap_or("the new node");
    let loss = |i: &Incident| {
        let s = i.data_loss_s.unwrap_or_else(|| {
            (i.opened_at - super::last_backup_before(i.opened_at)).num_seconds()
        });
        format_clock(Duration::seconds(s))
    };
    match (i.kind, i.stage) {
        (_, Stage::Resolved) => i.outcome.clone().unwrap_or_default(),
        (IncidentKind::PrimaryLost, Stage::AwaitingTimeout) if has_standby(svc) => {
            "mark it down, promote a standby, move the primary endpoint; replica endpoint unreachable until a new standby syncs".into()
        }
        (IncidentKind::PrimaryLost, Stage::AwaitingTimeout) => format!(
            "mark it down and restore from backup: changes of the last {} will be lost",
            loss(i)
        ),
        (IncidentKind::StandbyLost, Stage::AwaitingTimeout) => {
            "mark it down, point the replica endpoint to the primary, build a replacement".into()
        }
        (_, Stage::Rebuilding) => format!("replica endpoint moves to {new} once synced"),
        (_, Stage::Restoring) => format!(
            "primary endpoint moves to {new}; changes of the last {} are lost",
            loss(i)
        ),
        (_, Stage::ReplacingStandbys) => "replica endpoint moves to the new standby; then an extra server".into(),
        (_, Stage::AddingServer) => "quorum commit on, then promote the extra server".into(),
        (_, Stage::AwaitingPromotion) => format!("promote {new}; the primary endpoint moves to it"),
        (_, Stage::Forwarding) => format!("delete {}", i.node),
        (_, Stage::AwaitingTimeout) => String::new(),
    }
}
