//! The machine's handlers for what people decide: taking and answering an interruption,
//! cancelling.

use super::{Given, Handled, Machine};
use crate::deployment::command::Answer;
use crate::deployment::effect::{Effect, NextQueued, Note, StopReason};
use crate::deployment::refusal::Refusal;
use crate::deployment::state::InterruptionKind;
use crate::status::{DeploymentStatus, StepStatus};

impl Machine {
    /// A person takes responsibility for the open interruption (taking over from whoever
    /// had it).
    pub(super) fn take(&mut self, taken_by: String) -> Result<Handled, Refusal> {
        let open = self
            .deployment
            .open_interruption
            .as_mut()
            .ok_or(Refusal::NoOpenInterruption)?;
        let previously_taken_by = open.taken_by.replace(taken_by.clone());
        self.effects.push(Effect::TakeInterruption {
            taken_by: taken_by.clone(),
            previously_taken_by,
        });
        self.log(Note::InterruptionTaken { taken_by });
        Ok(Handled::Settled)
    }

    /// The person who took the open interruption answers it. A manual intervention proceeds
    /// (the step succeeded) or aborts (it failed, naming who aborted); a guided failure is
    /// retried (a new attempt), ignored (the step counts as succeeded, flagged) or aborted
    /// (the step keeps its failure). Then the deployment goes on.
    pub(super) fn answer(
        &mut self,
        answered_by: String,
        answer: Answer,
        note: Option<String>,
    ) -> Result<Handled, Refusal> {
        let open = self
            .deployment
            .open_interruption
            .clone()
            .ok_or(Refusal::NoOpenInterruption)?;
        if !answer.fits(open.kind) {
            return Err(Refusal::AnswerDoesNotFit {
                kind: open.kind,
                answer,
            });
        }
        match &open.taken_by {
            None => return Err(Refusal::NotTaken),
            Some(owner) if *owner != answered_by => {
                return Err(Refusal::TakenBySomeoneElse {
                    owner: owner.clone(),
                });
            }
            Some(_) => {}
        }
        let status = self.deployment.status;
        if status != DeploymentStatus::WaitingForIntervention {
            return Err(Refusal::NotWaitingForIntervention { status });
        }
        let index = open.step;
        self.effects.push(Effect::ResolveInterruption {
            answer,
            note: note.clone(),
            answered_by: answered_by.clone(),
        });
        self.deployment.open_interruption = None;
        self.deployment.status = DeploymentStatus::Running;
        self.log(Note::Answered {
            answered_by: answered_by.clone(),
            answer,
            step: self.deployment.steps[index].name().clone(),
            note: note.clone(),
        });
        let now = self.now;
        let run = &mut self.deployment.steps[index];
        let on_targets = run.spec.on_targets();
        match answer {
            Answer::Retry if on_targets => return Ok(self.retry_targets(index).into()),
            Answer::Retry => {
                self.dispatch(index);
                return Ok(Handled::Settled);
            }
            Answer::Proceed => run.status = StepStatus::Succeeded,
            Answer::Ignore => {
                run.status = StepStatus::Succeeded;
                run.failure_ignored = true;
            }
            Answer::Abort => {
                run.status = StepStatus::Failed;
                if open.kind == InterruptionKind::ManualIntervention {
                    let note = note.map(|note| format!(": {note}")).unwrap_or_default();
                    run.error = Some(format!("aborted by {answered_by}{note}"));
                }
            }
        }
        if answer != Answer::Ignore {
            run.finished_at.get_or_insert(now);
        }
        if on_targets {
            self.abandon_pending_targets(index);
        }
        Ok(self.advance(Given::Nothing).into())
    }

    /// Cancelling: the running step is `Canceled` (its worker told to stop; whatever it
    /// reports later is stale), every pending step `Abandoned`, the open question closed,
    /// nothing else runs (not even *always* steps), and the deployment ends `Canceled`.
    pub(super) fn cancel(&mut self, cancelled_by: String) -> Result<Handled, Refusal> {
        let status = self.deployment.status;
        if status.is_terminal() {
            return Err(Refusal::AlreadyFinished { status });
        }
        let was_active = self.deployment.is_active();
        // While a person is asked, no worker runs anything.
        let a_worker_may_run = status != DeploymentStatus::WaitingForIntervention;
        let reason = format!("cancelled by {cancelled_by}");
        let on_targets: Vec<usize> = (0..self.deployment.steps.len())
            .filter(|index| self.deployment.steps[*index].spec.on_targets())
            .collect();
        for index in on_targets {
            self.cancel_targets(index, &reason, a_worker_may_run);
        }
        for (index, run) in self.deployment.steps.iter_mut().enumerate() {
            let new_status = match run.status {
                StepStatus::Running => {
                    if run.spec.runs_on_worker() && a_worker_may_run && !run.spec.on_targets() {
                        self.effects.push(Effect::StopStep {
                            step: index,
                            target: None,
                            attempt: run.attempt,
                            why: StopReason::Cancelled,
                        });
                    }
                    StepStatus::Canceled
                }
                StepStatus::Pending => StepStatus::Abandoned,
                _ => continue,
            };
            run.status = new_status;
            run.error = Some(reason.clone());
            run.finished_at.get_or_insert(self.now);
        }
        if self.deployment.open_interruption.take().is_some() {
            self.effects.push(Effect::CloseInterruption {
                cancelled_by: cancelled_by.clone(),
            });
        }
        self.log(Note::Cancelled { cancelled_by });
        let canceled_step = self
            .deployment
            .steps
            .iter()
            .position(|run| run.status == StepStatus::Canceled);
        let next = if was_active {
            NextQueued::Start
        } else {
            NextQueued::IfIdle
        };
        self.end(DeploymentStatus::Canceled, canceled_step, next);
        Ok(Handled::Settled)
    }
}
