//! Human and JSON output of reads.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Event, Service, State, Step, StepView};

use super::table::{Table, span};

pub use super::table::{when, when_relative};

/// `2026-01-06 03:12:07 UTC`.
#[must_use]
pub fn when_seconds(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "—".into(), |v| v.to_string())
}

/// One history line: `#12 2026-01-06 03:12:00 UTC alice  version_validated  reason`.
#[must_use]
pub fn event_line(e: &Event) -> String {
    format!(
        "#{:<5} {}  {:<8} {:<18} {}",
        e.seq,
        when_seconds(e.at),
        e.actor,
        e.kind.type_name(),
        e.reason
    )
}

/// `lockstep project list`.
pub fn projects(as_json: bool, state: &State) {
    if as_json {
        return json(&state.projects.values().collect::<Vec<_>>());
    }
    let mut t = Table::new(&["PROJECT", "ORGANIZATION", "SERVICES"]);
    for p in state.projects.values() {
        let n = state
            .services
            .keys()
            .filter(|k| k.project == p.name)
            .count();
        t.row(vec![
            p.name.clone(),
            p.organization_id.clone(),
            n.to_string(),
        ]);
    }
    print!("{}", t.render());
}

/// `lockstep release list`.
pub fn releases(as_json: bool, state: &State) {
    let all: Vec<_> = state.releases.values().flatten().collect();
    if as_json {
        return json(&all);
    }
    let mut t = Table::new(&["TYPE", "VERSION", "CRITICAL", "PUBLISHED"]);
    for r in all {
        t.row(vec![
            r.service_type.to_string(),
            r.version.to_string(),
            if r.critical {
                "critical".into()
            } else {
                String::new()
            },
            when(r.published_at),
        ]);
    }
    print!("{}", t.render());
}

/// `lockstep service list`.
pub fn services(as_json: bool, state: &State, project: Option<&str>, now: DateTime<Utc>) {
    let list: Vec<&Service> = state
        .services
        .values()
        .filter(|s| project.is_none_or(|p| s.key.project == p))
        .collect();
    if as_json {
        let views: Vec<_> = list.iter().map(|s| state.service_view(s, now)).collect();
        return json(&views);
    }
    let mut t = Table::new(&[
        "PROJECT", "SERVICE", "TYPE", "PLAN", "VERSION", "STATE", "PINNED", "PENDING", "HELD BY",
    ]);
    for s in list {
        let v = state.service_view(s, now);
        t.row(vec![
            v.project_name,
            v.service_name,
            v.service_type.to_string(),
            v.plan.to_string(),
            v.version.to_string(),
            match &v.updating {
                Some(u) => format!("updating → {}", u.target),
                None if !v.powered => "powered off".into(),
                None => "running".into(),
            },
            opt(v.pinned_version),
            opt(v.pending_version),
            v.held_by_step_id
                .map_or_else(String::new, |id| format!("step {id}")),
        ]);
    }
    print!("{}", t.render());
}

/// `lockstep service get`.
pub fn service(as_json: bool, state: &State, svc: &Service, now: DateTime<Utc>) {
    let v = state.service_view(svc, now);
    if as_json {
        return json(&v);
    }
    println!(
        "{}/{}  {} {}  ({} plan)",
        v.project_name, v.service_name, v.service_type, v.version, v.plan
    );
    println!(
        "  state        {}",
        match &v.updating {
            Some(u) => format!("updating to {} until {}", u.target, when(u.finishes_at)),
            None if !v.powered => "powered off".into(),
            None => "running".into(),
        }
    );
    println!("  updated      {}", when_relative(v.updated_at, now));
    println!("  maintenance  {}", v.maintenance);
    if let Some(p) = &v.pinned_version {
        println!("  pinned       {p}");
    }
    if let Some(p) = &v.pending_version {
        let tag = if v.pending_emergency_override {
            " (critical: emergency override, V7)"
        } else {
            ""
        };
        println!("  pending      {p}{tag}");
    }
    if let (Some(id), Some(ver)) = (v.held_by_step_id, &v.held_version)
        && let Some(step) = state.steps.get(&id)
    {
        let wait = state.auto_validation_at(step).map_or_else(
            || format!("{} has not received it yet", step.source),
            |at| format!("auto-validation {}", when_relative(at, now)),
        );
        println!(
            "  held         {ver} by step {id} ({} → {}): not validated on {}; {wait}",
            step.source, step.destination, step.source
        );
    }
    if v.emergency_override {
        println!("  override     runs a critical release applied before validation (V7)");
    }
    if let Some(f) = &v.forecast {
        println!(
            "  forecast     gets {} ≈ {} unless validated sooner — {}",
            f.version,
            when_relative(f.at, now),
            f.explanation
        );
    }
    for n in &svc.nodes {
        println!(
            "  node         {}  {:?}  {}  {}",
            n.name,
            n.role,
            n.version,
            crate::model::fleet::status_word(n.status)
        );
    }
    for line in crate::model::fleet::endpoint_lines(svc) {
        println!("  endpoint     {line}");
    }
    // Open incidents and the two latest resolved ones, newest first.
    let mut resolved = 0;
    for i in state.incidents_of(&svc.key).rev() {
        if !i.is_open() {
            resolved += 1;
            if resolved > 2 {
                continue;
            }
        }
        if let Some(l) = crate::model::fleet::incident_line(state, i, now) {
            println!(
                "  incident     #{} {}: {} · {}",
                l.incident_id, l.what, l.progress, l.next
            );
        }
    }
}

fn step_row(state: &State, step: &Step, now: DateTime<Utc>) -> Vec<String> {
    let v: StepView = state.step_view(step);
    vec![
        v.step_id.to_string(),
        format!("{} → {}", step.source, step.destination),
        format!("{}d", v.auto_validation_delay_days),
        v.pinned_version.to_string(),
        v.last_validation.as_ref().map_or_else(
            || "—".into(),
            |l| {
                let who = l.validated_by_user.clone().unwrap_or_else(|| "auto".into());
                let c = l
                    .comment
                    .as_ref()
                    .map_or_else(String::new, |c| format!(" \"{c}\""));
                format!(
                    "{} · {who} · {}{c}",
                    l.version,
                    l.validated_at.format("%Y-%m-%d %H:%M")
                )
            },
        ),
        match (v.auto_validation_at, v.source_powered_off) {
            (_, true) => "source powered off: destination not held (V6)".into(),
            (Some(at), _) => format!(
                "{} ({})",
                when(at),
                if at > now {
                    format!("in {}", span(at - now))
                } else {
                    "due".into()
                }
            ),
            (None, _) => "—".into(),
        },
    ]
}

/// `lockstep step list`.
pub fn steps(as_json: bool, state: &State, now: DateTime<Utc>) {
    if as_json {
        let views: Vec<_> = state.steps.values().map(|s| state.step_view(s)).collect();
        return json(&serde_json::json!({ "steps": views }));
    }
    let mut t = Table::new(&[
        "STEP",
        "SOURCE → DESTINATION",
        "DELAY",
        "PINNED",
        "LAST VALIDATION",
        "AUTO-VALIDATION",
    ]);
    for s in state.steps.values() {
        t.row(step_row(state, s, now));
    }
    print!("{}", t.render());
}

/// `lockstep step get`.
pub fn step(as_json: bool, state: &State, step: &Step, now: DateTime<Utc>) {
    if as_json {
        return json(&state.step_view(step));
    }
    let mut t = Table::new(&[
        "STEP",
        "SOURCE → DESTINATION",
        "DELAY",
        "PINNED",
        "LAST VALIDATION",
        "AUTO-VALIDATION",
    ]);
    t.row(step_row(state, step, now));
    print!("{}", t.render());
}
