//! Which step of a deployment runs next: pure functions of its plan and the states of its
//! steps. The deployment state machine (`crate::deployment`) calls [`decide`] after every
//! change and [`after_failure`] when an attempt fails; nothing here reads a clock, a database
//! or a queue, so every rule is covered by the unit tests at the bottom of this file.
//! ARCHITECTURE.md draws the state machine these functions serve.

use crate::status::StepStatus;

/// A step's run condition. A variable condition is evaluated by the caller (the domain knows
/// no templates) only when the step is reached, so it sees the statuses of the steps before
/// it: until then it is `Variable(None)`, and [`decide`] answers [`Next::Evaluate`] when it
/// gets there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Success,
    Failure,
    Always,
    /// A variable expression, and whether it evaluated to true (`None`: not evaluated yet).
    Variable(Option<bool>),
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
    /// The step at this index is reached and its variable condition is not evaluated yet:
    /// evaluate it (with the statuses as they are now) and decide again.
    Evaluate(usize),
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
///   `Variable` when its expression is true (whatever failed before); else it is skipped. A
///   variable condition not evaluated yet stops the walk with `Evaluate`.
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
        let next = match status {
            StepStatus::Running => Next::Wait,
            StepStatus::Succeeded | StepStatus::Skipped => continue,
            StepStatus::Failed | StepStatus::Canceled | StepStatus::Abandoned => {
                first_failure.get_or_insert(index);
                continue;
            }
            StepStatus::Pending => match runs(step, first_failure.is_some()) {
                Runs::Yes => Next::Start(index),
                Runs::AfterEvaluation => Next::Evaluate(index),
                Runs::No(reason) => {
                    skip.push(Skip { index, reason });
                    continue;
                }
            },
        };
        return Decision { skip, next };
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

/// Whether a pending step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    Yes,
    No(SkipReason),
    /// Only its variable condition can tell, and it is not evaluated yet.
    AfterEvaluation,
}

/// Whether a pending step runs, given whether something before it failed.
fn runs(step: &StepPlan, failed_before: bool) -> Runs {
    if step.excluded {
        return Runs::No(SkipReason::Excluded);
    }
    if !step.environment_allows {
        return Runs::No(SkipReason::EnvironmentCondition);
    }
    match step.condition {
        Condition::Success if failed_before => Runs::No(SkipReason::RunCondition),
        Condition::Failure if !failed_before => Runs::No(SkipReason::RunCondition),
        Condition::Variable(None) => Runs::AfterEvaluation,
        Condition::Variable(Some(false)) => Runs::No(SkipReason::VariableCondition),
        Condition::Success | Condition::Failure | Condition::Always => Runs::Yes,
        Condition::Variable(Some(true)) => Runs::Yes,
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
            Condition::Variable(None),
            Condition::Variable(Some(true)),
            Condition::Variable(Some(false)),
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
        let mut checked = 0;
        for p0 in &every_plan {
            for p1 in &every_plan {
                for p2 in &every_plan {
                    for s0 in StepStatus::ALL {
                        for s1 in StepStatus::ALL {
                            for s2 in StepStatus::ALL {
                                check_rules(&[*p0, *p1, *p2], &[s0, s1, s2]);
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 24 * 24 * 24 * 7 * 7 * 7);
    }

    /// Whether a step failed, for the steps after it.
    fn is_failure(status: StepStatus) -> bool {
        matches!(status, Failed | Canceled | Abandoned)
    }

    /// The rules, restated independently of `runs`: whether a pending step with this plan
    /// runs after `failed_before`, `None` when its variable condition must be evaluated first.
    fn should_run(plan: &StepPlan, failed_before: bool) -> Option<bool> {
        if plan.excluded || !plan.environment_allows {
            return Some(false);
        }
        match plan.condition {
            OnSuccess => Some(!failed_before),
            Failure => Some(failed_before),
            Always => Some(true),
            Condition::Variable(holds) => holds,
        }
    }

    fn check_rules(plan: &[StepPlan], statuses: &[StepStatus]) {
        let decision = decide(plan, statuses);
        let first_running = statuses.iter().position(|s| *s == Running);
        let skipped: Vec<usize> = decision.skip.iter().map(|s| s.index).collect();
        // Every skipped step was pending and really did not meet its conditions, given what
        // failed before it; and no pending step before the next move was left untouched.
        let stop = match decision.next {
            Next::Wait => first_running.expect("wait only while a step runs"),
            Next::Start(index) | Next::Evaluate(index) => index,
            Next::Finish(_) => statuses.len(),
        };
        for index in 0..stop {
            let failed_before = statuses[..index].iter().any(|s| is_failure(*s));
            if statuses[index] == Pending {
                assert!(
                    skipped.contains(&index),
                    "pending step {index} before the next move was neither run nor skipped"
                );
                assert_eq!(
                    should_run(&plan[index], failed_before),
                    Some(false),
                    "step {index} was skipped although it meets its conditions: {plan:?} {statuses:?}"
                );
                let reason = decision
                    .skip
                    .iter()
                    .find(|s| s.index == index)
                    .unwrap()
                    .reason;
                let expected = if plan[index].excluded {
                    SkipReason::Excluded
                } else if !plan[index].environment_allows {
                    SkipReason::EnvironmentCondition
                } else if matches!(plan[index].condition, Condition::Variable(_)) {
                    SkipReason::VariableCondition
                } else {
                    SkipReason::RunCondition
                };
                assert_eq!(reason, expected, "{plan:?} {statuses:?}");
            } else {
                assert!(!skipped.contains(&index), "only pending steps are skipped");
            }
        }
        assert!(skipped.iter().all(|&i| i < stop));
        match decision.next {
            Next::Wait => {}
            Next::Start(index) | Next::Evaluate(index) => {
                assert_eq!(statuses[index], Pending);
                assert!(first_running.is_none_or(|r| r > index));
                let failed_before = statuses[..index].iter().any(|s| is_failure(*s));
                let expected = match decision.next {
                    Next::Start(_) => Some(true),
                    _ => None,
                };
                assert_eq!(should_run(&plan[index], failed_before), expected);
            }
            Next::Finish(outcome) => {
                assert!(first_running.is_none());
                let mut final_statuses = statuses.to_vec();
                for &i in &skipped {
                    final_statuses[i] = Skipped;
                }
                assert!(final_statuses.iter().all(|s| s.is_terminal()));
                let first_failure = final_statuses.iter().position(|s| is_failure(*s));
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
            step(Condition::Variable(Some(true))),
            step(Condition::Variable(Some(false))),
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
    fn a_variable_condition_is_evaluated_only_when_its_step_is_reached() {
        let plan = [
            step(OnSuccess),
            step(OnSuccess),
            step(Condition::Variable(None)),
        ];
        assert_eq!(decide(&plan, &[Running, Pending, Pending]).next, Next::Wait);
        let decision = decide(&plan, &[Failed, Pending, Pending]);
        assert_eq!(decision.skip.len(), 1, "the success step is skipped first");
        assert_eq!(decision.next, Next::Evaluate(2));
        // An excluded step is skipped without evaluating its condition.
        let plan = [StepPlan {
            excluded: true,
            ..step(Condition::Variable(None))
        }];
        assert_eq!(
            decide(&plan, &[Pending]).next,
            Next::Finish(Outcome::Success)
        );
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
}
