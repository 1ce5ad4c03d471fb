//! The machine's handlers for what happens to a deployment without a person deciding: it is
//! created, its turn comes, a worker reports, the shell answers a question.

use super::progress::Recorded;
use super::{Given, Handled, Machine, WorkerTimes, record};
use crate::deployment::command::{LostAttempt, Purpose, StepOutcome, StepReport, TemplateFailure};
use crate::deployment::effect::{Effect, Note, StopReason, guided_failure_question};
use crate::deployment::refusal::{Refusal, Stale};
use crate::deployment::state::{InterruptionKind, TargetRun, Work};
use crate::ids::{ClaimId, DeploymentId};
use crate::orchestration::{FailureAction, after_failure};
use crate::status::{DeploymentStatus, StepStatus};

impl Machine {
    /// A new deployment records who asked for it; it waits behind the one `ahead` of it, or
    /// starts at once.
    pub(super) fn create(
        &mut self,
        requested_by: String,
        purpose: Purpose,
        ahead: Option<DeploymentId>,
    ) -> Result<Handled, Refusal> {
        self.require_queued()?;
        let facts = &self.deployment.facts;
        self.log(Note::Requested {
            purpose,
            release_number: facts.release_number.clone(),
            environment_name: facts.environment_name.clone(),
            requested_by,
        });
        if let Some(ahead) = ahead {
            self.log(Note::QueuedBehind { ahead });
            return Ok(Handled::Settled);
        }
        Ok(self.advance(Given::Nothing).into())
    }

    /// A queued deployment whose turn came starts.
    pub(super) fn start(&mut self) -> Result<Handled, Refusal> {
        self.require_queued()?;
        self.log(Note::TurnCame);
        Ok(self.advance(Given::Nothing).into())
    }

    pub(super) fn require_queued(&self) -> Result<(), Refusal> {
        match self.deployment.status {
            DeploymentStatus::Queued => Ok(()),
            status => Err(Refusal::NotQueued { status }),
        }
    }

    /// Why a worker's message about attempt `attempt` of step `index` counts for nothing:
    /// the deployment ended or waits for a person, the step is not running, or the attempt
    /// is not the current one.
    fn stale_attempt(&self, index: usize, attempt: u32) -> Result<Option<Stale>, Refusal> {
        let Some(run) = self.deployment.steps.get(index) else {
            return Err(Refusal::NoSuchStep { step: index });
        };
        Ok(match self.deployment.status {
            _ if run.spec.on_targets() => Some(Stale::RunsOnTargets),
            status if status.is_terminal() => Some(Stale::DeploymentFinished { status }),
            DeploymentStatus::WaitingForIntervention => Some(Stale::WaitingForIntervention),
            _ if run.status != StepStatus::Running => {
                Some(Stale::StepNotRunning { status: run.status })
            }
            _ if run.attempt != attempt => Some(Stale::OtherAttempt {
                current: run.attempt,
            }),
            _ => None,
        })
    }

    /// A worker asks to run the attempt its job names. The first claim of the running attempt
    /// wins and is written to the log; any other (a duplicated job, a second delivery, a job
    /// of a cancelled or superseded attempt) is stale, and its worker does not run it. The
    /// winning claim sent again (its answer was lost) is granted again, and writes nothing.
    pub(super) fn claim(
        &mut self,
        index: usize,
        target: Option<usize>,
        attempt: u32,
        worker: String,
        claim_id: ClaimId,
    ) -> Result<Handled, Refusal> {
        let stale = match target {
            Some(target) => self.stale_target(index, target, attempt)?,
            None => self.stale_attempt(index, attempt)?,
        };
        if let Some(stale) = stale {
            return Ok(Handled::Stale(stale));
        }
        let run = &mut self.deployment.steps[index];
        let step = run.name().clone();
        // The step's own claim, or the target run's.
        let (claimed_by, winner, on) = match target {
            Some(target) => {
                let TargetRun {
                    claimed_by,
                    claim_id,
                    target,
                    ..
                } = &mut run.targets[target];
                (claimed_by, claim_id, Some(target.name.clone()))
            }
            None => (&mut run.claimed_by, &mut run.claim_id, None),
        };
        match *winner {
            Some(won) if won == claim_id => return Ok(Handled::Settled),
            Some(_) => return Ok(Handled::Stale(Stale::AlreadyClaimed)),
            None if claimed_by.is_some() => return Ok(Handled::Stale(Stale::AlreadyClaimed)),
            None => {}
        }
        *claimed_by = Some(worker.clone());
        *winner = Some(claim_id);
        self.log(Note::StepStarted {
            step,
            target: on,
            worker,
        });
        Ok(Handled::Settled)
    }

    /// The shell gives up on a running attempt (see [`LostAttempt`]): it fails as a worker's
    /// failure would, so retries and guided failure apply. A loss that no longer holds (the
    /// job was claimed meanwhile, or another worker holds it) is stale.
    pub(super) fn lost(
        &mut self,
        index: usize,
        target: Option<usize>,
        attempt: u32,
        why: LostAttempt,
    ) -> Result<Handled, Refusal> {
        let stale = match target {
            Some(target) => self.stale_target(index, target, attempt)?,
            None => self.stale_attempt(index, attempt)?,
        };
        if let Some(stale) = stale {
            return Ok(Handled::Stale(stale));
        }
        let run = &self.deployment.steps[index];
        let (claimed_by, started_at) = match target {
            Some(target) => {
                let on = &run.targets[target];
                (on.claimed_by.as_ref(), on.started_at)
            }
            None => (run.claimed_by.as_ref(), run.started_at),
        };
        let holds = match &why {
            LostAttempt::NotTaken { .. } => claimed_by.is_none(),
            LostAttempt::Silent { worker, .. } => claimed_by == Some(worker),
        };
        if !holds {
            return Ok(Handled::Stale(Stale::NotLost));
        }
        // A silent worker may only be cut off: tell it to stop, so the attempt never runs
        // alongside its retry (it also stops itself when it cannot send heartbeats).
        if let LostAttempt::Silent { .. } = &why {
            self.effects.push(Effect::StopStep {
                step: index,
                target,
                attempt,
                why: StopReason::Lost,
            });
        }
        let report = StepReport {
            step: index,
            target,
            attempt,
            outcome: StepOutcome::Failed {
                exit_code: None,
                reason: why.to_string(),
            },
            started_at: started_at.unwrap_or(self.now),
            finished_at: self.now,
            outputs: Default::default(),
        };
        self.step_finished(report)
    }

    /// A worker's result. Only the result of the running attempt, while nobody is asked about
    /// the step, counts (results are delivered at least once, and may come late). A success
    /// moves on; a failure is retried while retries remain, then asks a person under guided
    /// failure, else fails the step.
    pub(super) fn step_finished(&mut self, report: StepReport) -> Result<Handled, Refusal> {
        let index = report.step;
        let stale = match report.target {
            Some(target) => self.stale_target(index, target, report.attempt)?,
            None => self.stale_attempt(index, report.attempt)?,
        };
        if let Some(stale) = stale {
            return Ok(Handled::Stale(stale));
        }
        let StepReport {
            target,
            attempt,
            outcome,
            started_at,
            finished_at,
            outputs,
            ..
        } = report;
        let times = WorkerTimes {
            started_at,
            finished_at,
        };
        let run = &mut self.deployment.steps[index];
        if let Some(target) = target {
            run.targets[target].outputs.extend(outputs);
            return self.target_finished(index, target, outcome, &times);
        }
        run.outputs.extend(outputs);
        let name = run.name().clone();
        let (exit_code, reason) = match outcome {
            StepOutcome::Succeeded => {
                let succeeded = Recorded {
                    status: StepStatus::Succeeded,
                    exit_code: None,
                    error: None,
                };
                record(run, succeeded, &times);
                self.log(Note::StepSucceeded { step: name });
                return Ok(self.advance(Given::Nothing).into());
            }
            StepOutcome::Failed { exit_code, reason } => (exit_code, reason),
        };
        match after_failure(run.spec.retries, attempt, self.deployment.guided_failure) {
            FailureAction::Retry => {
                let retries = run.spec.retries;
                self.log(Note::Retrying {
                    step: name,
                    target: None,
                    attempt,
                    reason,
                    retries,
                });
                self.dispatch(index);
                Ok(Handled::Settled)
            }
            FailureAction::AskForGuidance => {
                // The failure is recorded and the step stays Running (paused) until a person
                // answers: retry, ignore or abort.
                let paused = Recorded {
                    status: StepStatus::Running,
                    exit_code,
                    error: Some(reason.clone()),
                };
                record(run, paused, &times);
                let question = guided_failure_question(&name, &reason);
                self.effects.push(Effect::OpenInterruption {
                    step: index,
                    kind: InterruptionKind::GuidedFailure,
                    instructions: question.clone(),
                    responsible_team: None,
                });
                self.wait_for_a_person(index, InterruptionKind::GuidedFailure);
                self.log(Note::AskingForGuidance { question });
                Ok(Handled::Settled)
            }
            FailureAction::Fail => {
                let failed = Recorded {
                    status: StepStatus::Failed,
                    exit_code,
                    error: Some(reason.clone()),
                };
                record(run, failed, &times);
                self.log(Note::StepFailed { step: name, reason });
                Ok(self.advance(Given::Nothing).into())
            }
        }
    }

    /// The shell evaluated the variable condition of the step the machine reached (and asked
    /// about). A condition that cannot be evaluated fails the step, loudly, instead of skipping it.
    pub(super) fn condition_evaluated(
        &mut self,
        step: usize,
        result: Result<bool, TemplateFailure>,
    ) -> Result<Handled, Refusal> {
        match result {
            Ok(holds) => Ok(self.advance(Given::ConditionHolds { step, holds }).into()),
            Err(failure) => {
                self.fail_before_running(
                    step,
                    format!("its run condition could not be evaluated: {failure}"),
                );
                Ok(self.advance(Given::Nothing).into())
            }
        }
    }

    /// The shell rendered the instructions of the manual intervention the machine reached:
    /// the deployment waits for a person. Instructions that cannot be rendered fail the step.
    pub(super) fn instructions_rendered(
        &mut self,
        step: usize,
        result: Result<String, TemplateFailure>,
    ) -> Result<Handled, Refusal> {
        let responsible_team = match &self.deployment.steps[step].spec.work {
            Work::ManualIntervention { responsible_team } => responsible_team.clone(),
            Work::Worker => None,
        };
        match result {
            Ok(instructions) => {
                self.open_manual_intervention(step, instructions, responsible_team);
                Ok(Handled::Settled)
            }
            Err(failure) => {
                self.fail_before_running(
                    step,
                    format!("its instructions could not be rendered: {failure}"),
                );
                Ok(self.advance(Given::Nothing).into())
            }
        }
    }
}
