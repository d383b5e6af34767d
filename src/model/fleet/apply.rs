//! Folding node, endpoint and incident events into the state.

use crate::model::event::{Event, EventKind};
use crate::model::service::{Node, NodeRole, NodeStatus, Service};
use crate::model::state::State;

use super::{Endpoint, Incident, NodeChange, Stage};

impl State {
    /// Folds the events of F1–F4; other events are left alone.
    pub(crate) fn apply_fleet(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            EventKind::NodeChanged {
                service,
                node,
                change,
            } => {
                if let Some(svc) = self.services.get_mut(service) {
                    change_node(svc, node, change);
                }
            }
            EventKind::EndpointMoved {
                service,
                endpoint,
                to,
                ..
            } => {
                if let Some(svc) = self.services.get_mut(service) {
                    match endpoint {
                        Endpoint::Primary => svc.endpoints.primary.clone_from(to),
                        Endpoint::Replica => svc.endpoints.replica.clone_from(to),
                    }
                }
            }
            EventKind::QuorumCommitSet { service, on } => {
                let open = self.open_incident(service).map(|i| i.incident_id);
                if let Some(i) = open.and_then(|id| self.incidents.get_mut(&id)) {
                    i.quorum_commit = *on;
                }
            }
            EventKind::IncidentOpened {
                incident_id,
                service,
                kind,
                node,
                timeout_s,
                next_at,
            } => {
                self.index_incident(service, *incident_id);
                self.incidents.insert(
                    *incident_id,
                    Incident {
                        incident_id: *incident_id,
                        service: service.clone(),
                        kind: *kind,
                        node: node.clone(),
                        opened_at: at,
                        timeout_s: *timeout_s,
                        stage: Stage::AwaitingTimeout,
                        next_at: *next_at,
                        replacement: None,
                        data_loss_s: None,
                        quorum_commit: false,
                        closed_at: None,
                        outcome: None,
                    },
                );
            }
            EventKind::IncidentAdvanced {
                incident_id,
                stage,
                next_at,
                replacement,
                data_loss_s,
                ..
            } => {
                if let Some(i) = self.incidents.get_mut(incident_id) {
                    i.stage = *stage;
                    i.next_at = *next_at;
                    if replacement.is_some() {
                        i.replacement.clone_from(replacement);
                    }
                    if data_loss_s.is_some() {
                        i.data_loss_s = *data_loss_s;
                    }
                }
            }
            EventKind::IncidentResolved {
                incident_id,
                outcome,
                ..
            } => {
                if let Some(i) = self.incidents.get_mut(incident_id) {
                    i.stage = Stage::Resolved;
                    i.next_at = None;
                    i.closed_at = Some(at);
                    i.outcome = Some(outcome.clone());
                    let service = i.service.clone();
                    self.forget_old_incidents(&service, at);
                }
            }
            EventKind::StandbyTimeoutSet { service, seconds } => {
                if let Some(svc) = self.services.get_mut(service) {
                    svc.standby_timeout_s = Some(*seconds);
                }
            }
            _ => {}
        }
    }
}

fn change_node(svc: &mut Service, name: &str, change: &NodeChange) {
    if let NodeChange::BuildStarted { role, version, .. } = change {
        svc.nodes.push(Node {
            name: name.to_string(),
            role: *role,
            version: version.clone(),
            status: NodeStatus::Building,
        });
        return;
    }
    if matches!(change, NodeChange::Removed) {
        svc.nodes.retain(|n| n.name != name);
        return;
    }
    if matches!(change, NodeChange::Promoted) {
        for n in &mut svc.nodes {
            if n.role == NodeRole::Primary && n.name != name {
                n.role = NodeRole::Former;
            }
        }
        if let Some(i) = svc.nodes.iter().position(|n| n.name == name) {
            let node = svc.nodes.remove(i);
            svc.nodes.insert(0, node);
        }
    }
    let Some(node) = svc.nodes.iter_mut().find(|n| n.name == name) else {
        return;
    };
    node.status = match change {
        NodeChange::Lost => NodeStatus::Unreachable,
        NodeChange::MarkedDown => NodeStatus::Down,
        NodeChange::Forwarding { .. } => NodeStatus::Forwarding,
        NodeChange::Back | NodeChange::Ready | NodeChange::Promoted => NodeStatus::Up,
        NodeChange::BuildStarted { .. } | NodeChange::Removed => node.status,
    };
    if matches!(change, NodeChange::Promoted) {
        node.role = NodeRole::Primary;
    }
}
