//! What a deployment does next: a pure function of its plan and the states of its steps.
//!
//! The API loads a deployment, calls [`decide`], and persists the result in the same
//! transaction. Nothing here reads a clock, a database or a queue, so every rule is covered by
//! the unit tests at the bottom of this file.

use crate::process::RunCondition;
use crate::status::StepStatus;

/// How a finished deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every step that ran succeeded.
    Success,
    /// A step failed; `step` is the index of the first step that failed.
    Failed { step: usize },
}

/// What to do after the skips in [`Decision::skip`] are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Dispatch a job for the step at this index.
    Start(usize),
    /// A step is running; nothing to do until it reports.
    Wait,
    /// Every step is in a final state: the deployment ends.
    Finish(Outcome),
}

/// The result of [`decide`]: steps to mark skipped, then the next move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Indexes of pending steps whose run condition says they do not run.
    pub skip: Vec<usize>,
    pub next: Next,
}

/// Decides the next move of a deployment whose steps run one after another.
///
/// `conditions[i]` is step `i`'s run condition and `statuses[i]` its current state; both slices
/// have one entry per step of the release's process.
///
/// Rules:
/// - Steps run in order, one at a time; while one is `Running`, the answer is `Wait`.
/// - A step whose state is `Failed`, `Canceled` or `Abandoned` counts as a failure for every
///   step after it.
/// - A pending step runs when its condition holds: `Success` when nothing before it failed,
///   `Failure` when something did, `Always` in both cases; otherwise it is skipped.
/// - When no step is pending or running, the deployment finishes: `Failed` naming the first
///   failed step, else `Success`.
///
/// # Panics
/// When the two slices differ in length, which is a bug in the caller.
pub fn decide(conditions: &[RunCondition], statuses: &[StepStatus]) -> Decision {
    assert_eq!(
        conditions.len(),
        statuses.len(),
        "one run condition and one status per step"
    );
    let mut skip = Vec::new();
    let mut first_failure: Option<usize> = None;
    for (index, (&condition, &status)) in conditions.iter().zip(statuses).enumerate() {
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
            StepStatus::Pending => {
                let failed_before = first_failure.is_some();
                let runs = match condition {
                    RunCondition::Success => !failed_before,
                    RunCondition::Failure => failed_before,
                    RunCondition::Always => true,
                };
                if runs {
                    return Decision {
                        skip,
                        next: Next::Start(index),
                    };
                }
                skip.push(index);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use RunCondition::{Always, Failure, Success as OnSuccess};
    use StepStatus::*;

    fn next(conditions: &[RunCondition], statuses: &[StepStatus]) -> (Vec<usize>, Next) {
        let decision = decide(conditions, statuses);
        (decision.skip, decision.next)
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
        let conditions_all = [OnSuccess, Failure, Always];
        for c0 in conditions_all {
            for c1 in conditions_all {
                for c2 in conditions_all {
                    for s0 in StepStatus::ALL {
                        for s1 in StepStatus::ALL {
                            for s2 in StepStatus::ALL {
                                let conditions = [c0, c1, c2];
                                let statuses = [s0, s1, s2];
                                check_rules(&conditions, &statuses);
                            }
                        }
                    }
                }
            }
        }
    }

    fn check_rules(conditions: &[RunCondition], statuses: &[StepStatus]) {
        let decision = decide(conditions, statuses);
        let first_running = statuses.iter().position(|s| *s == Running);
        for &skipped in &decision.skip {
            assert_eq!(statuses[skipped], Pending, "only pending steps are skipped");
        }
        match decision.next {
            Next::Wait => {
                let running = first_running.expect("wait only while a step runs");
                assert!(decision.skip.iter().all(|&i| i < running));
            }
            Next::Start(index) => {
                assert_eq!(statuses[index], Pending);
                assert!(first_running.is_none_or(|r| r > index));
                assert!(decision.skip.iter().all(|&i| i < index));
            }
            Next::Finish(outcome) => {
                assert!(first_running.is_none());
                let mut final_statuses = statuses.to_vec();
                for &i in &decision.skip {
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
}
