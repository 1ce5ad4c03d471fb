//! The deployment state machine's specification, as tests: one named test per rule, by
//! concept in the files beside this one, and an exhaustive walk (`exhaustive.rs`). This file
//! holds the fixtures they share.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::*;

mod cancelling;
mod claims;
mod conditions;
mod creating;
mod exhaustive;
mod guided_failure;
mod interventions;
mod preview;
mod results;
mod targets;

use crate::ids::DeploymentId;
use crate::names::{EnvironmentName, ProjectName, ReleaseNumber, StepName, TeamName, WorkerPool};
use crate::orchestration::{Condition, SkipReason};
use crate::status::{DeploymentStatus, StepStatus};

pub(super) fn at(second: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, second).unwrap()
}

pub(super) fn spec(name: &str) -> StepSpec {
    StepSpec {
        name: StepName::parse(name).unwrap(),
        work: Work::Worker,
        condition: Condition::Success,
        environment_allows: true,
        excluded: false,
        retries: 0,
        roles: Vec::new(),
        window: 10,
    }
}

pub(super) fn manual(name: &str) -> StepSpec {
    StepSpec {
        work: Work::ManualIntervention {
            responsible_team: Some(TeamName::parse("Release Managers").unwrap()),
        },
        ..spec(name)
    }
}

pub(super) fn with_condition(condition: Condition, step: StepSpec) -> StepSpec {
    StepSpec { condition, ..step }
}

pub(super) fn deployment(steps: Vec<StepSpec>) -> Deployment {
    Deployment {
        facts: Facts {
            project_name: ProjectName::parse("Random Quotes").unwrap(),
            release_number: ReleaseNumber::parse("0.0.2").unwrap(),
            environment_name: EnvironmentName::parse("Test").unwrap(),
            worker_pool: WorkerPool::parse("default").unwrap(),
        },
        status: DeploymentStatus::Queued,
        error: None,
        started_at: None,
        finished_at: None,
        guided_failure: false,
        steps: steps
            .into_iter()
            .map(|spec| StepRun::pending(spec, Vec::new()))
            .collect(),
        open_interruption: None,
        awaiting: None,
    }
}

pub(super) fn create() -> Command {
    Command::Create {
        requested_by: "jenkins".into(),
        purpose: Purpose::Deploy,
        ahead: None,
    }
}

pub(super) fn succeeded(step: usize, attempt: u32) -> Command {
    Command::StepFinished(StepReport {
        step,
        target: None,
        attempt,
        outcome: StepOutcome::Succeeded,
        started_at: at(10),
        finished_at: at(11),
        outputs: BTreeMap::new(),
    })
}

pub(super) fn failed(step: usize, attempt: u32, exit_code: i32) -> Command {
    Command::StepFinished(StepReport {
        step,
        target: None,
        attempt,
        outcome: StepOutcome::Failed {
            exit_code: Some(exit_code),
            reason: format!("the script exited with code {exit_code}"),
        },
        started_at: at(10),
        finished_at: at(11),
        outputs: BTreeMap::new(),
    })
}

/// A claim by the process `worker` names (each name one process, one claim id).
pub(super) fn claim(step: usize, attempt: u32, worker: &str) -> Command {
    claim_as(step, attempt, worker, process_of(worker))
}

/// A claim by `worker` with the claim id of process `process`: two processes may share a name.
pub(super) fn claim_as(step: usize, attempt: u32, worker: &str, process: u128) -> Command {
    Command::Claim {
        step,
        target: None,
        attempt,
        worker: worker.into(),
        claim_id: crate::ClaimId::from_uuid(uuid::Uuid::from_u128(process)),
    }
}

/// A stand-in process number for a worker name.
pub(super) fn process_of(worker: &str) -> u128 {
    worker.bytes().fold(1u128, |sum, byte| {
        sum.wrapping_mul(257).wrapping_add(u128::from(byte))
    })
}

pub(super) fn take(by: &str) -> Command {
    Command::Take {
        taken_by: by.into(),
    }
}

pub(super) fn answer(by: &str, answer: Answer, note: Option<&str>) -> Command {
    Command::Answer {
        answered_by: by.into(),
        answer,
        note: note.map(str::to_owned),
    }
}

pub(super) fn cancel(by: &str) -> Command {
    Command::Cancel {
        cancelled_by: by.into(),
    }
}

/// How the test shell answers the machine's questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Shell {
    /// Conditions hold, instructions render.
    Agreeable,
    /// Conditions are false, instructions render.
    Declining,
    /// Every template is broken.
    Broken,
}

impl Shell {
    pub(super) fn reply(self, request: Request) -> Command {
        let broken = || TemplateFailure {
            message: "line 1, column 3: unknown variable `Nope`".into(),
        };
        match request {
            Request::EvaluateCondition { step } => Command::ConditionEvaluated {
                step,
                result: match self {
                    Shell::Agreeable => Ok(true),
                    Shell::Declining => Ok(false),
                    Shell::Broken => Err(broken()),
                },
            },
            Request::RenderInstructions { step } => Command::InstructionsRendered {
                step,
                result: match self {
                    Shell::Broken => Err(broken()),
                    _ => Ok("Check port 8082".into()),
                },
            },
        }
    }
}

pub(super) fn run(deployment: Deployment, command: Command) -> Transition {
    run_with(Shell::Agreeable, deployment, command)
}

pub(super) fn run_with(shell: Shell, deployment: Deployment, command: Command) -> Transition {
    settle(deployment, command, at(30), |_, request| {
        shell.reply(request)
    })
    .expect("accepted")
}

pub(super) fn lines(transition: &Transition) -> Vec<String> {
    transition
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Log(note) => Some(note.to_string()),
            _ => None,
        })
        .collect()
}

pub(super) fn others(transition: &Transition) -> Vec<Effect> {
    transition
        .effects
        .iter()
        .filter(|effect| !matches!(effect, Effect::Log(_)))
        .cloned()
        .collect()
}

pub(super) fn statuses(transition: &Transition) -> Vec<StepStatus> {
    transition.deployment.statuses()
}

pub(super) use StepStatus::{Abandoned, Canceled, Failed, Pending, Running, Skipped, Succeeded};

pub(super) fn guided(plan: Vec<StepSpec>) -> Deployment {
    Deployment {
        guided_failure: true,
        ..deployment(plan)
    }
}

/// A deployment paused by guided failure on its first step ("Deploy"), then "After" and an
/// always step.
pub(super) fn paused_by_guided_failure() -> Transition {
    let plan = vec![
        StepSpec {
            retries: 1,
            ..spec("Deploy")
        },
        spec("After"),
        with_condition(Condition::Always, spec("Report")),
    ];
    let created = run(guided(plan), create());
    let retried = run(created.deployment, failed(0, 1, 2));
    assert_eq!(
        retried.deployment.status,
        DeploymentStatus::Running,
        "automatic retries come first"
    );
    run(retried.deployment, failed(0, 2, 2))
}

pub(super) fn waiting_for_sign_off() -> Deployment {
    let plan = vec![
        manual("Sign off"),
        spec("Go live"),
        with_condition(Condition::Failure, spec("Page someone")),
        with_condition(Condition::Always, spec("Notify")),
    ];
    run(deployment(plan), create()).deployment
}
