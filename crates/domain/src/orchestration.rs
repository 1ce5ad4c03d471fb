//! What a deployment does next: pure functions of its plan and the states of its steps.
//!
//! The API loads a deployment, calls [`decide`] (and, when a step fails, [`after_failure`];
//! when someone cancels, [`cancel`]), and persists the result in the same transaction.
//! Nothing here reads a clock, a database or a queue, so every rule is covered by the unit
//! tests at the bottom of this file. ARCHITECTURE.md draws the state machine these functions
//! implement.

use crate::status::StepStatus;

/// A step's run condition, with a variable condition already evaluated by the caller (the
/// domain knows no templates). The caller re-evaluates it at every call, so it sees the
/// statuses of the steps before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Success,
    Failure,
    Always,
    /// A variable expression and whether it evaluated to true.
    Variable(bool),
}

/// What [`decide`] needs to know about one step besides its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepPlan {
    pub condition: Condition,
    /// Whether the step's environment condition lets it run in this deployment's environment.
    pub environment_allows: bool,
    /// Whether the person who created the deployment excluded the step.
    pub excluded: bool,
}

impl StepPlan {
    /// A step that runs when everything before it succeeded, everywhere.
    pub const DEFAULT: StepPlan = StepPlan {
        condition: Condition::Success,
        environment_allows: true,
        excluded: false,
    };
}

/// Why a step is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Excluded when the deployment was created.
    Excluded,
    /// Its environment condition leaves out this environment.
    EnvironmentCondition,
    /// Run condition *success* after a failure, or *failure* after none.
    RunCondition,
    /// Its variable condition evaluated to false.
    VariableCondition,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Excluded => "it was excluded from this deployment",
            SkipReason::EnvironmentCondition => {
                "its environment condition excludes this environment"
            }
            SkipReason::RunCondition => "its run condition does not hold",
            SkipReason::VariableCondition => "its variable condition evaluated to false",
        }
    }
}

/// One step to mark skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    pub index: usize,
    pub reason: SkipReason,
}

/// How a finished deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every step that ran succeeded (or had its failure ignored).
    Success,
    /// A step failed; `step` is the index of the first step that failed.
    Failed { step: usize },
}

/// What to do after the skips in [`Decision::skip`] are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start the step at this index: dispatch its job, or open its manual intervention.
    Start(usize),
    /// A step is running or waiting for a person; nothing to do until that changes.
    Wait,
    /// Every step is in a final state: the deployment ends.
    Finish(Outcome),
}

/// The result of [`decide`]: steps to mark skipped, then the next move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Pending steps that do not run, and why.
    pub skip: Vec<Skip>,
    pub next: Next,
}

/// Decides the next move of a deployment whose steps run one after another.
///
/// `plan[i]` describes step `i` and `statuses[i]` is its current state; both slices have one
/// entry per step of the release's process. A step paused on a manual intervention or a
/// guided-failure question is `Running` here.
///
/// Rules:
/// - Steps run in order, one at a time; while one is `Running`, the answer is `Wait`.
/// - A step whose state is `Failed`, `Canceled` or `Abandoned` counts as a failure for every
///   step after it. A failure that was ignored under guided failure is `Succeeded`.
/// - A pending step is skipped when it was excluded, or when its environment condition
///   leaves out this environment. Otherwise it runs when its condition holds: `Success`
///   when nothing before it failed, `Failure` when something did, `Always` in both cases,
///   `Variable` when its expression is true; else it is skipped.
/// - When no step is pending or running, the deployment finishes: `Failed` naming the first
///   failed step, else `Success`.
///
/// # Panics
/// When the two slices differ in length, which is a bug in the caller.
pub fn decide(plan: &[StepPlan], statuses: &[StepStatus]) -> Decision {
    assert_eq!(
        plan.len(),
        statuses.len(),
        "one plan and one status per step"
    );
    let mut skip = Vec::new();
    let mut first_failure: Option<usize> = None;
    for (index, (step, &status)) in plan.iter().zip(statuses).enumerate() {
        match status {
            StepStatus::Running => {
                return Decision {
                    skip,
                    next: Next::Wait,
                };
            }
            StepStatus::Succeeded | StepStatus::Skipped => {}
            StepStatus::Failed | StepStatus::Canceled | StepStatus::Abandoned => {
                first_failure.get_or_insert(index);
            }
            StepStatus::Pending => match runs(step, first_failure.is_some()) {
                Ok(()) => {
                    return Decision {
                        skip,
                        next: Next::Start(index),
                    };
                }
                Err(reason) => skip.push(Skip { index, reason }),
            },
        }
    }
    let outcome = match first_failure {
        Some(step) => Outcome::Failed { step },
        None => Outcome::Success,
    };
    Decision {
        skip,
        next: Next::Finish(outcome),
    }
}

/// Whether a pending step runs, given whether something before it failed.
fn runs(step: &StepPlan, failed_before: bool) -> Result<(), SkipReason> {
    if step.excluded {
        return Err(SkipReason::Excluded);
    }
    if !step.environment_allows {
        return Err(SkipReason::EnvironmentCondition);
    }
    match step.condition {
        Condition::Success if failed_before => Err(SkipReason::RunCondition),
        Condition::Failure if !failed_before => Err(SkipReason::RunCondition),
        Condition::Variable(false) => Err(SkipReason::VariableCondition),
        _ => Ok(()),
    }
}

/// What happens when an attempt of a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Dispatch the step again (the next attempt).
    Retry,
    /// Pause the deployment and ask a person: retry, ignore or abort (guided failure).
    AskForGuidance,
    /// The step is `Failed`; decide what runs next.
    Fail,
}

/// After attempt number `attempt` (1 for the first) of a step allowed `retries` retries
/// failed: automatic retries come first, then guided failure when it is on, else the step
/// fails.
pub fn after_failure(retries: u8, attempt: u32, guided_failure: bool) -> FailureAction {
    if attempt <= u32::from(retries) {
        FailureAction::Retry
    } else if guided_failure {
        FailureAction::AskForGuidance
    } else {
        FailureAction::Fail
    }
}

/// A person's answer to a guided-failure question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guidance {
    /// Run the step again.
    Retry,
    /// Carry on as if the step had succeeded; the step is marked as ignored.
    Ignore,
    /// Let the step fail; steps that run on failure or always still run.
    Abort,
}

/// The state a step paused by guided failure moves to, and whether it is dispatched again.
pub fn apply_guidance(guidance: Guidance) -> (StepStatus, bool) {
    match guidance {
        Guidance::Retry => (StepStatus::Running, true),
        Guidance::Ignore => (StepStatus::Succeeded, false),
        Guidance::Abort => (StepStatus::Failed, false),
    }
}

/// A person's answer to a manual intervention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterventionResult {
    Proceed,
    Abort,
}

/// The state a manual-intervention step moves to.
pub fn apply_intervention(result: InterventionResult) -> StepStatus {
    match result {
        InterventionResult::Proceed => StepStatus::Succeeded,
        InterventionResult::Abort => StepStatus::Failed,
    }
}

/// Cancelling a deployment: the running step is `Canceled` (its worker is told to stop, and
/// whatever it reports later is stale), every pending step is `Abandoned`, nothing else runs
/// (not even *always* steps), and the deployment ends `Canceled`. Returns the changes.
pub fn cancel(statuses: &[StepStatus]) -> Vec<(usize, StepStatus)> {
    statuses
        .iter()
        .enumerate()
        .filter_map(|(index, status)| match status {
            StepStatus::Running => Some((index, StepStatus::Canceled)),
            StepStatus::Pending => Some((index, StepStatus::Abandoned)),
            _ => None,
        })
        .collect()
}

/// What a deployment would do, step by step, if every step that runs succeeded and every
/// intervention proceeded: for a preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    Runs,
    Skipped(SkipReason),
}

/// Plays [`decide`] forward from the start, assuming success, and reports each step.
pub fn preview(plan: &[StepPlan]) -> Vec<Planned> {
    let mut statuses = vec![StepStatus::Pending; plan.len()];
    let mut planned = vec![Planned::Runs; plan.len()];
    loop {
        let decision = decide(plan, &statuses);
        for skip in &decision.skip {
            statuses[skip.index] = StepStatus::Skipped;
            planned[skip.index] = Planned::Skipped(skip.reason);
        }
        match decision.next {
            Next::Start(index) => statuses[index] = StepStatus::Succeeded,
            Next::Wait | Next::Finish(_) => return planned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Condition::{Always, Failure, Success as OnSuccess};
    use StepStatus::*;

    fn plans(conditions: &[Condition]) -> Vec<StepPlan> {
        conditions
            .iter()
            .map(|&condition| StepPlan {
                condition,
                ..StepPlan::DEFAULT
            })
            .collect()
    }

    fn next(conditions: &[Condition], statuses: &[StepStatus]) -> (Vec<usize>, Next) {
        let decision = decide(&plans(conditions), statuses);
        (
            decision.skip.iter().map(|s| s.index).collect(),
            decision.next,
        )
    }

    #[test]
    fn a_new_deployment_starts_its_first_step() {
        assert_eq!(
            next(&[OnSuccess, OnSuccess], &[Pending, Pending]),
            (vec![], Next::Start(0))
        );
    }

    #[test]
    fn the_next_step_starts_when_the_previous_one_succeeds() {
        assert_eq!(
            next(
                &[OnSuccess, OnSuccess, OnSuccess],
                &[Succeeded, Pending, Pending]
            ),
            (vec![], Next::Start(1))
        );
    }

    #[test]
    fn nothing_happens_while_a_step_runs() {
        assert_eq!(
            next(&[OnSuccess, OnSuccess], &[Succeeded, Running]),
            (vec![], Next::Wait)
        );
        assert_eq!(
            next(&[OnSuccess, OnSuccess], &[Running, Pending]),
            (vec![], Next::Wait)
        );
    }

    #[test]
    fn all_succeeded_is_success() {
        assert_eq!(
            next(&[OnSuccess, OnSuccess], &[Succeeded, Succeeded]),
            (vec![], Next::Finish(Outcome::Success))
        );
    }

    #[test]
    fn a_failure_skips_the_remaining_success_steps_and_fails_naming_the_step() {
        assert_eq!(
            next(
                &[OnSuccess, OnSuccess, OnSuccess],
                &[Succeeded, Failed, Pending]
            ),
            (vec![2], Next::Finish(Outcome::Failed { step: 1 }))
        );
    }

    #[test]
    fn an_always_step_runs_after_a_failure_and_the_deployment_still_fails() {
        let conditions = [OnSuccess, OnSuccess, Always];
        assert_eq!(
            next(&conditions, &[Failed, Pending, Pending]),
            (vec![1], Next::Start(2))
        );
        assert_eq!(
            next(&conditions, &[Failed, Skipped, Succeeded]),
            (vec![], Next::Finish(Outcome::Failed { step: 0 }))
        );
    }

    #[test]
    fn a_failure_step_runs_only_after_a_failure() {
        let conditions = [OnSuccess, Failure, OnSuccess];
        assert_eq!(
            next(&conditions, &[Succeeded, Pending, Pending]),
            (vec![1], Next::Start(2))
        );
        assert_eq!(
            next(&conditions, &[Failed, Pending, Pending]),
            (vec![], Next::Start(1))
        );
    }

    #[test]
    fn a_failing_always_step_after_success_fails_the_deployment() {
        assert_eq!(
            next(&[OnSuccess, Always], &[Succeeded, Failed]),
            (vec![], Next::Finish(Outcome::Failed { step: 1 }))
        );
    }

    #[test]
    fn canceled_and_abandoned_steps_count_as_failures() {
        assert_eq!(
            next(&[OnSuccess, OnSuccess], &[Canceled, Pending]),
            (vec![1], Next::Finish(Outcome::Failed { step: 0 }))
        );
        assert_eq!(
            next(&[OnSuccess, Always], &[Abandoned, Pending]),
            (vec![], Next::Start(1))
        );
    }

    #[test]
    fn the_first_failure_is_the_one_reported() {
        assert_eq!(
            next(&[OnSuccess, Always, Always], &[Failed, Failed, Failed]),
            (vec![], Next::Finish(Outcome::Failed { step: 0 }))
        );
    }

    #[test]
    fn skipped_steps_do_not_fail_the_deployment() {
        assert_eq!(
            next(&[Failure, OnSuccess], &[Skipped, Succeeded]),
            (vec![], Next::Finish(Outcome::Success))
        );
    }

    /// Every combination of conditions and statuses for three steps: the decision is always
    /// consistent with the rules, whatever the input.
    #[test]
    fn every_combination_of_three_steps_obeys_the_rules() {
        let mut every_plan = Vec::new();
        for condition in [
            OnSuccess,
            Failure,
            Always,
            Condition::Variable(true),
            Condition::Variable(false),
        ] {
            for environment_allows in [true, false] {
                for excluded in [false, true] {
                    every_plan.push(StepPlan {
                        condition,
                        environment_allows,
                        excluded,
                    });
                }
            }
        }
        for p0 in &every_plan {
            for p1 in &every_plan {
                for p2 in &every_plan {
                    for s0 in StepStatus::ALL {
                        for s1 in StepStatus::ALL {
                            for s2 in StepStatus::ALL {
                                check_rules(&[*p0, *p1, *p2], &[s0, s1, s2]);
                            }
                        }
                    }
                }
            }
        }
    }

    fn check_rules(plan: &[StepPlan], statuses: &[StepStatus]) {
        let decision = decide(plan, statuses);
        let first_running = statuses.iter().position(|s| *s == Running);
        let skipped: Vec<usize> = decision.skip.iter().map(|s| s.index).collect();
        for &index in &skipped {
            assert_eq!(statuses[index], Pending, "only pending steps are skipped");
        }
        match decision.next {
            Next::Wait => {
                let running = first_running.expect("wait only while a step runs");
                assert!(skipped.iter().all(|&i| i < running));
            }
            Next::Start(index) => {
                assert_eq!(statuses[index], Pending);
                assert!(first_running.is_none_or(|r| r > index));
                assert!(skipped.iter().all(|&i| i < index));
                let failed_before = statuses[..index]
                    .iter()
                    .any(|s| matches!(s, Failed | Canceled | Abandoned));
                assert_eq!(runs(&plan[index], failed_before), Ok(()));
            }
            Next::Finish(outcome) => {
                assert!(first_running.is_none());
                let mut final_statuses = statuses.to_vec();
                for &i in &skipped {
                    final_statuses[i] = Skipped;
                }
                assert!(final_statuses.iter().all(|s| s.is_terminal()));
                let first_failure = final_statuses
                    .iter()
                    .position(|s| matches!(s, Failed | Canceled | Abandoned));
                match outcome {
                    Outcome::Success => assert!(first_failure.is_none()),
                    Outcome::Failed { step } => assert_eq!(Some(step), first_failure),
                }
            }
        }
    }

    fn step(condition: Condition) -> StepPlan {
        StepPlan {
            condition,
            ..StepPlan::DEFAULT
        }
    }

    fn skip_in_this_environment(condition: Condition) -> StepPlan {
        StepPlan {
            condition,
            environment_allows: false,
            excluded: false,
        }
    }

    /// The tutorial's process in Dev: the sign-off step is skipped there, the email step
    /// always runs.
    #[test]
    fn the_tutorial_skips_sign_off_in_dev() {
        let plan = [
            step(OnSuccess),
            skip_in_this_environment(OnSuccess),
            step(Always),
        ];
        let decision = decide(&plan, &[Succeeded, Pending, Pending]);
        assert_eq!(
            decision.skip,
            vec![Skip {
                index: 1,
                reason: SkipReason::EnvironmentCondition
            }]
        );
        assert_eq!(decision.next, Next::Start(2));
    }

    #[test]
    fn a_variable_condition_decides_on_its_own() {
        let plan = [
            step(OnSuccess),
            step(Condition::Variable(true)),
            step(Condition::Variable(false)),
        ];
        let decision = decide(&plan, &[Failed, Pending, Pending]);
        assert_eq!(decision.next, Next::Start(1));
        let decision = decide(&plan, &[Failed, Succeeded, Pending]);
        assert_eq!(
            decision.skip,
            vec![Skip {
                index: 2,
                reason: SkipReason::VariableCondition
            }]
        );
        assert_eq!(decision.next, Next::Finish(Outcome::Failed { step: 0 }));
    }

    #[test]
    fn an_excluded_step_is_skipped_even_if_it_always_runs() {
        let plan = [StepPlan {
            condition: Always,
            environment_allows: true,
            excluded: true,
        }];
        let decision = decide(&plan, &[Pending]);
        assert_eq!(decision.skip[0].reason, SkipReason::Excluded);
        assert_eq!(decision.next, Next::Finish(Outcome::Success));
    }

    #[test]
    fn an_always_step_runs_after_a_failure_in_a_skipped_environment_only_if_allowed() {
        let plan = [
            step(OnSuccess),
            skip_in_this_environment(Always),
            step(Always),
        ];
        let decision = decide(&plan, &[Failed, Pending, Pending]);
        assert_eq!(decision.skip[0].reason, SkipReason::EnvironmentCondition);
        assert_eq!(decision.next, Next::Start(2));
    }

    #[test]
    fn failed_attempts_retry_then_ask_then_fail() {
        assert_eq!(after_failure(0, 1, false), FailureAction::Fail);
        assert_eq!(after_failure(0, 1, true), FailureAction::AskForGuidance);
        assert_eq!(after_failure(2, 1, false), FailureAction::Retry);
        assert_eq!(after_failure(2, 2, true), FailureAction::Retry);
        assert_eq!(after_failure(2, 3, false), FailureAction::Fail);
        assert_eq!(after_failure(2, 3, true), FailureAction::AskForGuidance);
        // A person's retry under guided failure makes attempts beyond the automatic ones.
        assert_eq!(after_failure(2, 4, true), FailureAction::AskForGuidance);
    }

    #[test]
    fn guided_failure_ignore_carries_on_as_if_the_step_succeeded() {
        let plan = [step(OnSuccess), step(OnSuccess), step(Failure)];
        // Step 0 failed under guided failure: it is paused (Running) until someone answers.
        assert_eq!(after_failure(0, 1, true), FailureAction::AskForGuidance);
        assert_eq!(decide(&plan, &[Running, Pending, Pending]).next, Next::Wait);
        let (status, dispatch) = apply_guidance(Guidance::Ignore);
        assert!(!dispatch);
        let decision = decide(&plan, &[status, Pending, Pending]);
        assert_eq!(decision.next, Next::Start(1));
        let decision = decide(&plan, &[status, Succeeded, Pending]);
        assert_eq!(decision.skip[0].index, 2, "the failure step does not run");
        assert_eq!(decision.next, Next::Finish(Outcome::Success));
    }

    #[test]
    fn guided_failure_retry_dispatches_the_same_step_again() {
        let (status, dispatch) = apply_guidance(Guidance::Retry);
        assert_eq!(status, Running);
        assert!(dispatch);
        let plan = [step(OnSuccess), step(OnSuccess)];
        assert_eq!(decide(&plan, &[status, Pending]).next, Next::Wait);
    }

    #[test]
    fn guided_failure_abort_fails_and_runs_the_always_steps() {
        let (status, _) = apply_guidance(Guidance::Abort);
        let plan = [step(OnSuccess), step(OnSuccess), step(Always)];
        let decision = decide(&plan, &[status, Pending, Pending]);
        assert_eq!(decision.skip[0].index, 1);
        assert_eq!(decision.next, Next::Start(2));
        let decision = decide(&plan, &[status, Skipped, Succeeded]);
        assert_eq!(decision.next, Next::Finish(Outcome::Failed { step: 0 }));
    }

    #[test]
    fn abort_during_intervention_fails_and_runs_always_and_failure_steps() {
        let plan = [
            step(OnSuccess),
            step(OnSuccess),
            step(OnSuccess),
            step(Failure),
            step(Always),
        ];
        // Step 1 is the manual intervention, waiting for a person.
        assert_eq!(
            decide(&plan, &[Succeeded, Running, Pending, Pending, Pending]).next,
            Next::Wait
        );
        let aborted = apply_intervention(InterventionResult::Abort);
        let decision = decide(&plan, &[Succeeded, aborted, Pending, Pending, Pending]);
        assert_eq!(
            decision.skip.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(decision.next, Next::Start(3));
        let decision = decide(&plan, &[Succeeded, aborted, Skipped, Succeeded, Pending]);
        assert_eq!(decision.next, Next::Start(4));
        let decision = decide(&plan, &[Succeeded, aborted, Skipped, Succeeded, Succeeded]);
        assert_eq!(decision.next, Next::Finish(Outcome::Failed { step: 1 }));
    }

    #[test]
    fn proceeding_an_intervention_continues_the_deployment() {
        let plan = [step(OnSuccess), step(OnSuccess)];
        let proceeded = apply_intervention(InterventionResult::Proceed);
        assert_eq!(decide(&plan, &[proceeded, Pending]).next, Next::Start(1));
    }

    #[test]
    fn cancel_during_a_running_step_stops_it_and_abandons_the_rest() {
        let statuses = [Succeeded, Running, Pending, Pending];
        let changes = cancel(&statuses);
        assert_eq!(changes, vec![(1, Canceled), (2, Abandoned), (3, Abandoned)]);
        let mut after = statuses.to_vec();
        for (index, status) in changes {
            after[index] = status;
        }
        assert!(after.iter().all(|s| s.is_terminal()));
        // Nothing runs afterwards, not even an always step.
        let plan = [
            step(OnSuccess),
            step(OnSuccess),
            step(Always),
            step(Failure),
        ];
        assert_eq!(
            decide(&plan, &after).next,
            Next::Finish(Outcome::Failed { step: 1 })
        );
    }

    #[test]
    fn cancel_of_a_queued_deployment_abandons_every_step() {
        assert_eq!(
            cancel(&[Pending, Pending]),
            vec![(0, Abandoned), (1, Abandoned)]
        );
        assert_eq!(cancel(&[Succeeded, Skipped]), vec![]);
    }

    #[test]
    fn preview_assumes_success_and_explains_skips() {
        let plan = [
            step(OnSuccess),
            skip_in_this_environment(OnSuccess),
            step(Failure),
            step(Always),
            step(Condition::Variable(false)),
            StepPlan {
                excluded: true,
                ..step(OnSuccess)
            },
        ];
        assert_eq!(
            preview(&plan),
            vec![
                Planned::Runs,
                Planned::Skipped(SkipReason::EnvironmentCondition),
                Planned::Skipped(SkipReason::RunCondition),
                Planned::Runs,
                Planned::Skipped(SkipReason::VariableCondition),
                Planned::Skipped(SkipReason::Excluded),
            ]
        );
    }
}
