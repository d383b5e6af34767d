//! The demo fleet's occasional incident: every few simulated hours a node somewhere stops
//! answering, so the incidents pane has something to show within minutes of opening the
//! demo. Only on the demo fleet (never on a database the operator opened), never read-only.

use chrono::{DateTime, Utc};

use crate::model::run::Fault;
use crate::model::{Command, State};

use super::action::Effect;

/// Simulated hours between two demo incidents (at the demo's ×3600, twelve seconds).
pub const EVERY_HOURS: i64 = 12;

/// The fault to inject when the clock moved from `before` to `after`, if a demo incident is
/// due: a service with standbys and no open incident, picked by the hour, losing its
/// primary or a standby in turn.
#[must_use]
pub fn due(state: &State, before: DateTime<Utc>, after: DateTime<Utc>) -> Option<Effect> {
    let period = EVERY_HOURS * 3600;
    let slot = after.timestamp().div_euclid(period);
    if slot == before.timestamp().div_euclid(period) || after <= before {
        return None;
    }
    let candidates: Vec<_> = state
        .services
        .values()
        .filter(|s| s.powered && s.plan.node_count() > 1 && s.updating.is_none())
        .filter(|s| state.incidents_of(&s.key).all(|i| !i.is_open()))
        .collect();
    let n = i64::try_from(candidates.len()).ok().filter(|n| *n > 0)?;
    let pick = usize::try_from(slot.rem_euclid(n)).ok()?;
    let svc = candidates.get(pick)?;
    let fault = if slot % 2 == 0 {
        Fault::PrimaryLost
    } else {
        Fault::StandbyLost
    };
    Some(Effect::Simulate {
        label: format!("demo: {} {fault}", svc.key),
        command: Box::new(Command::SimFault {
            service: svc.key.clone(),
            fault,
            clear: false,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceType;
    use crate::model::testkit::{World, k};

    #[test]
    fn one_fault_per_period_on_a_service_with_standbys_without_an_open_incident() {
        let mut w = World::new();
        w.service("p", "a", ServiceType::Pg, "15.8");
        w.service("p", "b", ServiceType::Pg, "15.8");
        let t0 = w.now;
        let hour = chrono::Duration::hours(1);
        assert_eq!(due(&w.state, t0, t0 + hour), None, "inside one period");
        let crossing = t0 + chrono::Duration::hours(EVERY_HOURS);
        let Some(Effect::Simulate { command, .. }) = due(&w.state, t0, crossing) else {
            panic!("a fault is due when a period boundary is crossed");
        };
        let Command::SimFault { service, fault, .. } = *command else {
            panic!("a node fault");
        };
        assert!(matches!(fault, Fault::PrimaryLost | Fault::StandbyLost));
        // Once that service has an open incident, the next one goes elsewhere.
        w.ok(Command::SimFault {
            service: service.clone(),
            fault: Fault::PrimaryLost,
            clear: false,
        });
        for n in 2..6 {
            let after = t0 + chrono::Duration::hours(EVERY_HOURS * n);
            let before = after - hour;
            if let Some(Effect::Simulate { command, .. }) = due(&w.state, before, after) {
                let Command::SimFault { service: other, .. } = *command else {
                    panic!("a node fault");
                };
                assert_ne!(other, service, "never on a service already in trouble");
                assert!(other == k("p", "a") || other == k("p", "b"));
            }
        }
        assert_eq!(due(&w.state, crossing, t0), None, "time never runs back");
    }
}
