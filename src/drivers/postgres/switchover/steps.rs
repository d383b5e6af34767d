//! B5's critical section, between the park and the resume: 2 drain, 3 fence, 4 marker,
//! 5 sequences and what replication does not carry, beside 6, the endpoint's flip; then the
//! retirement that makes blue's fence permanent once green is to serve.

use tokio::time::Instant;

use super::super::proxy::Upstream;
use super::super::{fence, others, sequences};
use super::{Progress, Sides};
use crate::drivers::failpoint::pause;

/// Steps 2 to 6, under the timeout. The flip (6) runs from the park on, beside 2 to 5: idle
/// sessions move to green's warm connections while the clients stay held, so no client
/// statement reaches green before 5 is done and resume (7) follows at once. Ends with blue
/// (and every other database) retired: the fence made permanent, since green serves next.
pub(super) async fn critical(
    sides: &Sides<'_>,
    green_up: Upstream,
    progress: &mut Progress,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let (proxy, plan) = (sides.proxy, sides.plan);
    let started = Instant::now();
    progress.fenced = Some(std::time::Instant::now());
    // Steps 2 to 5 log as they go: what a timeout cut short stays in the log.
    let steps = steps_2_to_5(sides, log);
    let flipped = &mut progress.flipped;
    let flip = async {
        let flip = proxy.flip(green_up, plan.timeout).await?;
        *flipped = Some(format!(
            "6 endpoint flipped to green while 2 to 5 ran: {} sessions re-bound, {} closed at a \
             transaction boundary, at {} ms",
            flip.rebound,
            flip.closed,
            started.elapsed().as_millis()
        ));
        Ok::<_, String>(())
    };
    tokio::try_join!(steps, flip)?;
    if let Some(line) = progress.flipped.take() {
        log.push(line);
    }
    progress.retiring = true;
    fence::retire(sides.fence, sides.database, sides.run_id).await?;
    others::retire_all(sides.others, sides.run_id).await?;
    log.push(format!(
        "6b blue retired: every table refuses writes, whatever the transaction asks for, and \
         new sessions default to read-only (deliberate, run {}), at {} ms",
        sides.run_id,
        started.elapsed().as_millis()
    ));
    pause("b5:retired").await;
    Ok(())
}

/// Drain, fence, marker and sequences.
async fn steps_2_to_5(sides: &Sides<'_>, log: &mut Vec<String>) -> Result<(), String> {
    let Sides {
        blue,
        green,
        fence: fence_session,
        proxy,
        run_id,
        plan,
        others,
        ..
    } = *sides;
    let started = Instant::now();
    // Clients that bypass the endpoint go while the endpoint's own sessions drain.
    let terminating = async {
        let ports = proxy.upstream_ports();
        let own = [
            fence::backend_pid(blue).await?,
            fence::backend_pid(fence_session).await?,
        ];
        let mut gone = fence::terminate_others(blue, &ports, &own).await?;
        gone.extend(others::terminate_all(others, &ports).await?);
        Ok::<_, String>(gone)
    };
    let (drain, terminated) = tokio::join!(proxy.wait_idle(plan.grace), terminating);
    log.push(format!(
        "2 sessions drained: {} idle, {} terminated after the {} ms grace ({} ms)",
        drain.idle,
        drain.terminated,
        plan.grace.as_millis(),
        started.elapsed().as_millis()
    ));
    let terminated = terminated?;
    pause("b5:drained").await;
    // Every session is at a transaction boundary: the locks are granted at once.
    let limit = plan.timeout.saturating_sub(started.elapsed());
    let tables = fence::hold(fence_session, limit).await? + others::hold_all(others, limit).await?;
    log.push(format!(
        "3 writes fenced on blue: lockstep's session holds {tables} tables and the large \
         objects (the fence ends with lockstep), {} client backends outside the endpoint \
         terminated{}, at {} ms",
        terminated.len(),
        if terminated.is_empty() {
            String::new()
        } else {
            format!(": {}", terminated.join("; "))
        },
        started.elapsed().as_millis()
    ));
    pause("b5:fenced").await;
    let marked = fence::mark(blue, run_id).await?;
    log.push(format!(
        "4 marker committed on blue at {}, at {} ms",
        marked.lsn,
        started.elapsed().as_millis()
    ));
    pause("b5:marker").await;
    let limit = plan.timeout.saturating_sub(started.elapsed());
    let took =
        fence::await_marker_and_set(green, run_id, &marked.token, &marked.sequences, limit).await?;
    log.push(format!(
        "4 marker seen on green {} ms after its commit; 5 sequences set there from blue \
         (never backwards): {}, at {} ms",
        took.as_millis(),
        marked.sequences.iter().filter(|(_, v)| v.is_some()).count(),
        started.elapsed().as_millis()
    ));
    log.extend(sequences::describe(&marked.sequences));
    pause("b5:marked").await;
    super::super::parity::while_fenced(blue, green, plan.unlogged, log).await?;
    let limit = plan.timeout.saturating_sub(started.elapsed());
    others::carry(others, run_id, plan.unlogged, limit, log).await?;
    log.push(format!(
        "5b what replication does not carry is on green, at {} ms",
        started.elapsed().as_millis()
    ));
    pause("b5:carried").await;
    Ok(())
}
