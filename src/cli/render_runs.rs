//! Human and JSON output of runs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::run::{
    PhaseOutcome, Run, Treatment, choice_for, format_bytes, format_downtime, format_span,
};
use crate::model::{RunPhase, RunStatus, State};

use super::table::{Table, when};

fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

fn downtime(run: &Run) -> String {
    run.total_downtime_ms()
        .map_or_else(|| "—".into(), format_downtime)
}

/// `lockstep run list`.
pub fn runs(as_json: bool, state: &State, now: DateTime<Utc>) {
    let mut all: Vec<&Run> = state.runs.values().collect();
    all.sort_by_key(|r| r.started_at);
    if as_json {
        return json(&all.iter().map(|r| r.summary()).collect::<Vec<_>>());
    }
    let mut t = Table::new(&[
        "RUN",
        "SERVICE",
        "UPGRADE",
        "PHASE",
        "STATUS",
        "LAG",
        "GUARDRAILS",
        "DOWNTIME",
        "STARTED",
    ]);
    for r in all {
        let guards = r.guardrails();
        let green = guards.iter().filter(|g| g.ok).count();
        t.row(vec![
            r.run_id.clone(),
            r.service.to_string(),
            format!("{} → {}", r.from_version, r.config.target_version),
            r.phase.to_string(),
            r.status.to_string(),
            r.current_lag()
                .filter(|_| r.phase <= RunPhase::Replicating && !r.status.is_finished())
                .map_or_else(|| "—".into(), format_bytes),
            if r.latest.is_some() {
                format!("{green}/{}", guards.len())
            } else {
                "—".into()
            },
            downtime(r),
            format!(
                "{} ({} ago)",
                when(r.started_at),
                format_span(now - r.started_at)
            ),
        ]);
    }
    print!("{}", t.render());
}

/// `lockstep run get`.
pub fn run(as_json: bool, r: &Run, now: DateTime<Utc>, flip_recorded: bool, driven: Option<bool>) {
    let mut sides = r.sides_knowing(flip_recorded);
    let stopped = driven == Some(false) && !r.status.is_finished() && r.pending.is_some();
    if stopped && sides.blue.starts_with("switching over") {
        sides.blue = "writable: the fence ended with the stopped lockstep (writes made on blue \
                      still replicate to green)"
            .into();
    }
    if as_json {
        let mut view = r.view();
        view.sides = sides;
        return json(&view);
    }
    println!(
        "run {}  {}  {} → {}  started {} by {}",
        r.run_id,
        r.service,
        r.from_version,
        r.config.target_version,
        when(r.started_at),
        r.started_by
    );
    let mut status = format!("{} (attempt {}) · {}", r.phase, r.attempt(), r.status);
    if let Some(why) = &r.rollback {
        status.push_str(&format!(" · rollback: {why}"));
    }
    if let Some(w) = r.waiting_on_operator() {
        status.push_str(&format!(" · {w}"));
    }
    println!("phase       {status}");
    if stopped {
        println!(
            "driver      no `lockstep serve` holds this database: nothing drives the run and \
             no endpoint takes clients; start `lockstep serve` again and the run goes on"
        );
    }
    println!("endpoint    serves {}", sides.serving.as_str());
    println!("blue        {}", sides.blue);
    println!("green       {}", sides.green);
    for (key, crash) in &r.interruptions {
        println!("crash       {key}: {}", crash.describe());
    }
    let c = &r.config;
    println!(
        "config      target {} · switchover timeout {}s · lag threshold {} · long txn limit {}s · auto-switchover {} · vacuum {}",
        c.target_version,
        c.switchover_timeout_s,
        format_bytes(c.lag_threshold_bytes),
        c.long_txn_limit_s,
        if c.auto_switchover { "on" } else { "off" },
        if c.vacuum { "on" } else { "off" }
    );
    if let Some(o) = r
        .latest
        .as_ref()
        .filter(|_| r.phase <= RunPhase::Switchover)
    {
        let slots: Vec<String> = o
            .lag_per_slot()
            .iter()
            .map(|(s, l)| format!("{s} {}", format_bytes(*l)))
            .collect();
        println!("lag         {}", slots.join(" · "));
        let age = format_span(now - o.at);
        if !o.lasting_differences.is_empty() {
            println!(
                "data check  DIFFERS (blocks the switchover), {age} ago: {}",
                o.lasting_differences.join("; ")
            );
        } else if o.row_count_mismatches.is_empty() {
            println!("data check  row counts match on blue and green, {age} ago");
        } else {
            println!(
                "data check  row counts differ while green catches up (lag {}), {age} ago: {}",
                format_bytes(o.max_lag()),
                o.row_count_mismatches.join(", ")
            );
        }
        if let Some(rows) = o.backlog_rows {
            println!("backlog     {rows} rows waiting in paused ingestion");
        }
        let guards: Vec<String> = r
            .guardrails()
            .iter()
            .map(|g| format!("{} {}", if g.ok { "✓" } else { "✗" }, g.detail))
            .collect();
        println!("guardrails  {}", guards.join("   "));
    }
    inventory(r);
    let mut total = downtime(r);
    if let Some(f) = &r.forced {
        total.push_str(&format!(
            " · forced by {} past {}: \"{}\"",
            f.by,
            f.red.join(", "),
            f.comment
        ));
    }
    println!("downtime    {total}");
    for rev in &r.reverts {
        println!("reverted    {} {}", when(rev.at), rev.reason);
    }
    println!();
    let mut t = Table::new(&["PHASE", "ATTEMPT", "STARTED", "DURATION", "OUTCOME"]);
    for p in &r.phases {
        t.row(vec![
            p.phase.to_string(),
            p.attempt.to_string(),
            when(p.started_at),
            format_span(Run::record_duration(p, now))
                + if p.ended_at.is_none() { "…" } else { "" },
            match p.outcome {
                None => "running".into(),
                Some(PhaseOutcome::Succeeded) => "✓".into(),
                Some(PhaseOutcome::Failed) => "failed".into(),
                Some(PhaseOutcome::Reverted) => "reverted".into(),
                Some(PhaseOutcome::RolledBack) => "rolled back".into(),
            },
        ]);
    }
    print!("{}", t.render());
    if !r.ddl.is_empty() {
        println!("\nDDL changes");
        for d in &r.ddl {
            let flight = if d.in_flight { "  (in flight)" } else { "" };
            println!("  {}  {}{flight}", d.at.format("%H:%M"), d.statement);
        }
    }
    if let Some(b5) = r
        .phases
        .iter()
        .rev()
        .find(|p| p.phase == RunPhase::Switchover && p.outcome.is_some())
        .filter(|b5| r.current_record() != Some(*b5) || r.status == RunStatus::Completed)
    {
        println!("\n{} log (attempt {})", b5.phase, b5.attempt);
        for line in &b5.log {
            println!("  {line}");
        }
    }
    if let Some(p) = r.current_record()
        && !p.log.is_empty()
        && r.status != RunStatus::Completed
    {
        println!("\n{} log", p.phase);
        for line in &p.log {
            println!("  {line}");
        }
    }
}

/// B1's inventory (B13): what logical replication does not carry, and what the run does.
fn inventory(r: &Run) {
    let Some(inv) = &r.inventory else {
        return;
    };
    if inv.items.is_empty() {
        println!("inventory   nothing beyond tables and sequences (B1)");
        return;
    }
    println!("inventory   what logical replication does not carry by itself (B1):");
    for item in &inv.items {
        let chosen = choice_for(&r.choices, item.kind);
        let (mark, plan) = match (item.treatment, chosen) {
            (Treatment::Carry, _) => ("✓", item.plan.clone()),
            (_, Some(c)) => (
                "✓",
                format!(
                    "{} (chosen '{}' by {}: \"{}\")",
                    c.value.plan(),
                    c.value,
                    c.by,
                    c.comment
                ),
            ),
            (Treatment::Choose, None) => ("✗", format!("{}: CHOICE NEEDED", item.plan)),
            (Treatment::Refuse, None) => ("✗", format!("{}: REFUSED", item.plan)),
        };
        println!(
            "  {mark} {:<18} {:<30} {plan}",
            item.kind.label(),
            item.name
        );
    }
}
