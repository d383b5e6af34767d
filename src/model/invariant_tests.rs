//! Property tests: whatever operators and the scheduler do, the pipeline's invariants hold —
//! no cycle (P3), no chain deeper than 3 services (P4), one source per destination (P2), and a
//! destination never moves past its pinned version except when its source is off (V6) or by a
//! critical release (V7).

use chrono::Duration;
use proptest::prelude::*;

use super::testkit::{World, k, v};
use super::{Agenda, Command, EventKind, ServiceType};

const SERVICES: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Step(usize, usize, i64),
    Delete(u64),
    Release(bool),
    Maintenance(usize),
    Validate(usize),
    Power(usize, bool),
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SERVICES, 0..SERVICES, 0i64..=31).prop_map(|(a, b, d)| Op::Step(a, b, d)),
        1 => (1u64..12).prop_map(Op::Delete),
        2 => any::<bool>().prop_map(Op::Release),
        3 => (0..SERVICES).prop_map(Op::Maintenance),
        2 => (0..SERVICES).prop_map(Op::Validate),
        1 => (0..SERVICES, any::<bool>()).prop_map(|(s, on)| Op::Power(s, on)),
        2 => (1i64..96).prop_map(Op::Wait),
    ]
}

fn name(i: usize) -> String {
    format!("s{i}")
}

fn check_shape(w: &World) {
    let state = &w.state;
    let mut destinations = std::collections::HashSet::new();
    for step in state.steps.values() {
        assert!(
            destinations.insert(step.destination.clone()),
            "P2: two sources for {}",
            step.destination
        );
    }
    for key in state.services.keys() {
        // Walking up never revisits a service (P3) and never exceeds 3 services (P4).
        let mut seen = vec![key.clone()];
        let mut current = key.clone();
        while let Some(step) = state.step_into(&current) {
            assert!(
                !seen.contains(&step.source),
                "P3: cycle through {}",
                step.source
            );
            seen.push(step.source.clone());
            current = step.source.clone();
        }
        assert!(seen.len() <= 3, "P4: chain of {} above {key}", seen.len());
        assert!(
            state.depth_below(key) + seen.len() - 1 <= 3,
            "P4: chain through {key} too deep"
        );
    }
}

/// Runs one operation; returns the update-start events it produced with the pin that held
/// the service just before.
fn run(w: &mut World, op: &Op, next_minor: &mut u32) {
    let cmd = match op {
        Op::Step(a, b, d) => Command::CreateStep {
            organization_id: None,
            source: k("p", &name(*a)),
            destination: k("p", &name(*b)),
            auto_validation_delay_days: Some(*d),
        },
        Op::Delete(id) => Command::DeleteStep { step_id: *id },
        Op::Release(critical) => {
            *next_minor += 1;
            Command::PublishRelease {
                service_type: ServiceType::Pg,
                version: v(&format!("15.{next_minor}")),
                critical: *critical,
            }
        }
        Op::Maintenance(s) => Command::MaintenanceStart {
            service: k("p", &name(*s)),
        },
        Op::Validate(s) => Command::ValidateForService {
            service: k("p", &name(*s)),
            comment: None,
        },
        Op::Power(s, on) => Command::SetPower {
            service: k("p", &name(*s)),
            powered: *on,
        },
        Op::Wait(hours) => {
            w.now += Duration::hours(*hours);
            let due: Vec<Command> = w
                .state
                .services
                .values()
                .filter(|s| s.updating.as_ref().is_some_and(|u| u.finishes_at <= w.now))
                .map(|s| Command::FinishUpdate {
                    service: s.key.clone(),
                })
                .chain(
                    w.state
                        .steps
                        .keys()
                        .map(|id| Command::AutoValidate { step_id: *id }),
                )
                .collect();
            for c in due {
                let _ = w.exec_as("system", c);
            }
            return;
        }
    };
    let pins: Vec<_> = w
        .state
        .services
        .keys()
        .map(|key| {
            (
                key.clone(),
                w.state.holding_step(key).map(|s| s.pinned_version.clone()),
            )
        })
        .collect();
    let critical: Vec<_> = w
        .state
        .releases_of(ServiceType::Pg)
        .iter()
        .filter(|r| r.critical)
        .map(|r| r.version.clone())
        .collect();
    let Ok(decision) = w.exec(cmd) else { return };
    for e in decision.events {
        if let EventKind::UpdateStarted {
            service,
            to,
            emergency_override,
            ..
        } = e.kind
        {
            let pin = pins
                .iter()
                .find(|(k, _)| *k == service)
                .and_then(|(_, p)| p.clone());
            if let Some(pin) = pin {
                assert!(
                    to <= pin || (emergency_override && critical.iter().any(|c| *c >= to)),
                    "V1: {service} started {to} past its pin {pin} without a critical release"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pipeline_invariants_hold_under_any_sequence(ops in proptest::collection::vec(op(), 1..60)) {
        let mut w = World::new();
        w.release(ServiceType::Pg, "15.8", false);
        for i in 0..SERVICES {
            w.service("p", &name(i), ServiceType::Pg, "15.8");
        }
        let mut next_minor = 8;
        for op in &ops {
            run(&mut w, op, &mut next_minor);
            check_shape(&w);
            // The agenda built in one pass finds every deadline one refresh per kind finds.
            prop_assert_eq!(
                Agenda::build(&w.state, w.now).entries(),
                Agenda::build_by_refresh(&w.state, w.now).entries()
            );
        }
    }
}
