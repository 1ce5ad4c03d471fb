//! What the shell must do after a command, besides writing the new state: the machine's
//! effects, the questions it asks the shell, and the lines it writes to the task log.

use std::fmt;

use super::command::{Answer, Purpose};
use super::state::InterruptionKind;
use crate::ids::DeploymentId;
use crate::names::{
    EnvironmentName, ProjectName, ReleaseNumber, StepName, TargetName, TeamName, WorkerPool,
};
use crate::orchestration::SkipReason;
use crate::status::DeploymentStatus;

/// One thing to carry out, in order, in the same transaction as the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Append a line to the deployment's task log.
    Log(Note),
    /// Put the job for this attempt of a worker step in the outbox: for the project's pool,
    /// or for a step on targets, this target's run for the target's pool.
    Dispatch {
        step: usize,
        target: Option<usize>,
        attempt: u32,
    },
    /// Record the question the deployment now waits on.
    OpenInterruption {
        step: usize,
        kind: InterruptionKind,
        /// What the person reads: rendered instructions, or the guided-failure question.
        instructions: String,
        responsible_team: Option<TeamName>,
    },
    /// Record who took the open interruption.
    TakeInterruption {
        taken_by: String,
        previously_taken_by: Option<String>,
    },
    /// Record the answer to the open interruption.
    ResolveInterruption {
        answer: Answer,
        note: Option<String>,
        answered_by: String,
    },
    /// Close the open interruption of a cancelled deployment (recorded as aborted).
    CloseInterruption { cancelled_by: String },
    /// Tell the worker running this attempt to stop it.
    StopStep {
        step: usize,
        target: Option<usize>,
        attempt: u32,
        why: StopReason,
    },
    /// The deployment ended: send the finished event (the status email). `failed_step` is
    /// the first step that failed, or the one cancelled while running.
    Finished {
        status: DeploymentStatus,
        failed_step: Option<usize>,
    },
    /// The deployment no longer holds its project and environment: start the oldest queued
    /// deployment of the pair.
    StartNextQueued(NextQueued),
}

/// Why a running attempt is stopped, as its worker writes it in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The deployment was cancelled.
    Cancelled,
    /// The API gave the attempt up (its lease ran out): a worker that still runs it, cut
    /// off for a while, must not run it alongside its retry.
    Lost,
    /// A worker sent a heartbeat for an attempt it does not hold (given up, cancelled or
    /// ended meanwhile): the shell answers it with a stop, in case the stop it was sent then
    /// never reached it. The machine never emits it.
    NotHeld,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Cancelled => "the deployment was cancelled",
            StopReason::Lost => "Ferry gave this attempt up: its worker's lease ran out",
            StopReason::NotHeld => "this worker no longer holds the attempt",
        }
    }
}

/// When the next queued deployment of a project and environment may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextQueued {
    /// Now: the deployment that ended was the pair's active one.
    Start,
    /// Only if no other deployment of the pair is active (a queued deployment was cancelled
    /// while another one runs).
    IfIdle,
}

/// Something only the shell can work out, asked for before the machine goes on. The shell
/// answers with the matching command (`ConditionEvaluated`, `InstructionsRendered`), computed
/// from the deployment state the machine returned with the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The step is reached: evaluate its variable condition.
    EvaluateCondition { step: usize },
    /// The manual intervention step is reached: render its instructions.
    RenderInstructions { step: usize },
}

/// A line Ferry writes to a deployment's task log. The `Display` form is the text people
/// read, exactly as the status page and the API show it; the names in it are the domain's
/// types, each written as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Requested {
        purpose: Purpose,
        release_number: ReleaseNumber,
        environment_name: EnvironmentName,
        requested_by: String,
    },
    QueuedBehind {
        ahead: DeploymentId,
    },
    TurnCame,
    StepSkipped {
        step: StepName,
        reason: SkipReason,
    },
    StepDispatched {
        step: StepName,
        target: Option<TargetName>,
        worker_pool: WorkerPool,
        attempt: u32,
    },
    StepStarted {
        step: StepName,
        target: Option<TargetName>,
        worker: String,
    },
    /// A step on targets starts: how many targets, how many at once.
    StepOnTargets {
        step: StepName,
        targets: usize,
        window: usize,
    },
    TargetSucceeded {
        step: StepName,
        target: TargetName,
    },
    TargetFailed {
        step: StepName,
        target: TargetName,
        reason: String,
    },
    WaitsForIntervention {
        step: StepName,
        responsible_team: Option<TeamName>,
        instructions: String,
    },
    StepSucceeded {
        step: StepName,
    },
    StepFailed {
        step: StepName,
        reason: String,
    },
    Retrying {
        step: StepName,
        target: Option<TargetName>,
        attempt: u32,
        reason: String,
        retries: u8,
    },
    /// The guided-failure question (also the interruption's text).
    AskingForGuidance {
        question: String,
    },
    InterruptionTaken {
        taken_by: String,
    },
    Answered {
        answered_by: String,
        answer: Answer,
        step: StepName,
        note: Option<String>,
    },
    Cancelled {
        cancelled_by: String,
    },
    Finished {
        project_name: ProjectName,
        release_number: ReleaseNumber,
        environment_name: EnvironmentName,
        status: DeploymentStatus,
    },
}

/// The question guided failure asks about a failed step.
pub fn guided_failure_question(step: &StepName, reason: &str) -> String {
    format!(
        "Step \"{step}\" failed: {reason}. Guided failure is on: retry the step, ignore the failure and carry on, or abort."
    )
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Requested {
                purpose,
                release_number,
                environment_name,
                requested_by,
            } => {
                let verb = match purpose {
                    Purpose::Deploy => "Deploying",
                    Purpose::Rollback => "Rolling back to",
                };
                write!(
                    f,
                    "{verb} release {release_number} to {environment_name} requested by {requested_by}"
                )
            }
            Note::QueuedBehind { ahead } => write!(
                f,
                "Queued behind deployment {ahead} of the same project and environment"
            ),
            Note::TurnCame => f.write_str(
                "The previous deployment of this project to this environment finished; starting",
            ),
            Note::StepSkipped { step, reason } => {
                write!(f, "Step \"{step}\" skipped: {}", reason.describe())
            }
            Note::StepDispatched {
                step,
                target,
                worker_pool,
                attempt,
            } => {
                match target {
                    // A target's run goes to the target's pool, which the machine does not
                    // know (the shell records it on the run).
                    Some(target) => write!(
                        f,
                        "Step \"{step}\" on target {target} dispatched to the target's worker pool"
                    )?,
                    None => write!(
                        f,
                        "Step \"{step}\" dispatched to worker pool `{worker_pool}`"
                    )?,
                }
                if *attempt > 1 {
                    write!(f, " (attempt {attempt})")?;
                }
                Ok(())
            }
            Note::StepStarted {
                step,
                target: None,
                worker,
            } => write!(f, "Step \"{step}\" started on worker {worker}"),
            Note::StepStarted {
                step,
                target: Some(target),
                worker,
            } => write!(
                f,
                "Step \"{step}\" started on target {target} (worker {worker})"
            ),
            Note::StepOnTargets {
                step,
                targets,
                window,
            } => {
                let plural = if *targets == 1 { "" } else { "s" };
                write!(
                    f,
                    "Step \"{step}\" runs on {targets} target{plural}, at most {window} at once"
                )
            }
            Note::TargetSucceeded { step, target } => {
                write!(f, "Step \"{step}\" Succeeded on target {target}")
            }
            Note::TargetFailed {
                step,
                target,
                reason,
            } => write!(f, "Step \"{step}\" failed on target {target}: {reason}"),
            Note::WaitsForIntervention {
                step,
                responsible_team,
                instructions,
            } => {
                write!(f, "Step \"{step}\" waits for manual intervention")?;
                if let Some(team) = responsible_team {
                    write!(f, " ({team} is responsible)")?;
                }
                write!(f, ": {instructions}")
            }
            Note::StepSucceeded { step } => write!(f, "Step \"{step}\" Succeeded"),
            Note::StepFailed { step, reason } => write!(f, "Step \"{step}\" failed: {reason}"),
            Note::Retrying {
                step,
                target,
                attempt,
                reason,
                retries,
            } => {
                write!(f, "Step \"{step}\"")?;
                if let Some(target) = target {
                    write!(f, " on target {target}")?;
                }
                write!(
                    f,
                    " attempt {attempt} failed: {reason}; retrying ({attempt} of {retries} retries)"
                )
            }
            Note::AskingForGuidance { question } => f.write_str(question),
            Note::InterruptionTaken { taken_by } => {
                write!(f, "{taken_by} took responsibility for the interruption")
            }
            Note::Answered {
                answered_by,
                answer,
                step,
                note,
            } => {
                write!(f, "{answered_by} chose to {answer} step \"{step}\"")?;
                if let Some(note) = note {
                    write!(f, ": {note}")?;
                }
                Ok(())
            }
            Note::Cancelled { cancelled_by } => write!(f, "Cancelled by {cancelled_by}"),
            Note::Finished {
                project_name,
                release_number,
                environment_name,
                status,
            } => write!(
                f,
                "Deployment of {project_name} release {release_number} to {environment_name} finished: {status}"
            ),
        }
    }
}
