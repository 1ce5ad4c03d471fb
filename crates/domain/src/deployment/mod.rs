//! The deployment state machine: the functional core every change of a deployment goes
//! through. The shell (`services/api/src/orchestrator/`) loads a [`Deployment`], calls
//! [`settle`] with one [`Command`] (answering the machine's [`Request`]s), writes the new
//! state and carries out the [`Effect`]s in one transaction. Nothing here does I/O or reads a
//! clock; `tests/` covers every command in every deployment status.

mod command;
mod effect;
mod machine;
mod preview;
mod refusal;
pub mod rules;
mod state;

pub use command::{
    Answer, Command, LostAttempt, Purpose, StepOutcome, StepReport, TemplateFailure,
};
pub use effect::{Effect, NextQueued, Note, Request, StopReason, guided_failure_question};
pub use machine::{Transition, settle, transition};
pub use preview::{Planned, preview};
pub use refusal::{Refusal, Stale, not_an_answer};
pub use state::{
    Deployment, EnvironmentTarget, Facts, InterruptionKind, NewDeployment, OpenInterruption,
    StepRun, StepSpec, TargetRef, TargetRun, Timestamp, Work, targets_with_roles,
};

#[cfg(test)]
mod tests;
