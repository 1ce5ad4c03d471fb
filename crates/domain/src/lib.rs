//! Ferry's domain: validated names, the deployment process, and the pure orchestration rules.
//!
//! Architecture invariant: this crate does no I/O and knows nothing about tokio, HTTP,
//! PostgreSQL or RabbitMQ. Everything here is plain data and pure functions, so the rules
//! that decide what a deployment does next can be tested exhaustively without a server.

pub mod audit;
pub mod deploy_step;
pub mod deployment;
pub mod ids;
pub mod lifecycle;
pub mod names;
pub mod orchestration;
pub mod process;
pub mod status;
pub mod targets;
pub mod variables;

pub use audit::AuditAction;
pub use ids::{
    ClaimId, DeploymentId, EnvironmentId, InterruptionId, LifecycleId, ProjectId, ReleaseId,
    StepRunId, TargetCheckId, TargetId,
};
pub use names::{
    EmailAddress, EnvironmentName, PackageId, PackageVersion, ProjectName, ReleaseNumber, StepName,
    ValidationError, VariableName, WorkerPool,
};
pub use names::{LifecycleName, PhaseName, RoleName, TargetName, TeamName};
pub use orchestration::{
    Condition, Decision, FailureAction, Next, Outcome, Skip, SkipReason, StepPlan, after_failure,
    decide,
};
pub use process::{EnvironmentCondition, Process, RunCondition, Step, StepKind};
pub use status::{DeploymentStatus, StepStatus};
pub use targets::{HostKeyFingerprint, HostName, LoginName, TargetHealthStatus};
