//! A granted attempt's life in the worker: heartbeats while it runs, its preparation
//! (package, variables, script) and its script or its run on a target under the step's
//! timeout, then the result, with an offer to run the deployment's next step (`chain.rs`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferry_contracts::{LogStream, StepJob, StepOutcome};
use tokio::sync::OwnedSemaphorePermit;

use crate::control::Stop;
use crate::events::{AbortOnDrop, EventSink};
use crate::{WorkerContext, events, prepare, script, target_run};

/// Runs a granted attempt: heartbeats while it runs, then the result, sent until RabbitMQ
/// takes it, with an offer to run the deployment's next step in the same slot (`chain.rs`).
pub(crate) async fn run_claimed(
    context: &Arc<WorkerContext>,
    job: StepJob,
    stop: Stop,
    permit: OwnedSemaphorePermit,
) {
    let span = tracing::info_span!("step", deployment_id = %job.deployment_id, step = %job.step_name, attempt = job.attempt);
    let _entered = span.enter();
    // Aborted on drop: however the step ends (a panic included), its heartbeats stop.
    let beating = AbortOnDrop(tokio::spawn(events::heartbeats(
        Arc::clone(context),
        job.clone(),
        stop.clone(),
    )));
    let mut sink = EventSink::new(context, &job, context.config.log_budget);
    let started_at = Utc::now();
    let outcome = run_step(context, &job, &mut sink, stop).await;
    drop(beating);
    drop(_entered);
    let next = context.offers.make(context, &job, permit);
    let offered = next.as_ref().map(|next| next.claim_id);
    if let Err(error) = sink.finish(outcome, started_at, next).await {
        if let Some(claim_id) = offered {
            context.offers.withdraw(claim_id);
        }
        tracing::error!(%error, "could not report the step's result; the API gives the attempt up when its lease runs out");
    }
}

/// Prepares the step (package, variables, script), then runs the script. The step's timeout
/// covers both. Never returns an error: every failure becomes a failed step with a reason.
async fn run_step(
    context: &WorkerContext,
    job: &StepJob,
    sink: &mut EventSink<'_>,
    stop: Stop,
) -> StepOutcome {
    if let Some(why) = stop.requested() {
        return failed(sink, format!("the step was not started: {why}"));
    }
    // Bounded (a week), so that no job can overflow the clock.
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(job.timeout_seconds.clamp(1, 7 * 86_400));
    if let Some(target) = &job.target {
        // The run keeps its own deadline (and then stops what runs on the target); this one
        // only guards against a run that cannot even do that.
        let on_target = target_run::run(context, job, target, sink, &stop, deadline);
        let last_resort = deadline + Duration::from_secs(30);
        return match tokio::time::timeout_at(last_resort, on_target).await {
            Ok(outcome) => outcome,
            Err(_) => failed(
                sink,
                format!(
                    "the step ran longer than its timeout of {} seconds on target {} (permanent)",
                    job.timeout_seconds, target.name
                ),
            ),
        };
    }
    // A stop (a cancel) while the package downloads or the script renders ends the step
    // there: no script of a cancelled step starts.
    let preparing = async {
        tokio::select! {
            prepared = prepare::prepare(context, job, sink) => Some(prepared),
            () = stop.cancelled() => None,
        }
    };
    let prepared = match tokio::time::timeout_at(deadline, preparing).await {
        Ok(None) => {
            let why = stop.requested().unwrap_or("it was stopped");
            return failed(
                sink,
                format!("the step was stopped while it was being prepared: {why}"),
            );
        }
        Ok(Some(Ok(prepared))) => prepared,
        Ok(Some(Err(reason))) => return failed(sink, reason),
        Err(_) => {
            return failed(
                sink,
                format!(
                    "preparing the step (its package, variables and script) took longer than \
                     its timeout of {} seconds",
                    job.timeout_seconds
                ),
            );
        }
    };
    let outcome = script::run(
        script::ScriptRun {
            job,
            script: &prepared.script,
            variables: &prepared.variables,
            working_directory: &prepared.working_directory,
            step_folder: &prepared.step_folder,
            inherited_environment: &context.config.inherited_environment,
            script_user: &context.script_user,
            deadline,
            stop,
        },
        sink,
    )
    .await;
    // A succeeded step without a package leaves nothing a later step may use: its folder
    // goes now. The others are kept for a while (`housekeeping`).
    if outcome == StepOutcome::Succeeded && job.package.is_none() {
        let folder = prepared.step_folder.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(folder)).await;
    }
    outcome
}

fn failed(sink: &mut EventSink<'_>, reason: String) -> StepOutcome {
    sink.line(LogStream::System, reason.clone());
    StepOutcome::Failed {
        exit_code: None,
        reason,
    }
}
