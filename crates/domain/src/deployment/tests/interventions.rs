//! Manual interventions: instructions rendered, taken, answered by the right person.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn a_manual_intervention_renders_its_instructions_and_waits_for_a_person() {
    let plan = vec![spec("Deploy"), manual("Sign off"), spec("Go live")];
    let created = run(deployment(plan), create());
    let first = transition(created.deployment, succeeded(0, 1), at(30)).unwrap();
    assert_eq!(
        first.request,
        Some(Request::RenderInstructions { step: 1 }),
        "the machine asks for the instructions before it pauses"
    );
    assert_eq!(
        first.deployment.status,
        DeploymentStatus::Running,
        "nothing waits for a person until the instructions are rendered"
    );
    let waiting = transition(
        first.deployment,
        Command::InstructionsRendered {
            step: 1,
            result: Ok("Check port 8082".into()),
        },
        at(30),
    )
    .unwrap();
    assert_eq!(waiting.request, None);
    assert_eq!(
        waiting.deployment.status,
        DeploymentStatus::WaitingForIntervention
    );
    assert_eq!(statuses(&waiting), [Succeeded, Running, Pending]);
    assert_eq!(
        lines(&waiting),
        [
            "Step \"Sign off\" waits for manual intervention (Release Managers is responsible): Check port 8082"
        ]
    );
    assert_eq!(
        others(&waiting),
        [Effect::OpenInterruption {
            step: 1,
            kind: InterruptionKind::ManualIntervention,
            instructions: "Check port 8082".into(),
            responsible_team: Some(TeamName::parse("Release Managers").unwrap())
        }]
    );
}

#[test]
fn proceeding_continues_the_deployment() {
    let taken = run(waiting_for_sign_off(), take("alice")).deployment;
    let proceeded = run(taken, answer("alice", Answer::Proceed, None));
    assert_eq!(statuses(&proceeded), [Succeeded, Running, Pending, Pending]);
    assert_eq!(proceeded.deployment.steps[0].finished_at, Some(at(30)));
    assert_eq!(
        lines(&proceeded)[0],
        "alice chose to proceed step \"Sign off\""
    );
}

#[test]
fn aborting_fails_the_step_naming_who_and_why_and_runs_failure_and_always_steps() {
    let taken = run(waiting_for_sign_off(), take("carol")).deployment;
    let aborted = run(taken, answer("carol", Answer::Abort, Some("wrong quotes")));
    assert_eq!(statuses(&aborted), [Failed, Skipped, Running, Pending]);
    assert_eq!(
        aborted.deployment.steps[0].error.as_deref(),
        Some("aborted by carol: wrong quotes")
    );
    let paged = run(aborted.deployment, succeeded(2, 1));
    let done = run(paged.deployment, succeeded(3, 1));
    assert_eq!(done.deployment.status, DeploymentStatus::Failed);
    assert_eq!(
        done.deployment.error.as_deref(),
        Some("Step \"Sign off\" failed: aborted by carol: wrong quotes")
    );
}

#[test]
fn only_the_person_who_took_an_interruption_may_answer_it() {
    let waiting = waiting_for_sign_off();
    assert_eq!(
        transition(
            waiting.clone(),
            answer("alice", Answer::Proceed, None),
            at(40)
        )
        .unwrap_err(),
        Refusal::NotTaken
    );
    let taken = run(waiting, take("alice"));
    assert_eq!(
        lines(&taken),
        ["alice took responsibility for the interruption"]
    );
    assert_eq!(
        transition(
            taken.deployment.clone(),
            answer("bob", Answer::Proceed, None),
            at(40)
        )
        .unwrap_err(),
        Refusal::TakenBySomeoneElse {
            owner: "alice".into()
        }
    );
    // Bob takes it over, and may then answer.
    let over = run(taken.deployment, take("bob"));
    assert_eq!(
        others(&over),
        [Effect::TakeInterruption {
            taken_by: "bob".into(),
            previously_taken_by: Some("alice".into())
        }]
    );
    let answered = run(over.deployment, answer("bob", Answer::Proceed, None));
    assert_eq!(answered.deployment.status, DeploymentStatus::Running);
    // Nothing is left to answer.
    assert_eq!(
        transition(
            answered.deployment,
            answer("bob", Answer::Proceed, None),
            at(50)
        )
        .unwrap_err(),
        Refusal::NoOpenInterruption
    );
}

#[test]
fn an_answer_must_fit_the_kind_of_question() {
    let taken = run(waiting_for_sign_off(), take("alice")).deployment;
    for wrong in [Answer::Retry, Answer::Ignore] {
        let refusal = transition(taken.clone(), answer("alice", wrong, None), at(40)).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            format!("`{wrong}` is not an answer to a manual intervention; use proceed or abort")
        );
    }
    let guided = run(paused_by_guided_failure().deployment, take("alice")).deployment;
    assert_eq!(
        transition(guided, answer("alice", Answer::Proceed, None), at(40))
            .unwrap_err()
            .to_string(),
        "`proceed` is not an answer to a guided failure; use retry, ignore or abort"
    );
}
