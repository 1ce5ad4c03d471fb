//! Ferry's domain: validated names, the deployment process, and the pure orchestration rules.
//!
//! Architecture invariant: this crate does no I/O and knows nothing about tokio, HTTP,
//! PostgreSQL or RabbitMQ. Everything here is plain data and pure functions, so the rules
//! that decide what a deployment does next can be tested exhaustively without a server.

pub mod names;
pub mod orchestration;
pub mod process;
pub mod status;

pub use names::{
    EmailAddress, EnvironmentName, PackageId, PackageVersion, ProjectName, ReleaseNumber, StepName,
    ValidationError, VariableName, WorkerPool,
};
pub use orchestration::{Decision, Next, Outcome, decide};
pub use process::{Process, RunCondition, Step, StepKind};
pub use status::{DeploymentStatus, StepStatus};
