//! Why the state machine refuses a command (nothing changes), and why it ignores a worker's
//! result (a stale one: also nothing changes, but it is not an error).

use super::command::Answer;
use super::state::InterruptionKind;
use crate::status::{DeploymentStatus, StepStatus};

/// A command the deployment cannot take in its current state. The shell turns each into a
/// clear 4xx; the messages name the state, not the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("already finished: {status}")]
    AlreadyFinished { status: DeploymentStatus },
    #[error("is {status}, not waiting for an intervention")]
    NotWaitingForIntervention { status: DeploymentStatus },
    #[error("is {status}, not queued")]
    NotQueued { status: DeploymentStatus },
    /// Nothing is open (it was answered, or the deployment moved on).
    #[error("has no open interruption")]
    NoOpenInterruption,
    #[error("nobody has taken responsibility for the interruption")]
    NotTaken,
    #[error("{owner} has taken responsibility for the interruption")]
    TakenBySomeoneElse { owner: String },
    #[error("{}", not_an_answer(*kind, answer.as_str()))]
    AnswerDoesNotFit {
        kind: InterruptionKind,
        answer: Answer,
    },
    /// The command names a step the deployment does not have: a bug or a forged message.
    #[error("has no step {step}")]
    NoSuchStep { step: usize },
    /// An answer to a question the machine did not ask: a bug in the shell.
    #[error("was not waiting for step {step}'s condition or instructions")]
    NotAsked { step: usize },
    /// Another command while the machine waits for the answer to its question: a bug in the
    /// shell, which must answer first.
    #[error("waits for the answer to {request:?} first")]
    Unanswered { request: super::Request },
}

/// What people are told when their answer does not fit the question.
pub fn not_an_answer(kind: InterruptionKind, answer: &str) -> String {
    let question = match kind {
        InterruptionKind::ManualIntervention => "manual intervention",
        InterruptionKind::GuidedFailure => "guided failure",
    };
    let options: Vec<&str> = Answer::options(kind).iter().map(|a| a.as_str()).collect();
    let options = match options.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    format!("`{answer}` is not an answer to a {question}; use {options}")
}

/// Why a worker's result changed nothing. Results are delivered at least once and may come
/// late; only the result of the attempt the deployment waits for counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// The deployment already ended (cancelled while the step ran).
    DeploymentFinished { status: DeploymentStatus },
    /// The deployment waits for a person about this step; no worker runs it.
    WaitingForIntervention,
    /// The step is no longer running.
    StepNotRunning { status: StepStatus },
    /// The result is for an earlier attempt.
    OtherAttempt { current: u32 },
    /// A claim for an attempt another worker (or an earlier delivery of the same job)
    /// already claimed.
    AlreadyClaimed,
    /// A loss for an attempt that a worker claimed since (not taken) or never claimed, or
    /// that another worker holds (silent).
    NotLost,
    /// About a step on targets as a whole: no job was ever sent for it (each target's run has
    /// its own), so only a forged or mistaken message names it.
    RunsOnTargets,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::DeploymentFinished { status } => {
                write!(f, "the deployment already ended ({status})")
            }
            Stale::WaitingForIntervention => {
                f.write_str("the deployment waits for a person about this step")
            }
            Stale::StepNotRunning { status } => {
                write!(f, "the step is no longer running ({status})")
            }
            Stale::OtherAttempt { current } => write!(f, "the step is at attempt {current} now"),
            Stale::AlreadyClaimed => f.write_str("another delivery of this job already started it"),
            Stale::NotLost => f.write_str("the attempt is held by a worker"),
            Stale::RunsOnTargets => {
                f.write_str("the step runs on targets: each target's run has its own job")
            }
        }
    }
}
