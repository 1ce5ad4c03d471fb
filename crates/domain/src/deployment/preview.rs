//! What a deployment would do if every step that runs succeeded and every manual
//! intervention proceeded: the state machine played forward, for the preview endpoint. It is
//! the same machine a real deployment goes through, so a preview cannot disagree with it.

use std::collections::{BTreeMap, VecDeque};

use super::command::{Answer, Command, Purpose, StepOutcome, StepReport};
use super::effect::{Effect, Note, Request};
use super::machine::settle;
use super::state::{Deployment, Timestamp};
use crate::names::StepName;
use crate::orchestration::SkipReason;

/// What one step would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Runs,
    Skipped(SkipReason),
    /// It would fail before running: a template in its settings (its variable condition,
    /// its instructions) cannot be rendered. The reason names the template's line and column.
    Fails(String),
}

/// The name the preview acts under when it plays interventions forward.
const PREVIEW: &str = "preview";

/// Plays a new deployment forward and reports each step. `answer` evaluates conditions and
/// renders instructions as the shell does for a real deployment.
pub fn preview(
    deployment: Deployment,
    now: Timestamp,
    mut answer: impl FnMut(&Deployment, Request) -> Command,
) -> Vec<Planned> {
    let mut planned = vec![Planned::Runs; deployment.steps.len()];
    let mut commands = VecDeque::from([Command::Create {
        requested_by: PREVIEW.into(),
        purpose: Purpose::Deploy,
        ahead: None,
    }]);
    let mut deployment = deployment;
    // Each step needs three commands at most, and one per target; the bound only guards
    // against a bug looping.
    let targets: usize = deployment.steps.iter().map(|run| run.targets.len()).sum();
    let mut budget = deployment.steps.len() * 3 + targets + 1;
    while let Some(command) = commands.pop_front() {
        if budget == 0 {
            break;
        }
        budget -= 1;
        let Ok(transition) = settle(deployment.clone(), command, now, &mut answer) else {
            break;
        };
        deployment = transition.deployment;
        for effect in transition.effects {
            match effect {
                Effect::Log(Note::StepSkipped { step, reason }) => {
                    mark(&deployment, &mut planned, &step, Planned::Skipped(reason));
                }
                Effect::Log(Note::StepFailed { step, reason }) => {
                    mark(&deployment, &mut planned, &step, Planned::Fails(reason));
                }
                Effect::Dispatch {
                    step,
                    target,
                    attempt,
                } => {
                    commands.push_back(Command::StepFinished(StepReport {
                        step,
                        target,
                        attempt,
                        outcome: StepOutcome::Succeeded,
                        started_at: now,
                        finished_at: now,
                        outputs: BTreeMap::new(),
                    }));
                }
                Effect::OpenInterruption { .. } => {
                    commands.push_back(Command::Take {
                        taken_by: PREVIEW.into(),
                    });
                    commands.push_back(Command::Answer {
                        answered_by: PREVIEW.into(),
                        answer: Answer::Proceed,
                        note: None,
                    });
                }
                _ => {}
            }
        }
    }
    planned
}

fn mark(deployment: &Deployment, planned: &mut [Planned], step: &StepName, what: Planned) {
    if let Some(index) = deployment.steps.iter().position(|run| run.name() == step) {
        planned[index] = what;
    }
}
