//! Variable conditions and templates evaluated when a step is reached, and answers nobody asked for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn a_variable_condition_is_evaluated_when_its_step_is_reached_with_the_statuses_before_it() {
    let plan = vec![
        spec("Deploy"),
        spec("Smoke"),
        with_condition(Condition::Variable(None), spec("Report")),
    ];
    let created = run(deployment(plan), create());
    let mut seen = Vec::new();
    let after = settle(
        created.deployment,
        failed(0, 1, 1),
        at(30),
        |state, request| {
            seen.push((request, state.statuses()));
            Command::ConditionEvaluated {
                step: 2,
                result: Ok(true),
            }
        },
    )
    .unwrap();
    assert_eq!(
        seen,
        [(
            Request::EvaluateCondition { step: 2 },
            vec![Failed, Skipped, Pending]
        )],
        "asked once, after the skip before it is recorded"
    );
    assert_eq!(
        statuses(&after),
        [Failed, Skipped, Running],
        "a variable condition runs whatever failed before"
    );
    let declined = run_with(
        Shell::Declining,
        run(
            deployment(vec![with_condition(
                Condition::Variable(None),
                spec("Smoke"),
            )]),
            Command::Create {
                requested_by: "jenkins".into(),
                purpose: Purpose::Deploy,
                ahead: Some(DeploymentId::from(Uuid::from_u128(1))),
            },
        )
        .deployment,
        Command::Start,
    );
    assert_eq!(statuses(&declined), [Skipped]);
    assert_eq!(
        lines(&declined)[1],
        "Step \"Smoke\" skipped: its variable condition evaluated to false"
    );
}

#[test]
fn a_condition_that_cannot_be_evaluated_fails_its_step_when_reached() {
    let plan = vec![
        spec("First"),
        with_condition(Condition::Variable(None), spec("Maybe")),
        with_condition(Condition::Always, spec("Report")),
    ];
    let created = run_with(Shell::Broken, deployment(plan), create());
    let after = run_with(Shell::Broken, created.deployment, succeeded(0, 1));
    assert_eq!(statuses(&after), [Succeeded, Failed, Running]);
    assert_eq!(
        after.deployment.steps[1].error.as_deref(),
        Some("its run condition could not be evaluated: line 1, column 3: unknown variable `Nope`")
    );
    let done = run(after.deployment, succeeded(2, 1));
    assert_eq!(done.deployment.status, DeploymentStatus::Failed);
}

#[test]
fn instructions_that_cannot_be_rendered_fail_the_step() {
    let plan = vec![
        manual("Sign off"),
        with_condition(Condition::Always, spec("Notify")),
    ];
    let created = run_with(Shell::Broken, deployment(plan), create());
    assert_eq!(created.deployment.status, DeploymentStatus::Running);
    assert_eq!(statuses(&created), [Failed, Running]);
    assert_eq!(
        created.deployment.steps[0].error.as_deref(),
        Some("its instructions could not be rendered: line 1, column 3: unknown variable `Nope`")
    );
}

#[test]
fn answers_to_questions_the_machine_did_not_ask_are_refused() {
    let created = run(
        deployment(vec![spec("Deploy"), manual("Sign off")]),
        create(),
    );
    assert_eq!(
        transition(
            created.deployment.clone(),
            Command::InstructionsRendered {
                step: 1,
                result: Ok("early".into())
            },
            at(40)
        )
        .unwrap_err(),
        Refusal::NotAsked { step: 1 }
    );
    assert_eq!(
        transition(
            created.deployment,
            Command::ConditionEvaluated {
                step: 0,
                result: Ok(true)
            },
            at(40)
        )
        .unwrap_err(),
        Refusal::NotAsked { step: 0 }
    );
    // Once it asks, it takes nothing but the answer.
    let asking = transition(deployment(vec![manual("Sign off")]), create(), at(40)).unwrap();
    assert_eq!(
        asking.deployment.awaiting,
        Some(Request::RenderInstructions { step: 0 })
    );
    assert_eq!(
        transition(asking.deployment.clone(), cancel("frank"), at(41)).unwrap_err(),
        Refusal::Unanswered {
            request: Request::RenderInstructions { step: 0 }
        }
    );
    assert_eq!(
        transition(
            asking.deployment,
            Command::ConditionEvaluated {
                step: 0,
                result: Ok(true)
            },
            at(41)
        )
        .unwrap_err(),
        Refusal::NotAsked { step: 0 }
    );
}
