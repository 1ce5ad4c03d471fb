//! How the machine moves a deployment on: deciding the next move (`decide`), skipping,
//! starting attempts, pausing for a person, failing a step that cannot run, and ending.

use super::{Given, Machine};
use crate::deployment::effect::{Effect, NextQueued, Note, Request};
use crate::deployment::state::{InterruptionKind, OpenInterruption, StepRun, Timestamp, Work};
use crate::names::TeamName;
use crate::orchestration::{Condition, Next, Outcome, Skip, decide};
use crate::status::{DeploymentStatus, StepStatus};

impl Machine {
    /// Takes the deployment forward until it rests (a running step, a person) or finishes,
    /// or until it needs the shell to evaluate a condition or render instructions.
    pub(super) fn advance(&mut self, given: Given) -> Option<Request> {
        let plan: Vec<_> = self
            .deployment
            .steps
            .iter()
            .enumerate()
            .map(|(index, run)| {
                let mut plan = run.spec.plan();
                if let Given::ConditionHolds { step, holds } = given
                    && step == index
                {
                    plan.condition = Condition::Variable(Some(holds));
                }
                plan
            })
            .collect();
        let decision = decide(&plan, &self.deployment.statuses());
        for skip in decision.skip {
            self.skip(skip);
        }
        match decision.next {
            Next::Wait => None,
            Next::Evaluate(step) => Some(Request::EvaluateCondition { step }),
            Next::Finish(outcome) => {
                let (status, failed_step) = match outcome {
                    Outcome::Success => (DeploymentStatus::Success, None),
                    Outcome::Failed { step } => (DeploymentStatus::Failed, Some(step)),
                };
                self.end(status, failed_step, NextQueued::Start);
                None
            }
            Next::Start(step) => {
                self.leave_the_queue();
                match self.deployment.steps[step].spec.work {
                    Work::Worker if self.deployment.steps[step].spec.on_targets() => {
                        self.start_on_targets(step)
                    }
                    Work::Worker => {
                        self.dispatch(step);
                        None
                    }
                    Work::ManualIntervention { .. } => Some(Request::RenderInstructions { step }),
                }
            }
        }
    }

    pub(super) fn skip(&mut self, skip: Skip) {
        // A skipped step on targets runs on none of them.
        self.abandon_pending_targets(skip.index);
        let run = &mut self.deployment.steps[skip.index];
        run.status = StepStatus::Skipped;
        let step = run.name().clone();
        self.log(Note::StepSkipped {
            step,
            reason: skip.reason,
        });
    }

    /// The first step starts: the deployment is running from now on.
    pub(super) fn leave_the_queue(&mut self) {
        if self.deployment.status == DeploymentStatus::Queued {
            self.deployment.status = DeploymentStatus::Running;
            self.deployment.started_at.get_or_insert(self.now);
        }
    }

    /// Starts a new attempt of a step: Running, its attempt counted, a fresh result.
    pub(super) fn begin_attempt(&mut self, index: usize) -> u32 {
        let run = &mut self.deployment.steps[index];
        run.attempt += 1;
        run.status = StepStatus::Running;
        run.dispatched_at = Some(self.now);
        run.claimed_by = None;
        run.claim_id = None;
        run.exit_code = None;
        run.error = None;
        run.attempt
    }

    /// Sends a worker step (again): a new attempt, its job for the project's pool.
    pub(super) fn dispatch(&mut self, index: usize) {
        let attempt = self.begin_attempt(index);
        self.log(Note::StepDispatched {
            step: self.deployment.steps[index].name().clone(),
            target: None,
            worker_pool: self.deployment.facts.worker_pool.clone(),
            attempt,
        });
        self.effects.push(Effect::Dispatch {
            step: index,
            target: None,
            attempt,
        });
    }

    pub(super) fn open_manual_intervention(
        &mut self,
        index: usize,
        instructions: String,
        responsible_team: Option<TeamName>,
    ) {
        self.begin_attempt(index);
        self.effects.push(Effect::OpenInterruption {
            step: index,
            kind: InterruptionKind::ManualIntervention,
            instructions: instructions.clone(),
            responsible_team: responsible_team.clone(),
        });
        self.wait_for_a_person(index, InterruptionKind::ManualIntervention);
        self.log(Note::WaitsForIntervention {
            step: self.deployment.steps[index].name().clone(),
            responsible_team,
            instructions,
        });
    }

    pub(super) fn wait_for_a_person(&mut self, index: usize, kind: InterruptionKind) {
        self.deployment.status = DeploymentStatus::WaitingForIntervention;
        self.deployment.started_at.get_or_insert(self.now);
        self.deployment.open_interruption = Some(OpenInterruption {
            step: index,
            kind,
            taken_by: None,
        });
    }

    /// Fails a step without running it (a template in its settings is broken).
    pub(super) fn fail_before_running(&mut self, index: usize, reason: String) {
        self.abandon_pending_targets(index);
        let run = &mut self.deployment.steps[index];
        run.status = StepStatus::Failed;
        run.error = Some(reason.clone());
        run.finished_at.get_or_insert(self.now);
        let step = run.name().clone();
        self.log(Note::StepFailed { step, reason });
    }

    /// Ends the deployment: its status and error, the closing line, the finished event, and
    /// the turn of the next deployment queued behind it.
    pub(super) fn end(
        &mut self,
        status: DeploymentStatus,
        failed_step: Option<usize>,
        next: NextQueued,
    ) {
        let error = match (status, failed_step) {
            (DeploymentStatus::Canceled, _) => Some("the deployment was cancelled".to_owned()),
            (_, Some(index)) => {
                let run = &self.deployment.steps[index];
                Some(format!(
                    "Step \"{}\" failed: {}",
                    run.name(),
                    run.error.as_deref().unwrap_or("failed")
                ))
            }
            (_, None) => None,
        };
        let deployment = &mut self.deployment;
        deployment.status = status;
        deployment.error = error;
        deployment.finished_at = Some(self.now);
        let facts = &deployment.facts;
        let note = Note::Finished {
            project_name: facts.project_name.clone(),
            release_number: facts.release_number.clone(),
            environment_name: facts.environment_name.clone(),
            status,
        };
        self.log(note);
        self.effects.push(Effect::Finished {
            status,
            failed_step,
        });
        self.effects.push(Effect::StartNextQueued(next));
    }
}

/// When the worker started and ended an attempt, by its clock.
pub(super) struct WorkerTimes {
    pub(super) started_at: Timestamp,
    pub(super) finished_at: Timestamp,
}

/// What a worker's result leaves on its step.
pub(super) struct Recorded {
    pub(super) status: StepStatus,
    pub(super) exit_code: Option<i32>,
    /// Why the attempt failed.
    pub(super) error: Option<String>,
}

/// Stores a worker's result on its step.
pub(super) fn record(run: &mut StepRun, recorded: Recorded, times: &WorkerTimes) {
    let Recorded {
        status,
        exit_code,
        error,
    } = recorded;
    run.status = status;
    run.exit_code = exit_code;
    run.error = error;
    run.started_at = Some(times.started_at);
    run.finished_at = Some(times.finished_at);
}
