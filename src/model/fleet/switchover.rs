//! F4: the controlled switchover during maintenance, stage by stage.

use chrono::{DateTime, Duration, Utc};

use crate::model::decide::Decision;
use crate::model::event::{EventKind, NewEvent};
use crate::model::service::{NodeRole, NodeStatus, Service};
use crate::model::state::State;

use super::decide::{build, next_node_index, next_node_name, stage_span};
use super::out::Out;
use super::{Endpoint, FORWARD_S, Incident, IncidentKind, NodeChange, Stage};

impl State {
    pub(super) fn begin_switchover(&self, svc: &Service, now: DateTime<Utc>) -> Decision {
        let service = &svc.key;
        let mut out = Out {
            service,
            events: Vec::new(),
        };
        let incident_id = self.incidents.keys().next_back().map_or(1, |id| id + 1);
        let old = svc.endpoints.primary.clone().unwrap_or_default();
        out.events.push(NewEvent::new(
            EventKind::IncidentOpened {
                incident_id,
                service: service.clone(),
                kind: IncidentKind::Switchover,
                node: old.clone(),
                timeout_s: 0,
                next_at: None,
            },
            format!(
                "{service}: incident #{incident_id}: controlled switchover away from {old} (F4)"
            ),
        ));
        let version = self.replacement_version(svc);
        let third = stage_span(svc);
        let standbys = svc.nodes.iter().filter(|n| n.role == NodeRole::Standby);
        for (index, sb) in (next_node_index(svc)..).zip(standbys) {
            let name = format!("{}-{index}", svc.key.name);
            out.node(
                &name,
                build(NodeRole::Standby, &version, true, now + third),
                format!(
                    "F4.1: {name} restoring from backup on {version} to replace {}",
                    sb.name
                ),
            );
        }
        let inc = Incident {
            incident_id,
            service: service.clone(),
            kind: IncidentKind::Switchover,
            node: old,
            opened_at: now,
            timeout_s: 0,
            stage: Stage::AwaitingTimeout,
            next_at: None,
            replacement: None,
            data_loss_s: None,
            quorum_commit: false,
            closed_at: None,
            outcome: None,
        };
        out.advance(&inc, Stage::ReplacingStandbys, Some(now + third));
        out.done()
    }

    pub(super) fn switchover_stage(
        &self,
        svc: &Service,
        inc: &Incident,
        stage: Stage,
        mut out: Out<'_>,
        now: DateTime<Utc>,
    ) -> Decision {
        let third = stage_span(svc);
        match stage {
            Stage::ReplacingStandbys => {
                let built: Vec<&str> = svc
                    .nodes
                    .iter()
                    .filter(|n| n.status == NodeStatus::Building)
                    .map(|n| n.name.as_str())
                    .collect();
                for n in &built {
                    out.node(n, NodeChange::Ready, format!("F4.1: standby {n} synced"));
                }
                out.endpoint(
                    Endpoint::Replica,
                    svc.endpoints.replica.as_ref(),
                    built.first().copied(),
                );
                for old in svc
                    .nodes
                    .iter()
                    .filter(|n| n.role == NodeRole::Standby && n.status != NodeStatus::Building)
                {
                    out.node(
                        &old.name,
                        NodeChange::Removed,
                        format!("F4.1: old standby {} deleted", old.name),
                    );
                }
                let extra = next_node_name(svc);
                let version = self.replacement_version(svc);
                out.node(
                    &extra,
                    build(NodeRole::Standby, &version, true, now + third),
                    format!("F4.2: extra server {extra} restoring from backup on {version}"),
                );
                out.advance_with(
                    inc,
                    Stage::AddingServer,
                    Some(now + third),
                    Some(extra),
                    None,
                );
            }
            Stage::AddingServer => {
                let extra = inc.replacement.clone().unwrap_or_default();
                out.node(
                    &extra,
                    NodeChange::Ready,
                    format!("F4.2: extra server {extra} synced with {}", inc.node),
                );
                out.events.push(NewEvent::new(
                    EventKind::QuorumCommitSet {
                        service: svc.key.clone(),
                        on: true,
                    },
                    format!(
                        "{}: F4.3: replication set to quorum-commit synchronous",
                        svc.key
                    ),
                ));
                let at = svc
                    .updating
                    .as_ref()
                    .map_or(now, |u| u.finishes_at.max(now));
                out.advance(inc, Stage::AwaitingPromotion, Some(at));
            }
            Stage::AwaitingPromotion => {
                let extra = inc.replacement.clone().unwrap_or_default();
                out.node(
                    &extra,
                    NodeChange::Promoted,
                    format!("F4.4: {extra} promoted to primary"),
                );
                out.endpoint(
                    Endpoint::Primary,
                    svc.endpoints.primary.as_ref(),
                    Some(&extra),
                );
                if svc.endpoints.replica.as_ref() == Some(&extra) {
                    let other = svc
                        .nodes
                        .iter()
                        .find(|n| n.role == NodeRole::Standby && n.name != extra)
                        .map(|n| n.name.as_str());
                    out.endpoint(Endpoint::Replica, Some(&extra), other);
                }
                let until = now + Duration::seconds(FORWARD_S);
                out.node(
                    &inc.node,
                    NodeChange::Forwarding {
                        to: extra.clone(),
                        until,
                    },
                    format!(
                        "F4.5: old primary {} forwards TCP to {extra} for {FORWARD_S} s",
                        inc.node
                    ),
                );
                out.advance(inc, Stage::Forwarding, Some(until));
            }
            _ => {
                out.node(
                    &inc.node,
                    NodeChange::Removed,
                    format!("old primary {} deleted after forwarding", inc.node),
                );
                out.events.push(NewEvent::new(
                    EventKind::QuorumCommitSet {
                        service: svc.key.clone(),
                        on: false,
                    },
                    format!(
                        "{}: switchover done: replication back to asynchronous",
                        svc.key
                    ),
                ));
                let primary = svc.endpoints.primary.clone().unwrap_or_default();
                return out.resolve(
                    inc,
                    format!("controlled switchover done: {primary} is primary"),
                );
            }
        }
        out.done()
    }
}
