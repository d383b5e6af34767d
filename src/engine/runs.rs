//! The run orchestrator: performs what runs ask of their driver and submits the answers back
//! as commands. Requests are journaled before the driver is called and the driver is
//! idempotent by key, so a process killed at any point loses nothing and repeats nothing (B9).
//!
//! On a virtual clock, `clock advance` stops at every instant a run waits for its driver, lets
//! the driver act there, and goes on: simulated actions report how long they take, and the
//! model schedules their completion, so simulated time stays exact.

use chrono::{DateTime, Duration, Utc};

use crate::drivers::{Driver, DriverError};
use crate::model::run::{DriverRequest, RequestKind, RunAction, RunSpec};
use crate::model::{Command, Event, SYSTEM_ACTOR};

use super::request::{AdvanceTarget, Request};
use super::{EngineError, LocalEngine, Receipt};

/// Set to `before-act:B3` or `after-act:B3` (any phase id, or `B8`), the process stops just
/// before (or just after) the driver call of that phase and waits to be killed: crash tests use it to kill the
/// engine at a precise phase boundary.
pub const FAILPOINT_ENV: &str = crate::drivers::failpoint::FAILPOINT_ENV;

/// How many stop-and-act rounds one clock advance may take before it reports a runaway.
const MAX_ROUNDS: usize = 100_000;

/// Asks the driver for `request` and turns its answer into the command that records it.
pub async fn perform(
    driver: &dyn Driver,
    spec: &RunSpec,
    request: &DriverRequest,
    now: DateTime<Utc>,
) -> Result<Command, DriverError> {
    match request.request {
        RequestKind::Act(action) => {
            failpoint("before-act", &request.key);
            let report = driver.act(spec, action, &request.key, now).await?;
            failpoint("after-act", &request.key);
            Ok(Command::ReportRunAction {
                run_id: spec.run_id.clone(),
                key: request.key.clone(),
                started_at: now,
                report,
            })
        }
        RequestKind::Observe => {
            failpoint("before-act", &request.key);
            let observation = driver.observe(spec, now).await?;
            failpoint("after-act", &request.key);
            Ok(Command::ReportObservation {
                run_id: spec.run_id.clone(),
                key: request.key.clone(),
                observation,
            })
        }
    }
}

/// Stops here when `LOCKSTEP_FAILPOINT` names this stage and the key's phase.
fn failpoint(stage: &str, key: &str) {
    let phase = key.split('/').nth(1).unwrap_or_default();
    crate::drivers::failpoint::stop(&format!("{stage}:{phase}"));
}

/// How often a long driver action looks whether its run still wants it.
const SUPERSEDED_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// How often a long-lived process (`lockstep serve`) lets drivers act for waiting runs.
const DRIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// For long-lived processes: a task that lets the drivers act for waiting runs every second,
/// so runs move on a system clock even when no dashboard is open. It ends with the runtime.
pub fn keep_driving(engine: std::sync::Arc<LocalEngine>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DRIVE_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = engine.drive_runs().await {
                if e == EngineError::Closed {
                    return;
                }
                tracing::warn!("run driver: {e}");
            }
        }
    });
}

impl LocalEngine {
    /// Performs every driver request waiting now, recording each answer; a driver that cannot
    /// try leaves its request waiting and says so in the notice.
    pub(super) async fn drive_runs(&self) -> Result<Receipt, EngineError> {
        let _one_at_a_time = self.driving.lock().await;
        let (now, work) = self.ask(|reply| Request::DriverWork { reply }).await?;
        let mut events: Vec<Event> = Vec::new();
        let mut stuck = Vec::new();
        for (spec, request) in work {
            let Some(answer) = self.perform_unless_superseded(&spec, &request, now).await? else {
                stuck.push(format!(
                    "run {}: {} abandoned, the run no longer wants it (rolled back)",
                    spec.run_id, request.key
                ));
                continue;
            };
            match answer {
                Ok(command) => {
                    let receipt = self.execute_system(command).await?;
                    events.extend(receipt.events);
                }
                Err(e) => stuck.push(format!("run {} waits: {e}", spec.run_id)),
            }
        }
        Ok(Receipt {
            events,
            notice: (!stuck.is_empty()).then(|| stuck.join("; ")),
        })
    }

    /// Performs `request`, but drops it as soon as the run no longer waits for it (B8: a
    /// rollback asked for during a long B2 or B3 takes over at once instead of waiting for the
    /// initial copy). A switchover, cleanup or rollback is never dropped: each runs to its end.
    async fn perform_unless_superseded(
        &self,
        spec: &RunSpec,
        request: &DriverRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<Result<Command, DriverError>>, EngineError> {
        let droppable = matches!(
            request.request,
            RequestKind::Observe
                | RequestKind::Act(RunAction::Provision | RunAction::VacuumAnalyze)
        );
        let act = perform(self.driver.as_ref(), spec, request, now);
        if !droppable {
            return Ok(Some(act.await));
        }
        tokio::pin!(act);
        loop {
            tokio::select! {
                answer = &mut act => return Ok(Some(answer)),
                () = tokio::time::sleep(SUPERSEDED_POLL) => {
                    let (_, work) = self.ask(|reply| Request::DriverWork { reply }).await?;
                    let wanted = work
                        .iter()
                        .any(|(s, r)| s.run_id == spec.run_id && r.key == request.key);
                    if !wanted {
                        tracing::warn!(
                            run = %spec.run_id,
                            "{} abandoned: the run no longer wants it (rolled back)",
                            request.key
                        );
                        return Ok(None);
                    }
                }
            }
        }
    }

    async fn execute_system(&self, command: Command) -> Result<Receipt, EngineError> {
        self.ask(move |reply| Request::Execute {
            actor: SYSTEM_ACTOR.to_string(),
            command: Box::new(command),
            reply,
        })
        .await
    }

    /// `clock advance` with runs: stops wherever a run waits for its driver, lets the driver
    /// act at that instant, and goes on to the end.
    pub(super) async fn advance_with_driver(&self, by: Duration) -> Result<Receipt, EngineError> {
        let mut events = Vec::new();
        let mut notice = None;
        let mut target = AdvanceTarget::By(by);
        let mut stop_for_driver = true;
        for _ in 0..MAX_ROUNDS {
            let step = self
                .ask(move |reply| Request::Advance {
                    target,
                    stop_for_driver,
                    reply,
                })
                .await?;
            events.extend(step.events);
            if !step.stopped {
                return Ok(Receipt { events, notice });
            }
            target = AdvanceTarget::Until(step.until);
            let driven = self.drive_runs().await?;
            if driven.events.is_empty() {
                // The driver cannot act now: let time pass without it.
                stop_for_driver = false;
                notice = driven.notice;
            }
            events.extend(driven.events);
        }
        Err(EngineError::Storage(
            "runs keep asking their driver without end; stopped to protect the journal".into(),
        ))
    }
}
