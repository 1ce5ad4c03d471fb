//! What the deployment state machine knows about one deployment: its status, its steps (each
//! with its plan, attempts and result), the question it waits on, and the names its task-log
//! lines use. The shell loads this from storage, hands it to the machine with one command,
//! and writes back what changed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ClaimId, TargetId};
use crate::names::{
    EnvironmentName, ProjectName, ReleaseNumber, RoleName, StepName, TargetName, TeamName,
    WorkerPool,
};
use crate::orchestration::{Condition, StepPlan};
use crate::process::{Process, RunCondition, Step, StepKind};
use crate::status::{DeploymentStatus, StepStatus};

/// A point in time. The machine never reads a clock: every command comes with the time it
/// happens at, and the machine stamps that on what it changes.
pub type Timestamp = DateTime<Utc>;

/// One deployment, as the state machine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The names the task log and the finish line use.
    pub facts: Facts,
    pub status: DeploymentStatus,
    /// Why it failed or was cancelled, in a sentence; set when it finishes.
    pub error: Option<String>,
    /// When its first step started (it left the queue).
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Whether a failed step pauses for a person's decision (fixed at creation).
    pub guided_failure: bool,
    /// One entry per step of the release's process, in order.
    pub steps: Vec<StepRun>,
    /// The question the deployment waits on, if any: at most one is open at a time.
    pub open_interruption: Option<OpenInterruption>,
    /// The question the machine asked the shell and waits to be answered before anything else
    /// may happen (see [`super::settle`]). Never stored: the shell answers every question
    /// before it writes the state, so a loaded deployment has none.
    pub awaiting: Option<super::Request>,
}

/// Names of what a deployment involves, for the lines it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub project_name: ProjectName,
    pub release_number: ReleaseNumber,
    pub environment_name: EnvironmentName,
    /// The worker pool whose queue the project's steps go to.
    pub worker_pool: WorkerPool,
}

/// One step of one deployment: what it is, and what happened to it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRun {
    pub spec: StepSpec,
    pub status: StepStatus,
    /// How many times the step was started (dispatched or opened); 0 while it is pending.
    /// Results carry the attempt they belong to, so a late one is recognised as stale.
    pub attempt: u32,
    /// The script's exit code, when it ran and exited.
    pub exit_code: Option<i32>,
    /// Why the step failed (or was cancelled), in a sentence.
    pub error: Option<String>,
    /// A failure a person chose to ignore: the step counts as succeeded.
    pub failure_ignored: bool,
    pub dispatched_at: Option<Timestamp>,
    /// The worker that claimed the current attempt (see `Command::Claim`); `None` while its
    /// job waits for a worker.
    pub claimed_by: Option<String>,
    /// The claim that won: only a re-sent copy of it is granted again (a worker's name is
    /// not enough, two processes may share one).
    pub claim_id: Option<ClaimId>,
    /// When the worker started and finished it (the worker's clock).
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Output variables the worker reported, for the steps after it (a step on targets keeps
    /// them on each target's run instead, and leaves these empty).
    pub outputs: BTreeMap<String, String>,
    /// A step with target roles: one run per target of the environment with one of them,
    /// found when the deployment was created, in name order. Each run has its own attempts
    /// and claim; the step's own `attempt` then counts rounds (a guided-failure retry starts
    /// another), and its `claimed_by`, `claim_id` and `dispatched_at` stay empty.
    pub targets: Vec<TargetRun>,
}

/// A target a deployment's step runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub id: TargetId,
    pub name: TargetName,
}

/// A target of the deployment's environment, as the shell found it when the deployment was
/// created: what matching a step's roles needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentTarget {
    pub target: TargetRef,
    pub roles: Vec<RoleName>,
}

/// One step on one target: its own attempts, claim and result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRun {
    pub target: TargetRef,
    /// Pending (its turn in the window has not come), Running, Succeeded, Failed, Canceled
    /// or Abandoned.
    pub status: StepStatus,
    pub attempt: u32,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub dispatched_at: Option<Timestamp>,
    pub claimed_by: Option<String>,
    pub claim_id: Option<ClaimId>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Output variables the worker reported for this target: kept per target, as Octopus
    /// keeps them per machine, so one target's value never overwrites another's.
    pub outputs: BTreeMap<String, String>,
}

impl TargetRun {
    pub fn pending(target: TargetRef) -> TargetRun {
        TargetRun {
            target,
            status: StepStatus::Pending,
            attempt: 0,
            exit_code: None,
            error: None,
            dispatched_at: None,
            claimed_by: None,
            claim_id: None,
            started_at: None,
            finished_at: None,
            outputs: BTreeMap::new(),
        }
    }
}

/// The targets among `targets` that have one of `roles` (compared case-insensitively), in
/// name order; none when `roles` is empty.
pub fn targets_with_roles(roles: &[RoleName], targets: &[EnvironmentTarget]) -> Vec<TargetRef> {
    let mut matched: Vec<TargetRef> = targets
        .iter()
        .filter(|candidate| {
            candidate.roles.iter().any(|role| {
                roles
                    .iter()
                    .any(|wanted| wanted.as_str().eq_ignore_ascii_case(role.as_str()))
            })
        })
        .map(|candidate| candidate.target.clone())
        .collect();
    matched.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    matched
}

/// What the machine needs to know about a step of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpec {
    pub name: StepName,
    pub work: Work,
    /// The run condition; a variable condition is `Condition::Variable(None)` here and is
    /// evaluated by the shell when the step is reached.
    pub condition: Condition,
    /// Whether the step's environment condition lets it run in this environment.
    pub environment_allows: bool,
    /// Whether the person who created the deployment excluded it.
    pub excluded: bool,
    /// How many times a failed attempt is retried automatically (for a step on targets:
    /// each target's run).
    pub retries: u8,
    /// The step runs on the targets with these roles; none: on a worker's own host.
    pub roles: Vec<RoleName>,
    /// How many of its targets run at once.
    pub window: usize,
}

/// Who carries a step out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// A worker of the project's pool runs it.
    Worker,
    /// A person answers it; no worker is involved.
    ManualIntervention { responsible_team: Option<TeamName> },
}

/// The kind of question a paused deployment waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptionKind {
    /// A manual intervention step: proceed or abort.
    ManualIntervention,
    /// A failed step under guided failure: retry, ignore or abort.
    GuidedFailure,
}

impl InterruptionKind {
    pub const ALL: [InterruptionKind; 2] = [
        InterruptionKind::ManualIntervention,
        InterruptionKind::GuidedFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InterruptionKind::ManualIntervention => "manual_intervention",
            InterruptionKind::GuidedFailure => "guided_failure",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        InterruptionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == raw)
    }
}

/// The question a deployment waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInterruption {
    /// The step it is about (a manual intervention step, or the step that failed).
    pub step: usize,
    pub kind: InterruptionKind,
    /// Who took responsibility for answering it; only they may answer.
    pub taken_by: Option<String>,
}

impl StepSpec {
    /// The plan of one step of a process, for a deployment to `environment` that excluded
    /// the steps named in `excluded` (names compare case-insensitively).
    pub fn of(step: &Step, environment: &EnvironmentName, excluded: &[StepName]) -> StepSpec {
        StepSpec {
            name: step.name.clone(),
            work: match &step.kind {
                StepKind::RunScript { .. } | StepKind::DeployPackage(_) => Work::Worker,
                StepKind::ManualIntervention {
                    responsible_team, ..
                } => Work::ManualIntervention {
                    responsible_team: responsible_team.clone(),
                },
            },
            condition: match step.run_condition {
                RunCondition::Success => Condition::Success,
                RunCondition::Failure => Condition::Failure,
                RunCondition::Always => Condition::Always,
                RunCondition::Variable(_) => Condition::Variable(None),
            },
            environment_allows: step.environments.allows(environment.as_str()),
            excluded: excluded
                .iter()
                .any(|name| name.as_str().eq_ignore_ascii_case(step.name.as_str())),
            retries: step.retries,
            roles: step.target_roles.clone(),
            window: step.window().max(1),
        }
    }

    /// Whether the step runs once per target.
    pub fn on_targets(&self) -> bool {
        !self.roles.is_empty()
    }

    /// The step's plan for [`crate::orchestration::decide`].
    pub fn plan(&self) -> StepPlan {
        StepPlan {
            condition: self.condition,
            environment_allows: self.environment_allows,
            excluded: self.excluded,
        }
    }

    pub fn runs_on_worker(&self) -> bool {
        matches!(self.work, Work::Worker)
    }
}

impl StepRun {
    /// A step not reached yet, with a pending run per target.
    pub fn pending(spec: StepSpec, targets: Vec<TargetRef>) -> StepRun {
        StepRun {
            spec,
            status: StepStatus::Pending,
            attempt: 0,
            exit_code: None,
            error: None,
            failure_ignored: false,
            dispatched_at: None,
            claimed_by: None,
            claim_id: None,
            started_at: None,
            finished_at: None,
            outputs: BTreeMap::new(),
            targets: targets.into_iter().map(TargetRun::pending).collect(),
        }
    }

    pub fn name(&self) -> &StepName {
        &self.spec.name
    }
}

/// What a new deployment is made of.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    pub facts: Facts,
    pub process: &'a Process,
    /// Names of the steps left out (already checked with `rules::exclusions`).
    pub excluded_steps: &'a [StepName],
    pub guided_failure: bool,
    /// The environment's targets now: steps with roles run on those that match.
    pub targets: &'a [EnvironmentTarget],
}

impl Deployment {
    /// A deployment just created: queued, every step pending.
    pub fn new(new: NewDeployment<'_>) -> Deployment {
        let steps = new
            .process
            .steps()
            .iter()
            .map(|step| {
                StepRun::pending(
                    StepSpec::of(step, &new.facts.environment_name, new.excluded_steps),
                    targets_with_roles(&step.target_roles, new.targets),
                )
            })
            .collect();
        Deployment {
            facts: new.facts,
            status: DeploymentStatus::Queued,
            error: None,
            started_at: None,
            finished_at: None,
            guided_failure: new.guided_failure,
            steps,
            open_interruption: None,
            awaiting: None,
        }
    }

    pub fn statuses(&self) -> Vec<StepStatus> {
        self.steps.iter().map(|step| step.status).collect()
    }

    /// Whether the deployment holds its project and environment: it has left the queue and
    /// not finished.
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            DeploymentStatus::Running | DeploymentStatus::WaitingForIntervention
        )
    }
}
