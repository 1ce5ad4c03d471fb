//! The preview: the machine played forward.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn a_preview_assumes_success_and_explains_each_skip() {
    let plan = vec![
        spec("Deploy"),
        StepSpec {
            environment_allows: false,
            ..manual("Sign off")
        },
        with_condition(Condition::Failure, spec("Page someone")),
        with_condition(Condition::Always, spec("Report")),
        with_condition(Condition::Variable(None), spec("Smoke")),
        StepSpec {
            excluded: true,
            ..spec("Optional")
        },
        manual("Go live"),
    ];
    let planned = preview(deployment(plan), at(0), |_, request| {
        Shell::Declining.reply(request)
    });
    assert_eq!(
        planned,
        [
            Planned::Runs,
            Planned::Skipped(SkipReason::EnvironmentCondition),
            Planned::Skipped(SkipReason::RunCondition),
            Planned::Runs,
            Planned::Skipped(SkipReason::VariableCondition),
            Planned::Skipped(SkipReason::Excluded),
            Planned::Runs,
        ]
    );
}

#[test]
fn a_preview_shows_a_broken_condition_as_a_failure_and_what_follows_from_it() {
    let plan = vec![
        with_condition(Condition::Variable(None), spec("Smoke")),
        spec("Deploy"),
        with_condition(Condition::Failure, spec("Page someone")),
    ];
    let planned = preview(deployment(plan), at(0), |_, request| {
        Shell::Broken.reply(request)
    });
    assert!(matches!(&planned[0], Planned::Fails(reason) if reason.contains("line 1, column 3")));
    assert_eq!(planned[1], Planned::Skipped(SkipReason::RunCondition));
    assert_eq!(planned[2], Planned::Runs);
}
