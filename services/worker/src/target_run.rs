//! One step's run on one target: its settings rendered for that target into the helper's
//! request, the package fetched into the worker's cache, then the run over SSH
//! (`ssh_target.rs`) or on a `local` target (`local_target.rs`), and the helper's result
//! turned into the step's outcome. The protocol is `ferry_contracts::helper`;
//! ARCHITECTURE.md describes it.

use ferry_contracts::helper::{HelperLimits, HelperRequest, HelperResult};
use ferry_contracts::{LogStream, StepJob, StepOutcome, TargetJob, TargetReach};

use crate::control::Stop;
use crate::events::EventSink;
use crate::helper_events::Until;
use crate::variables::StepVariables;
use crate::{WorkerContext, package, ssh_target, target_settings};

/// Runs the job on its target. Never fails: every failure is a failed step with a reason
/// saying whether it was retryable.
pub(crate) async fn run(
    context: &WorkerContext,
    job: &StepJob,
    target: &TargetJob,
    sink: &mut EventSink<'_>,
    stop: &Stop,
    deadline: tokio::time::Instant,
) -> StepOutcome {
    sink.set_target(target.name.as_str());
    let until = Until {
        stop,
        deadline,
        timeout_seconds: job.timeout_seconds,
    };
    match attempt(context, job, target, sink, until).await {
        Ok(result) => outcome(result),
        Err(reason) => {
            sink.line(LogStream::System, reason.clone());
            StepOutcome::Failed {
                exit_code: None,
                reason,
            }
        }
    }
}

fn outcome(result: HelperResult) -> StepOutcome {
    if result.succeeded {
        return StepOutcome::Succeeded;
    }
    let reason = result
        .reason
        .unwrap_or_else(|| "the helper reported a failure without a reason".to_owned());
    let kind = if result.retryable {
        "retryable"
    } else {
        "permanent"
    };
    StepOutcome::Failed {
        exit_code: result.exit_code,
        reason: format!("{reason} ({kind})"),
    }
}

async fn attempt(
    context: &WorkerContext,
    job: &StepJob,
    target: &TargetJob,
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<HelperResult, String> {
    // The run's name on the target, for `ferry-helper stop`.
    let run_name = format!("{}-{}", job.step_run_id, job.attempt);
    let mut variables =
        StepVariables::prepare(job, &context.config.variables_key, target.name.as_str())?;
    sink.set_masker(variables.masker.clone());
    let limits = context.config.template_limits;
    let (variables, request) = {
        let job = job.clone();
        let target = target.clone();
        let unpack = context.config.unpack_limits;
        tokio::task::spawn_blocking(move || {
            variables.expand_values(limits);
            let request = target_settings::request(&job, &target, &variables, limits, unpack);
            (variables, request)
        })
        .await
        .map_err(|error| format!("rendering the step's settings: {error}"))?
    };
    sink.set_masker(variables.masker.clone());
    let request = request.map_err(|reason| format!("{reason} (permanent)"))?;
    let helper = context.helper().await?;
    let archive = match &job.package {
        Some(reference) => Some(
            package::fetch(
                &context.store,
                &context.config.work_root,
                reference,
                context.config.package_cache_max_bytes,
                sink,
            )
            .await
            .map_err(|error| format!("{error} (retryable)"))?,
        ),
        None => None,
    };
    match &target.reach {
        TargetReach::Local => {
            crate::local_target::run(context, target, request, archive, &helper, sink, until).await
        }
        TargetReach::Ssh { .. } => {
            let run = (&*helper, run_name.as_str());
            ssh_target::run(context, target, (request, archive), run, sink, until).await
        }
    }
}

/// Whether the package follows the request: not when the target has it cached (said so).
pub(crate) fn mark_cached(request: &mut HelperRequest, cached: bool, sink: &mut EventSink<'_>) {
    if let Some(package) = request.package.as_mut() {
        package.follows = !cached;
        if cached {
            sink.line(
                LogStream::System,
                crate::helper_events::package_note(package, true, 0),
            );
        }
    }
}

/// The limits the helper applies, from the worker's.
pub(crate) fn limits(unpack: ferry_packages::UnpackLimits) -> HelperLimits {
    HelperLimits {
        max_expanded_bytes: unpack.max_expanded_bytes,
        max_entries: unpack.max_entries,
        max_ratio: unpack.max_ratio,
        max_line_bytes: 16 * 1024,
    }
}
