//! Deciding node faults and the failover/switchover stages (F1–F4).

use chrono::{DateTime, Duration, Utc};

use crate::model::command::Command;
use crate::model::decide::Decision;
use crate::model::error::RuleError;
use crate::model::event::{EventKind, NewEvent};
use crate::model::run::Fault;
use crate::model::service::{NodeRole, NodeStatus, Service, ServiceKey};
use crate::model::state::State;
use crate::model::version::Version;

use super::out::Out;
use super::{
    DEFAULT_STANDBY_TIMEOUT_S, Endpoint, Incident, IncidentKind, NodeChange, PRIMARY_TIMEOUT_S,
    REBUILD_S, RESTORE_S, STANDBY_TIMEOUT_S, Stage, format_clock, last_backup_before,
};

fn nothing(notice: String) -> Result<Decision, RuleError> {
    Ok(Decision {
        events: Vec::new(),
        notice: Some(notice),
    })
}

impl State {
    /// Decides node faults, fleet stages and the standby timeout; `None` for other commands.
    pub(crate) fn decide_fleet(
        &self,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Option<Result<Decision, RuleError>> {
        Some(match command {
            Command::SimFault {
                service,
                fault,
                clear,
            } if fault.is_node_fault() => self.node_fault(service, *fault, *clear, now),
            Command::AdvanceFleet { service } => self.advance_fleet(service, now),
            Command::SetStandbyTimeout { service, seconds } => {
                self.set_standby_timeout(service, *seconds)
            }
            _ => return None,
        })
    }

    /// The open incident of a service, if any.
    #[must_use]
    pub fn open_incident(&self, service: &ServiceKey) -> Option<&Incident> {
        self.incidents_of(service).rev().find(|i| i.is_open())
    }

    /// When lockstep acts next on a service's nodes: an incident's next stage, or the start of
    /// a controlled switchover (F4) for an update being applied on a plan with standbys.
    #[must_use]
    pub fn next_fleet_action_at(&self, service: &ServiceKey) -> Option<DateTime<Utc>> {
        match self.services.get(service) {
            Some(svc) => self.fleet_action_at(svc),
            None => self.open_incident(service).and_then(|i| i.next_at),
        }
    }

    /// [`State::next_fleet_action_at`] for a service at hand, in one pass over its incidents.
    #[must_use]
    pub fn fleet_action_at(&self, svc: &Service) -> Option<DateTime<Utc>> {
        let mut open = None;
        let mut begun = false;
        let mut last_closed: Option<DateTime<Utc>> = None;
        for i in self.incidents_of(&svc.key) {
            match i.closed_at {
                None => open = Some(i),
                Some(closed) => last_closed = last_closed.max(Some(closed)),
            }
            if let Some(u) = &svc.updating {
                begun |= i.kind == IncidentKind::Switchover && i.opened_at >= u.started_at;
            }
        }
        if let Some(i) = open {
            return i.next_at;
        }
        let u = svc.updating.as_ref()?;
        let has_standby = svc.nodes.iter().any(|n| n.role == NodeRole::Standby);
        (has_standby && !begun).then(|| last_closed.map_or(u.started_at, |c| c.max(u.started_at)))
    }

    /// V5: the version a replaced node comes up on: the pinned version of a destination, the
    /// target of an update being applied, else the version the service runs.
    #[must_use]
    pub fn replacement_version(&self, svc: &Service) -> Version {
        if let Some(u) = &svc.updating {
            return u.target.clone();
        }
        self.step_into(&svc.key)
            .map_or_else(|| svc.version.clone(), |s| s.pinned_version.clone())
    }

    fn set_standby_timeout(
        &self,
        service: &ServiceKey,
        seconds: i64,
    ) -> Result<Decision, RuleError> {
        self.service(service)?;
        let Ok(s) = u32::try_from(seconds)
            .map_err(|_| ())
            .and_then(|s| STANDBY_TIMEOUT_S.contains(&seconds).then_some(s).ok_or(()))
        else {
            return Err(RuleError::rule(
                "F2",
                format!(
                    "standby timeout {seconds} s for {service} is out of range: use {}..={} seconds",
                    STANDBY_TIMEOUT_S.start(),
                    STANDBY_TIMEOUT_S.end()
                ),
            ));
        };
        Ok(Decision {
            events: vec![NewEvent::new(
                EventKind::StandbyTimeoutSet {
                    service: service.clone(),
                    seconds: s,
                },
                format!("{service}: lost standbys are replaced after {s} s (F2)"),
            )],
            notice: None,
        })
    }

    fn node_fault(
        &self,
        service: &ServiceKey,
        fault: Fault,
        clear: bool,
        now: DateTime<Utc>,
    ) -> Result<Decision, RuleError> {
        let svc = self.service(service)?;
        if clear {
            return Err(RuleError::conflict(format!(
                "{fault} is not a fault to clear: a lost node comes back with `lockstep sim fault --project {} {} node-back`",
                service.project, service.name
            )));
        }
        let open = self.open_incident(service);
        if fault == Fault::NodeBack {
            return match open {
                Some(i)
                    if i.stage == Stage::AwaitingTimeout && i.kind != IncidentKind::Switchover =>
                {
                    let mut out = Out {
                        service,
                        events: Vec::new(),
                    };
                    let away = format_clock(now - i.opened_at);
                    out.node(
                        &i.node,
                        NodeChange::Back,
                        format!("node {} answers again", i.node),
                    );
                    let limit = format_clock(Duration::seconds(i64::from(i.timeout_s)));
                    Ok(out.resolve(
                        i,
                        format!(
                            "{} came back after {away}, before its {limit} timeout: nothing moved",
                            i.node
                        ),
                    ))
                }
                _ => nothing(format!(
                    "no lost node of {service} is waiting for its timeout; nodes marked down are replaced, not brought back"
                )),
            };
        }
        if !svc.powered {
            return Err(RuleError::conflict(format!(
                "{service} is powered off: it has no running node to lose"
            )));
        }
        if let Some(i) = open {
            return Err(RuleError::conflict(format!(
                "{service} already has incident #{} open ({} {:?}): wait until it resolves, or send node-back",
                i.incident_id, i.node, i.stage
            )));
        }
        let (kind, node, timeout_s) = if fault == Fault::PrimaryLost {
            let primary = svc.endpoints.primary.clone().or_else(|| {
                svc.nodes
                    .iter()
                    .find(|n| n.role == NodeRole::Primary)
                    .map(|n| n.name.clone())
            });
            let Some(p) = primary else {
                return Err(RuleError::conflict(format!(
                    "{service} has no primary to lose"
                )));
            };
            (IncidentKind::PrimaryLost, p, PRIMARY_TIMEOUT_S)
        } else {
            let up = |n: &&crate::model::service::Node| {
                n.role == NodeRole::Standby && n.status == NodeStatus::Up
            };
            let standby = svc
                .nodes
                .iter()
                .filter(up)
                .find(|n| svc.endpoints.replica.as_ref() == Some(&n.name))
                .or_else(|| svc.nodes.iter().find(up));
            let Some(s) = standby else {
                return Err(RuleError::rule(
                    "F3",
                    format!(
                        "{service} ({} plan) has no standby to lose: plans without standbys recover from backup (try primary-lost)",
                        svc.plan
                    ),
                ));
            };
            let t = svc.standby_timeout_s.unwrap_or(DEFAULT_STANDBY_TIMEOUT_S);
            (IncidentKind::StandbyLost, s.name.clone(), t)
        };
        let incident_id = self.incidents.keys().next_back().map_or(1, |id| id + 1);
        let mut out = Out {
            service,
            events: Vec::new(),
        };
        out.node(
            &node,
            NodeChange::Lost,
            format!("node {node} stopped answering"),
        );
        let next_at = now + Duration::seconds(i64::from(timeout_s));
        out.events.push(NewEvent::new(
            EventKind::IncidentOpened {
                incident_id,
                service: service.clone(),
                kind,
                node: node.clone(),
                timeout_s,
                next_at: Some(next_at),
            },
            format!("{service}: incident #{incident_id}: {node} unreachable, acting after {timeout_s} s unless it is back"),
        ));
        Ok(out.done())
    }

    fn advance_fleet(
        &self,
        service: &ServiceKey,
        now: DateTime<Utc>,
    ) -> Result<Decision, RuleError> {
        let svc = self.service(service)?;
        let Some(inc) = self.open_incident(service) else {
            return match self.next_fleet_action_at(service) {
                Some(at) if at <= now => Ok(self.begin_switchover(svc, now)),
                _ => nothing(format!("nothing to do on the nodes of {service}")),
            };
        };
        if inc.next_at.is_none_or(|at| at > now) {
            return nothing(format!(
                "incident #{} of {service} is not due",
                inc.incident_id
            ));
        }
        let mut out = Out {
            service,
            events: Vec::new(),
        };
        let fresh = next_node_name(svc);
        let version = self.replacement_version(svc);
        let primary = svc.endpoints.primary.clone();
        Ok(match (inc.kind, inc.stage) {
            (IncidentKind::PrimaryLost, Stage::AwaitingTimeout) => {
                out.node(
                    &inc.node,
                    NodeChange::MarkedDown,
                    format!(
                        "{} still unreachable after {} s: marked down",
                        inc.node, inc.timeout_s
                    ),
                );
                let standby = svc
                    .nodes
                    .iter()
                    .find(|n| n.role == NodeRole::Standby && n.status == NodeStatus::Up);
                if let Some(sb) = standby {
                    out.node(
                        &sb.name,
                        NodeChange::Promoted,
                        format!("standby {} promoted to primary", sb.name),
                    );
                    out.endpoint(Endpoint::Primary, primary.as_ref(), Some(&sb.name));
                    if svc.endpoints.replica.is_some() {
                        out.endpoint(Endpoint::Replica, svc.endpoints.replica.as_ref(), None);
                    }
                    let ready_at = now + Duration::seconds(REBUILD_S);
                    out.node(
                        &fresh,
                        build(NodeRole::Standby, &version, false, ready_at),
                        format!(
                            "new standby {fresh} building on {version}, syncing from {}",
                            sb.name
                        ),
                    );
                    out.advance_with(inc, Stage::Rebuilding, Some(ready_at), Some(fresh), None);
                } else {
                    out.endpoint(Endpoint::Primary, primary.as_ref(), None);
                    let ready_at = now + Duration::seconds(RESTORE_S);
                    let loss = (inc.opened_at - last_backup_before(inc.opened_at)).num_seconds();
                    out.node(
                        &fresh,
                        build(NodeRole::Standby, &version, true, ready_at),
                        format!("no standby (F3): {fresh} restoring from backup on {version}"),
                    );
                    out.advance_with(
                        inc,
                        Stage::Restoring,
                        Some(ready_at),
                        Some(fresh),
                        Some(loss),
                    );
                }
                out.done()
            }
            (IncidentKind::StandbyLost, Stage::AwaitingTimeout) => {
                out.node(
                    &inc.node,
                    NodeChange::MarkedDown,
                    format!(
                        "{} still unreachable after {} s: marked down",
                        inc.node, inc.timeout_s
                    ),
                );
                if svc.endpoints.replica.as_ref() == Some(&inc.node) {
                    out.endpoint(Endpoint::Replica, Some(&inc.node), primary.as_deref());
                }
                let ready_at = now + Duration::seconds(REBUILD_S);
                out.node(
                    &fresh,
                    build(NodeRole::Standby, &version, false, ready_at),
                    format!("replacement standby {fresh} building on {version}"),
                );
                out.advance_with(inc, Stage::Rebuilding, Some(ready_at), Some(fresh), None);
                out.done()
            }
            (_, Stage::Rebuilding | Stage::Restoring) => {
                let new = inc.replacement.clone().unwrap_or_default();
                if inc.stage == Stage::Restoring {
                    out.node(
                        &new,
                        NodeChange::Promoted,
                        format!("{new} restored from backup and serving as primary"),
                    );
                    out.node(
                        &inc.node,
                        NodeChange::Removed,
                        format!("{} deleted", inc.node),
                    );
                    out.endpoint(Endpoint::Primary, None, Some(&new));
                    let lost = format_clock(Duration::seconds(inc.data_loss_s.unwrap_or(0)));
                    return Ok(out.resolve(inc, format!("restored from backup on {new}; changes of the last {lost} before the loss are gone (F3)")));
                }
                out.node(&new, NodeChange::Ready, format!("standby {new} synced"));
                out.node(
                    &inc.node,
                    NodeChange::Removed,
                    format!("{} deleted", inc.node),
                );
                out.endpoint(
                    Endpoint::Replica,
                    svc.endpoints.replica.as_ref(),
                    Some(&new),
                );
                out.resolve(
                    inc,
                    format!("{} replaced by {new}; replica endpoint on {new}", inc.node),
                )
            }
            (IncidentKind::Switchover, stage) => self.switchover_stage(svc, inc, stage, out, now),
            (_, stage) => {
                return nothing(format!(
                    "incident #{} has nothing due in {stage:?}",
                    inc.incident_id
                ));
            }
        })
    }
}

pub(super) fn build(
    role: NodeRole,
    version: &Version,
    from_backup: bool,
    ready_at: DateTime<Utc>,
) -> NodeChange {
    NodeChange::BuildStarted {
        role,
        version: version.clone(),
        from_backup,
        ready_at,
    }
}

/// F4: each of the three build stages takes a third of the update (at least a second).
pub(super) fn stage_span(svc: &Service) -> Duration {
    let whole = svc
        .updating
        .as_ref()
        .map_or(Duration::minutes(10), |u| u.finishes_at - u.started_at);
    (whole / 3).max(Duration::seconds(1))
}

pub(super) fn next_node_index(svc: &Service) -> u32 {
    let prefix = format!("{}-", svc.key.name);
    svc.nodes
        .iter()
        .filter_map(|n| n.name.strip_prefix(&prefix)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

pub(super) fn next_node_name(svc: &Service) -> String {
    format!("{}-{}", svc.key.name, next_node_index(svc))
}
