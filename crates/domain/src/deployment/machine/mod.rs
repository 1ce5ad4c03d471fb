//! The deployment state machine: one pure function from a deployment's state and a command to
//! its next state and the effects the shell carries out. Every change of a deployment goes
//! through [`transition`]. The handlers, each documenting the rules it applies, are in
//! `commands.rs` (creation, turns, results, the shell's answers), `people.rs` (take, answer,
//! cancel) and `progress.rs` (deciding and carrying out the next move); ARCHITECTURE.md draws
//! the states.

mod commands;
mod people;
mod progress;
mod targets;

use super::command::Command;
use super::effect::{Effect, Note, Request};
use super::refusal::{Refusal, Stale};
use super::state::{Deployment, Timestamp};

use progress::{WorkerTimes, record};

/// The result of one command: the new state, what to carry out, and whether the machine
/// stopped to ask the shell something first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub deployment: Deployment,
    /// In order; the shell carries out every one in the transaction that writes the state.
    pub effects: Vec<Effect>,
    /// A question the shell must answer (with the matching command, on `deployment`) before
    /// the deployment can go on. [`settle`] answers them in a loop.
    pub request: Option<Request>,
    /// Set when the command was a worker's stale result: nothing changed.
    pub stale: Option<Stale>,
}

impl Transition {
    /// The runs this transition dispatches, in order: `(step, target, attempt)`.
    pub fn dispatches(&self) -> Vec<(usize, Option<usize>, u32)> {
        self.effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Dispatch {
                    step,
                    target,
                    attempt,
                } => Some((*step, *target, *attempt)),
                _ => None,
            })
            .collect()
    }
}

/// Applies one command. Refused commands change nothing.
pub fn transition(
    deployment: Deployment,
    command: Command,
    now: Timestamp,
) -> Result<Transition, Refusal> {
    let mut machine = Machine {
        deployment,
        effects: Vec::new(),
        now,
    };
    let outcome = machine.handle(command)?;
    let (request, stale) = match outcome {
        Handled::Settled => (None, None),
        Handled::Asks(request) => (Some(request), None),
        Handled::Stale(stale) => (None, Some(stale)),
    };
    machine.deployment.awaiting = request;
    Ok(Transition {
        deployment: machine.deployment,
        effects: machine.effects,
        request,
        stale,
    })
}

/// Applies one command and answers every question the machine asks with `answer`, until the
/// deployment rests (waits for a worker or a person, or has finished). `answer` sees the
/// state as it is when the question is asked and returns the matching command.
pub fn settle(
    deployment: Deployment,
    command: Command,
    now: Timestamp,
    mut answer: impl FnMut(&Deployment, Request) -> Command,
) -> Result<Transition, Refusal> {
    let mut settled = transition(deployment, command, now)?;
    while let Some(request) = settled.request.take() {
        let reply = answer(&settled.deployment, request);
        let next = transition(settled.deployment, reply, now)?;
        settled.effects.extend(next.effects);
        settled.deployment = next.deployment;
        settled.request = next.request;
    }
    Ok(settled)
}

enum Handled {
    Settled,
    Asks(Request),
    Stale(Stale),
}

impl From<Option<Request>> for Handled {
    fn from(request: Option<Request>) -> Self {
        match request {
            Some(request) => Handled::Asks(request),
            None => Handled::Settled,
        }
    }
}

/// What the shell told the machine about the step it reached.
enum Given {
    Nothing,
    ConditionHolds { step: usize, holds: bool },
}

struct Machine {
    deployment: Deployment,
    effects: Vec<Effect>,
    now: Timestamp,
}

impl Machine {
    fn handle(&mut self, command: Command) -> Result<Handled, Refusal> {
        // While the machine waits for the shell's answer, nothing else may happen; an answer
        // nobody asked for is refused.
        match (&command, self.deployment.awaiting.take()) {
            (
                Command::ConditionEvaluated { step, .. },
                Some(Request::EvaluateCondition { step: asked }),
            )
            | (
                Command::InstructionsRendered { step, .. },
                Some(Request::RenderInstructions { step: asked }),
            ) if *step == asked => {}
            (
                Command::ConditionEvaluated { step, .. }
                | Command::InstructionsRendered { step, .. },
                _,
            ) => return Err(Refusal::NotAsked { step: *step }),
            (_, Some(request)) => return Err(Refusal::Unanswered { request }),
            (_, None) => {}
        }
        match command {
            Command::Create {
                requested_by,
                purpose,
                ahead,
            } => self.create(requested_by, purpose, ahead),
            Command::Start => self.start(),
            Command::Claim {
                step,
                target,
                attempt,
                worker,
                claim_id,
            } => self.claim(step, target, attempt, worker, claim_id),
            Command::StepFinished(report) => self.step_finished(report),
            Command::Lost {
                step,
                target,
                attempt,
                why,
            } => self.lost(step, target, attempt, why),
            Command::Take { taken_by } => self.take(taken_by),
            Command::Answer {
                answered_by,
                answer,
                note,
            } => self.answer(answered_by, answer, note),
            Command::Cancel { cancelled_by } => self.cancel(cancelled_by),
            Command::ConditionEvaluated { step, result } => self.condition_evaluated(step, result),
            Command::InstructionsRendered { step, result } => {
                self.instructions_rendered(step, result)
            }
        }
    }

    fn log(&mut self, note: Note) {
        self.effects.push(Effect::Log(note));
    }
}
