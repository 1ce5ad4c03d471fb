//! What can happen to a deployment: the commands the state machine takes. Each comes from one
//! place (a person's request, a worker's result, the queue) and is handled by one file of the
//! shell (`services/api/src/orchestrator/`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::state::{InterruptionKind, Timestamp};
use crate::ids::{ClaimId, DeploymentId};

/// One thing that happens to a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The deployment was just recorded. `ahead` is the deployment of the same project and
    /// environment it must wait for (see `rules::admit`); without one it starts at once.
    Create {
        requested_by: String,
        purpose: Purpose,
        ahead: Option<DeploymentId>,
    },
    /// A queued deployment's turn came: the one ahead of it finished.
    Start,
    /// A worker asks to run an attempt of a step it was handed (the start handshake). Only
    /// the first worker to ask for the running attempt gets it: a cancelled, superseded or
    /// duplicated job never runs.
    Claim {
        step: usize,
        /// Which target's run, for a step on targets.
        target: Option<usize>,
        attempt: u32,
        worker: String,
        claim_id: ClaimId,
    },
    /// A worker reported how an attempt of a step ended.
    StepFinished(StepReport),
    /// The shell found a running attempt nobody will report on: no worker took its job in
    /// time, or the worker that took it stopped sending heartbeats.
    Lost {
        step: usize,
        target: Option<usize>,
        attempt: u32,
        why: LostAttempt,
    },
    /// A person takes responsibility for the open interruption.
    Take { taken_by: String },
    /// The person who took the open interruption answers it.
    Answer {
        answered_by: String,
        answer: Answer,
        note: Option<String>,
    },
    /// A person cancels the deployment.
    Cancel { cancelled_by: String },
    /// The shell's answer to [`super::Request::EvaluateCondition`].
    ConditionEvaluated {
        step: usize,
        result: Result<bool, TemplateFailure>,
    },
    /// The shell's answer to [`super::Request::RenderInstructions`]: the instructions as a
    /// person reads them (sensitive values already masked).
    InstructionsRendered {
        step: usize,
        result: Result<String, TemplateFailure>,
    },
}

/// Why a deployment was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Deploy,
    /// Redeploying an earlier release (`POST /api/deployments/rollback`).
    Rollback,
}

/// A template in a step's settings (its variable condition, its instructions) that could not
/// be rendered: the template error, masked, with its line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFailure {
    pub message: String,
}

impl fmt::Display for TemplateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a running attempt is given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostAttempt {
    /// No worker claimed the job within the dispatch timeout.
    NotTaken { waited_seconds: u64 },
    /// The worker that claimed it sent no heartbeat for this long.
    Silent { worker: String, silent_seconds: u64 },
}

impl fmt::Display for LostAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostAttempt::NotTaken { waited_seconds } => write!(
                f,
                "no worker took its job within {waited_seconds} seconds (the dispatch timeout)"
            ),
            LostAttempt::Silent {
                worker,
                silent_seconds,
            } => write!(
                f,
                "worker {worker} was lost: it sent no heartbeat for {silent_seconds} seconds"
            ),
        }
    }
}

/// How one attempt of a step ended on a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub step: usize,
    /// Which target's run, for a step on targets.
    pub target: Option<usize>,
    pub attempt: u32,
    pub outcome: StepOutcome,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// Output variables for later steps.
    pub outputs: BTreeMap<String, String>,
}

/// How a step ended on the worker (also the shape of the message the worker sends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepOutcome {
    Succeeded,
    Failed {
        /// The script's exit code, when it ran and exited.
        exit_code: Option<i32>,
        /// Why the step failed, in a sentence.
        reason: String,
    },
}

/// A person's answer to an interruption. Serde spells it as [`Answer::as_str`] does, for the
/// API's answers (`options`, `resolution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Manual intervention: carry on; the step succeeded.
    Proceed,
    /// Either kind: the step fails; steps that run on failure or always still run.
    Abort,
    /// Guided failure: run the step again.
    Retry,
    /// Guided failure: carry on as if the step had succeeded; the step is marked ignored.
    Ignore,
}

impl Answer {
    pub const ALL: [Answer; 4] = [
        Answer::Proceed,
        Answer::Abort,
        Answer::Retry,
        Answer::Ignore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Proceed => "proceed",
            Answer::Abort => "abort",
            Answer::Retry => "retry",
            Answer::Ignore => "ignore",
        }
    }

    pub fn parse(raw: &str) -> Option<Answer> {
        Answer::ALL
            .into_iter()
            .find(|answer| answer.as_str() == raw)
    }

    /// The answers a kind of interruption takes, in the order people are offered them.
    pub fn options(kind: InterruptionKind) -> &'static [Answer] {
        match kind {
            InterruptionKind::ManualIntervention => &[Answer::Proceed, Answer::Abort],
            InterruptionKind::GuidedFailure => &[Answer::Retry, Answer::Ignore, Answer::Abort],
        }
    }

    pub fn fits(self, kind: InterruptionKind) -> bool {
        Answer::options(kind).contains(&self)
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
