//! F1–F4 and V5 on a manual clock, to the second: where each endpoint points before, during
//! and after every timeout. The agenda drives time, as the engine's scheduler does.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::model::run::Fault;
use crate::model::service::{NodeStatus, Plan, ServiceType::Pg};
use crate::model::testkit::{World, k, v};
use crate::model::{Agenda, Command, MaintenanceWindow};

fn world(plan: Plan) -> World {
    let mut w = World::new();
    w.now = Utc
        .with_ymd_and_hms(2026, 1, 5, 10, 17, 0)
        .single()
        .expect("time");
    w.project("p", "acme");
    w.ok(Command::CreateService {
        service: k("p", "db"),
        service_type: Pg,
        version: v("15.8"),
        plan: Some(plan),
        maintenance: Some(MaintenanceWindow {
            dow: chrono::Weekday::Sun,
            time: chrono::NaiveTime::from_hms_opt(3, 0, 0).expect("time"),
        }),
    });
    w
}

fn fault(w: &mut World, name: &str, f: Fault) {
    w.ok(Command::SimFault {
        service: k("p", name),
        fault: f,
        clear: false,
    });
}

/// Runs every agenda item due up to `at`, each at its own instant, then sets the clock to `at`.
fn advance_to(w: &mut World, at: DateTime<Utc>) {
    for _ in 0..1000 {
        let agenda = Agenda::build(&w.state, w.now);
        match agenda.first() {
            Some((due_at, due)) if due_at <= at => {
                w.now = due_at.max(w.now);
                w.ok(due.command());
            }
            _ => {
                w.now = at;
                return;
            }
        }
    }
    panic!("agenda does not settle before {at}");
}

fn endpoints(w: &World, name: &str) -> (Option<String>, Option<String>) {
    let e = &w.state.services[&k("p", name)].endpoints;
    (e.primary.clone(), e.replica.clone())
}

fn ep(p: Option<&str>, r: Option<&str>) -> (Option<String>, Option<String>) {
    (p.map(str::to_string), r.map(str::to_string))
}

fn status(w: &World, name: &str, node: &str) -> Option<NodeStatus> {
    w.state.services[&k("p", name)]
        .nodes
        .iter()
        .find(|n| n.name == node)
        .map(|n| n.status)
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

#[test]
fn f1_primary_lost_promotes_the_standby_after_60_s_to_the_second() {
    let mut w = world(Plan::Business);
    let t0 = w.now;
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-2")));
    fault(&mut w, "db", Fault::PrimaryLost);
    advance_to(&mut w, t0 + secs(59));
    // During the timeout the primary endpoint still names the silent node.
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-2")));
    assert_eq!(status(&w, "db", "db-1"), Some(NodeStatus::Unreachable));
    advance_to(&mut w, t0 + secs(60));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-2"), None));
    assert_eq!(status(&w, "db", "db-1"), Some(NodeStatus::Down));
    assert_eq!(status(&w, "db", "db-3"), Some(NodeStatus::Building));
    advance_to(&mut w, t0 + secs(60 + REBUILD_S - 1));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-2"), None));
    advance_to(&mut w, t0 + secs(60 + REBUILD_S));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-2"), Some("db-3")));
    assert_eq!(status(&w, "db", "db-1"), None, "the lost node is deleted");
    let inc = &w.state.incidents[&1];
    assert_eq!(inc.closed_at, Some(t0 + secs(60 + REBUILD_S)));
    assert_eq!(w.state.services[&k("p", "db")].nodes[0].name, "db-2");
}

#[test]
fn f1_node_back_before_its_timeout_moves_nothing() {
    let mut w = world(Plan::Business);
    let t0 = w.now;
    fault(&mut w, "db", Fault::PrimaryLost);
    advance_to(&mut w, t0 + secs(42));
    let line = &incident_lines(&w.state, w.now)[0];
    assert_eq!(line.progress, "primary unreachable 0:42 / 1:00 → promotion");
    fault(&mut w, "db", Fault::NodeBack);
    advance_to(&mut w, t0 + secs(600));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-2")));
    assert_eq!(status(&w, "db", "db-1"), Some(NodeStatus::Up));
    assert!(w.state.open_incident(&k("p", "db")).is_none());
}

#[test]
fn f2_lost_standby_points_the_replica_endpoint_to_the_primary_after_300_s() {
    let mut w = world(Plan::Business);
    let t0 = w.now;
    fault(&mut w, "db", Fault::StandbyLost);
    advance_to(&mut w, t0 + secs(299));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-2")));
    advance_to(&mut w, t0 + secs(300));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-1")));
    advance_to(&mut w, t0 + secs(300 + REBUILD_S - 1));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-1")));
    advance_to(&mut w, t0 + secs(300 + REBUILD_S));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-3")));
}

#[test]
fn f2_standby_timeout_is_configurable() {
    let mut w = world(Plan::Premium);
    w.ok(Command::SetStandbyTimeout {
        service: k("p", "db"),
        seconds: 120,
    });
    let refused = w.exec(Command::SetStandbyTimeout {
        service: k("p", "db"),
        seconds: 5,
    });
    assert!(refused.is_err_and(|e| e.to_string().contains("30..=3600")));
    let t0 = w.now;
    fault(&mut w, "db", Fault::StandbyLost);
    advance_to(&mut w, t0 + secs(119));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-2")));
    advance_to(&mut w, t0 + secs(120));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-1")));
    assert_eq!(status(&w, "db", "db-4"), Some(NodeStatus::Building));
}

#[test]
fn f3_startup_plan_restores_from_backup_and_shows_the_data_loss_window() {
    let mut w = world(Plan::Startup);
    let t0 = w.now; // 10:17:00; the last backup was at 06:00.
    assert!(
        w.exec(Command::SimFault {
            service: k("p", "db"),
            fault: Fault::StandbyLost,
            clear: false
        })
        .is_err_and(|e| e.rule_id() == Some("F3"))
    );
    fault(&mut w, "db", Fault::PrimaryLost);
    let line = &incident_lines(&w.state, w.now)[0];
    assert_eq!(
        line.progress,
        "primary unreachable 0:00 / 1:00 → restore from backup"
    );
    assert!(
        line.next
            .contains("changes of the last 4:17:00 will be lost"),
        "{}",
        line.next
    );
    advance_to(&mut w, t0 + secs(59));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), None));
    advance_to(&mut w, t0 + secs(60));
    assert_eq!(endpoints(&w, "db"), ep(None, None));
    advance_to(&mut w, t0 + secs(60 + RESTORE_S));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-2"), None));
    let inc = &w.state.incidents[&1];
    assert_eq!(inc.data_loss_s, Some(4 * 3600 + 17 * 60));
    assert!(
        inc.outcome
            .as_deref()
            .is_some_and(|o| o.contains("4:17:00"))
    );
}

#[test]
fn f4_maintenance_on_business_runs_the_controlled_switchover_step_by_step() {
    let mut w = world(Plan::Business);
    w.release(Pg, "15.9", false);
    let t0 = w.now;
    w.ok(Command::MaintenanceStart {
        service: k("p", "db"),
    }); // FixedPlanner: 15 minutes, so each build stage takes 5.
    advance_to(&mut w, t0);
    assert_eq!(
        status(&w, "db", "db-3"),
        Some(NodeStatus::Building),
        "F4.1 new standby"
    );
    advance_to(&mut w, t0 + secs(299));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-2")));
    advance_to(&mut w, t0 + secs(300));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-3")));
    assert_eq!(status(&w, "db", "db-2"), None, "old standby deleted");
    assert_eq!(
        status(&w, "db", "db-4"),
        Some(NodeStatus::Building),
        "F4.2 extra server"
    );
    advance_to(&mut w, t0 + secs(600));
    assert!(w.state.incidents[&1].quorum_commit, "F4.3 quorum commit");
    advance_to(&mut w, t0 + secs(899));
    assert_eq!(endpoints(&w, "db"), ep(Some("db-1"), Some("db-3")));
    advance_to(&mut w, t0 + secs(900));
    assert_eq!(
        endpoints(&w, "db"),
        ep(Some("db-4"), Some("db-3")),
        "F4.4 promoted"
    );
    assert_eq!(
        status(&w, "db", "db-1"),
        Some(NodeStatus::Forwarding),
        "F4.5"
    );
    assert_eq!(w.version("db"), v("15.9"));
    advance_to(&mut w, t0 + secs(900 + FORWARD_S - 1));
    assert_eq!(status(&w, "db", "db-1"), Some(NodeStatus::Forwarding));
    advance_to(&mut w, t0 + secs(900 + FORWARD_S));
    assert_eq!(status(&w, "db", "db-1"), None);
    let svc = &w.state.services[&k("p", "db")];
    assert_eq!(svc.nodes.len(), 2);
    assert!(svc.nodes.iter().all(|n| n.version == v("15.9")));
    assert!(w.state.open_incident(&k("p", "db")).is_none());
}

#[test]
fn v5_a_replaced_node_of_a_destination_comes_up_on_the_pinned_version() {
    let mut w = world(Plan::Business);
    w.ok(Command::CreateService {
        service: k("p", "dev"),
        service_type: Pg,
        version: v("15.8"),
        plan: Some(Plan::Hobbyist),
        maintenance: None,
    });
    w.step("dev", "db", 7).expect("step");
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let t0 = w.now;
    fault(&mut w, "db", Fault::StandbyLost);
    advance_to(&mut w, t0 + secs(300));
    let svc = &w.state.services[&k("p", "db")];
    let new = svc
        .nodes
        .iter()
        .find(|n| n.name == "db-3")
        .expect("replacement");
    assert_eq!(
        new.version,
        v("15.8"),
        "pinned, not the newest release 15.9"
    );
}

#[test]
fn a_second_loss_while_an_incident_is_open_is_refused_with_a_way_out() {
    let mut w = world(Plan::Premium);
    fault(&mut w, "db", Fault::StandbyLost);
    let e = w
        .exec(Command::SimFault {
            service: k("p", "db"),
            fault: Fault::PrimaryLost,
            clear: false,
        })
        .expect_err("refused");
    assert!(e.to_string().contains("node-back"), "{e}");
}

#[test]
fn folding_the_journal_to_an_instant_gives_the_state_recorded_live_then() {
    use crate::model::testkit::FixedPlanner;
    use crate::model::{Event, travel};
    let mut journal: Vec<Event> = Vec::new();
    let mut live: Vec<(DateTime<Utc>, String)> = Vec::new();
    let exec = |w: &mut World, journal: &mut Vec<Event>, cmd: Command| {
        let d = w
            .state
            .decide(&cmd, "tester", w.now, &FixedPlanner)
            .expect("accepted");
        for new in d.events {
            let e = Event {
                seq: w.state.head + 1,
                at: w.now,
                actor: "tester".into(),
                reason: new.reason,
                kind: new.kind,
            };
            w.state.apply(&e);
            journal.push(e);
        }
    };
    let mut w = World::new();
    exec(
        &mut w,
        &mut journal,
        Command::CreateProject {
            name: "p".into(),
            organization_id: None,
        },
    );
    exec(
        &mut w,
        &mut journal,
        Command::CreateService {
            service: k("p", "db"),
            service_type: Pg,
            version: v("15.8"),
            plan: Some(Plan::Premium),
            maintenance: None,
        },
    );
    let t0 = w.now;
    exec(
        &mut w,
        &mut journal,
        Command::SimFault {
            service: k("p", "db"),
            fault: Fault::PrimaryLost,
            clear: false,
        },
    );
    for s in [30, 60, 200, 300] {
        let at = t0 + secs(s);
        let due = Agenda::build(&w.state, w.now).first();
        if let Some((due_at, due)) = due.filter(|(due_at, _)| *due_at <= at) {
            w.now = due_at;
            exec(&mut w, &mut journal, due.command());
        }
        w.now = at;
        live.push((at, serde_json::to_string(&w.state).expect("json")));
    }
    for (at, recorded) in &live {
        let folded = travel::state_at(&journal, *at);
        assert_eq!(
            &serde_json::to_string(&folded).expect("json"),
            recorded,
            "at {at}"
        );
    }
    let before = travel::state_at(&journal, t0 + secs(59));
    assert_eq!(
        before.services[&k("p", "db")].endpoints.primary.as_deref(),
        Some("db-1")
    );
}

#[test]
fn closed_incidents_leave_the_state_after_the_retention_while_recent_ones_stay() {
    use crate::model::state::INCIDENT_RETENTION_DAYS;
    let mut w = world(Plan::Business);
    let t0 = w.now;
    fault(&mut w, "db", Fault::PrimaryLost);
    advance_to(&mut w, t0 + secs(60 + REBUILD_S));
    assert!(w.state.incidents[&1].closed_at.is_some());
    // A second loss a day later: both stay (the first closed within the retention).
    let t1 = t0 + Duration::days(1);
    advance_to(&mut w, t1);
    fault(&mut w, "db", Fault::StandbyLost);
    advance_to(&mut w, t1 + Duration::hours(1));
    assert_eq!(w.state.incidents.len(), 2, "{:?}", w.state.incidents.keys());
    assert!(w.state.incidents.values().all(|i| i.closed_at.is_some()));
    // A third, past the retention of the first: the first leaves the state, the others stay,
    // and the service's own list (the index) agrees.
    let t2 = t0 + Duration::days(INCIDENT_RETENTION_DAYS) + Duration::hours(2);
    advance_to(&mut w, t2);
    fault(&mut w, "db", Fault::StandbyLost);
    advance_to(&mut w, t2 + Duration::hours(1));
    let ids: Vec<IncidentId> = w.state.incidents.keys().copied().collect();
    assert_eq!(ids, vec![2, 3]);
    let listed: Vec<IncidentId> = w
        .state
        .incidents_of(&k("p", "db"))
        .map(|i| i.incident_id)
        .collect();
    assert_eq!(listed, vec![2, 3]);
}
