//! A step on targets: one run per target, each its own job with its own attempts and claim.
//! The machine keeps the window (at most `window` runs at once, the next pending one starting
//! as one ends), retries a failed run while the step's retries allow, starts no new run once
//! one has failed for good, and concludes the step when nothing of it runs: Succeeded when
//! every run succeeded; otherwise failed (the runs that never started Abandoned), or, under
//! guided failure, a question about the failed targets (nothing runs while it is asked).

use super::progress::WorkerTimes;
use super::{Given, Handled, Machine};
use crate::deployment::command::StepOutcome;
use crate::deployment::effect::{Effect, Note, Request, guided_failure_question};
use crate::deployment::refusal::{Refusal, Stale};
use crate::deployment::state::{InterruptionKind, TargetRun};
use crate::orchestration::{FailureAction, after_failure};
use crate::status::{DeploymentStatus, StepStatus};

impl Machine {
    /// The step is reached: its first round begins, or it fails at once when no target of
    /// the environment has its roles.
    pub(super) fn start_on_targets(&mut self, index: usize) -> Option<Request> {
        let run = &self.deployment.steps[index];
        if run.targets.is_empty() {
            let roles: Vec<&str> = run.spec.roles.iter().map(|role| role.as_str()).collect();
            let (noun, roles) = match roles.split_last() {
                Some((last, [])) => ("role", format!("`{last}`")),
                Some((last, rest)) => ("roles", format!("`{}` or `{last}`", rest.join("`, `"))),
                None => ("role", String::new()),
            };
            let environment = self.deployment.facts.environment_name.clone();
            self.fail_before_running(
                index,
                format!("no target in environment {environment} has the {noun} {roles}"),
            );
            return self.advance(Given::Nothing);
        }
        self.begin_round(index);
        let run = &self.deployment.steps[index];
        self.log(Note::StepOnTargets {
            step: run.name().clone(),
            targets: run.targets.len(),
            window: run.spec.window,
        });
        self.fill_window(index);
        None
    }

    /// A round of a step on targets: the step Running, its round counted, a fresh result.
    fn begin_round(&mut self, index: usize) {
        let run = &mut self.deployment.steps[index];
        run.attempt += 1;
        run.status = StepStatus::Running;
        run.exit_code = None;
        run.error = None;
    }

    /// Starts pending runs until the window is full, unless a run failed for good.
    fn fill_window(&mut self, index: usize) {
        let run = &self.deployment.steps[index];
        if run.targets.iter().any(|t| t.status == StepStatus::Failed) {
            return;
        }
        let running = run
            .targets
            .iter()
            .filter(|t| t.status == StepStatus::Running)
            .count();
        let free = run.spec.window.saturating_sub(running);
        let next: Vec<usize> = run
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.status == StepStatus::Pending)
            .map(|(position, _)| position)
            .take(free)
            .collect();
        for target in next {
            self.dispatch_target(index, target);
        }
    }

    /// Sends a target's run (again): a new attempt, its job for the target's pool.
    fn dispatch_target(&mut self, index: usize, target: usize) {
        let now = self.now;
        let run = &mut self.deployment.steps[index];
        let name = run.name().clone();
        let on = &mut run.targets[target];
        on.attempt += 1;
        on.status = StepStatus::Running;
        on.dispatched_at = Some(now);
        on.claimed_by = None;
        on.claim_id = None;
        on.exit_code = None;
        on.error = None;
        let attempt = on.attempt;
        let target_name = on.target.name.clone();
        self.log(Note::StepDispatched {
            step: name,
            target: Some(target_name),
            worker_pool: self.deployment.facts.worker_pool.clone(),
            attempt,
        });
        self.effects.push(Effect::Dispatch {
            step: index,
            target: Some(target),
            attempt,
        });
    }

    /// Why a worker's message about a target's run counts for nothing (see `stale_attempt`).
    pub(super) fn stale_target(
        &self,
        index: usize,
        target: usize,
        attempt: u32,
    ) -> Result<Option<Stale>, Refusal> {
        let Some(on) = self
            .deployment
            .steps
            .get(index)
            .and_then(|run| run.targets.get(target))
        else {
            return Err(Refusal::NoSuchStep { step: index });
        };
        Ok(match self.deployment.status {
            status if status.is_terminal() => Some(Stale::DeploymentFinished { status }),
            DeploymentStatus::WaitingForIntervention => Some(Stale::WaitingForIntervention),
            _ if on.status != StepStatus::Running => {
                Some(Stale::StepNotRunning { status: on.status })
            }
            _ if on.attempt != attempt => Some(Stale::OtherAttempt {
                current: on.attempt,
            }),
            _ => None,
        })
    }

    /// A worker's result for a target's run (already checked not stale).
    pub(super) fn target_finished(
        &mut self,
        index: usize,
        target: usize,
        outcome: StepOutcome,
        times: &WorkerTimes,
    ) -> Result<Handled, Refusal> {
        let run = &mut self.deployment.steps[index];
        let name = run.name().clone();
        let retries = run.spec.retries;
        let on = &mut run.targets[target];
        on.started_at = Some(times.started_at);
        on.finished_at = Some(times.finished_at);
        let target_name = on.target.name.clone();
        match outcome {
            StepOutcome::Succeeded => {
                on.status = StepStatus::Succeeded;
                self.log(Note::TargetSucceeded {
                    step: name,
                    target: target_name,
                });
            }
            StepOutcome::Failed { exit_code, reason } => {
                on.exit_code = exit_code;
                on.error = Some(reason.clone());
                let attempt = on.attempt;
                if after_failure(retries, attempt, false) == FailureAction::Retry {
                    self.log(Note::Retrying {
                        step: name,
                        target: Some(target_name),
                        attempt,
                        reason,
                        retries,
                    });
                    self.dispatch_target(index, target);
                    return Ok(Handled::Settled);
                }
                on.status = StepStatus::Failed;
                self.log(Note::TargetFailed {
                    step: name,
                    target: target_name,
                    reason,
                });
            }
        }
        self.fill_window(index);
        Ok(self.conclude_targets(index).into())
    }

    /// Ends a round once nothing of the step runs.
    fn conclude_targets(&mut self, index: usize) -> Option<Request> {
        let now = self.now;
        let run = &mut self.deployment.steps[index];
        if run.targets.iter().any(|t| t.status == StepStatus::Running) {
            return None;
        }
        let failed: Vec<&TargetRun> = run
            .targets
            .iter()
            .filter(|t| t.status == StepStatus::Failed)
            .collect();
        let name = run.name().clone();
        if failed.is_empty() {
            run.status = StepStatus::Succeeded;
            run.finished_at = Some(now);
            self.log(Note::StepSucceeded { step: name });
            return self.advance(Given::Nothing);
        }
        let reason = match failed.as_slice() {
            [only] => format!(
                "failed on target {}: {}",
                only.target.name,
                only.error.as_deref().unwrap_or("failed")
            ),
            many => {
                let each: Vec<String> = many
                    .iter()
                    .map(|t| {
                        format!(
                            "{} ({})",
                            t.target.name,
                            t.error.as_deref().unwrap_or("failed")
                        )
                    })
                    .collect();
                format!("failed on {} targets: {}", many.len(), each.join("; "))
            }
        };
        run.exit_code = failed[0].exit_code;
        run.error = Some(reason.clone());
        if self.deployment.guided_failure {
            let question = guided_failure_question(&name, &reason);
            self.effects.push(Effect::OpenInterruption {
                step: index,
                kind: InterruptionKind::GuidedFailure,
                instructions: question.clone(),
                responsible_team: None,
            });
            self.wait_for_a_person(index, InterruptionKind::GuidedFailure);
            self.log(Note::AskingForGuidance { question });
            return None;
        }
        run.status = StepStatus::Failed;
        run.finished_at = Some(now);
        self.abandon_pending_targets(index);
        self.log(Note::StepFailed { step: name, reason });
        self.advance(Given::Nothing)
    }

    /// Guided failure's *retry*: another round for the failed runs and those that never
    /// started.
    pub(super) fn retry_targets(&mut self, index: usize) -> Option<Request> {
        for on in &mut self.deployment.steps[index].targets {
            if on.status == StepStatus::Failed {
                on.status = StepStatus::Pending;
            }
        }
        self.begin_round(index);
        self.fill_window(index);
        self.conclude_targets(index)
    }

    /// The runs that never started will not: the step ended without them.
    pub(super) fn abandon_pending_targets(&mut self, index: usize) {
        let now = self.now;
        for on in &mut self.deployment.steps[index].targets {
            if on.status == StepStatus::Pending {
                on.status = StepStatus::Abandoned;
                on.finished_at = Some(now);
            }
        }
    }

    /// Cancelling a step on targets: each running run Canceled and its worker told to stop,
    /// the pending ones Abandoned.
    pub(super) fn cancel_targets(&mut self, index: usize, reason: &str, stop_workers: bool) {
        let now = self.now;
        let mut stops = Vec::new();
        for (position, on) in self.deployment.steps[index].targets.iter_mut().enumerate() {
            match on.status {
                StepStatus::Running => {
                    if stop_workers {
                        stops.push((position, on.attempt));
                    }
                    on.status = StepStatus::Canceled;
                }
                StepStatus::Pending => on.status = StepStatus::Abandoned,
                _ => continue,
            }
            on.error = Some(reason.to_owned());
            on.finished_at.get_or_insert(now);
        }
        for (position, attempt) in stops {
            self.effects.push(Effect::StopStep {
                step: index,
                target: Some(position),
                attempt,
                why: crate::deployment::effect::StopReason::Cancelled,
            });
        }
    }
}
