//! The events one fleet decision builds for a service (node changes, endpoint moves, incident
//! stages), with the reasons an operator reads.

use chrono::{DateTime, Utc};

use crate::model::decide::Decision;
use crate::model::event::{EventKind, NewEvent};
use crate::model::service::ServiceKey;

use super::{Endpoint, Incident, NodeChange, Stage};

/// Events under construction for one service.
pub(super) struct Out<'a> {
    pub(super) service: &'a ServiceKey,
    pub(super) events: Vec<NewEvent>,
}

impl Out<'_> {
    pub(super) fn node(&mut self, node: &str, change: NodeChange, why: impl Into<String>) {
        self.events.push(NewEvent::new(
            EventKind::NodeChanged {
                service: self.service.clone(),
                node: node.to_string(),
                change,
            },
            format!("{}: {}", self.service, why.into()),
        ));
    }

    pub(super) fn endpoint(&mut self, endpoint: Endpoint, from: Option<&String>, to: Option<&str>) {
        let host = endpoint.host(self.service);
        let target = to.map_or_else(|| "unreachable".to_string(), |t| format!("→ {t}"));
        self.events.push(NewEvent::new(
            EventKind::EndpointMoved {
                service: self.service.clone(),
                endpoint,
                from: from.cloned(),
                to: to.map(str::to_string),
            },
            format!("{}: {endpoint} {host} {target}", self.service),
        ));
    }

    pub(super) fn advance(&mut self, inc: &Incident, stage: Stage, next: Option<DateTime<Utc>>) {
        self.advance_with(inc, stage, next, None, None);
    }

    pub(super) fn advance_with(
        &mut self,
        inc: &Incident,
        stage: Stage,
        next_at: Option<DateTime<Utc>>,
        replacement: Option<String>,
        data_loss_s: Option<i64>,
    ) {
        self.events.push(NewEvent::new(
            EventKind::IncidentAdvanced {
                incident_id: inc.incident_id,
                service: self.service.clone(),
                stage,
                next_at,
                replacement,
                data_loss_s,
            },
            format!("{}: incident #{} {stage:?}", self.service, inc.incident_id),
        ));
    }

    pub(super) fn resolve(mut self, inc: &Incident, outcome: String) -> Decision {
        self.events.push(NewEvent::new(
            EventKind::IncidentResolved {
                incident_id: inc.incident_id,
                service: self.service.clone(),
                outcome: outcome.clone(),
            },
            format!(
                "{}: incident #{} resolved: {outcome}",
                self.service, inc.incident_id
            ),
        ));
        self.done()
    }

    pub(super) fn done(self) -> Decision {
        Decision {
            events: self.events,
            notice: None,
        }
    }
}
