//! The JSON bodies of Ferry's HTTP API as serde types: what every route answers with, and the
//! request bodies the CLI sends. The API serializes them and the `ferry` CLI deserializes the
//! same types, so the two cannot drift apart field by field.
//!
//! Architecture invariant: this crate is plain data. It knows the domain's typed ids, names
//! and statuses, and nothing about HTTP or storage: converting a stored row into one of these
//! types is the API's job. Every absent optional value is written as `null`, never left out,
//! unless a type's documentation says otherwise; each module's tests pin the exact shape.

pub mod audit_log;
pub mod deployment_actions;
pub mod deployments;
pub mod environments;
pub mod error;
pub mod health;
pub mod interruptions;
pub mod lifecycles;
pub mod packages;
pub mod preview;
pub mod projects;
pub mod releases;
pub mod target_checks;
pub mod targets;
pub mod variable_preview;

pub use audit_log::{AuditEventView, AuditLog};
pub use deployment_actions::{RollbackRequest, RolledBack};
pub use deployments::{
    CreateDeployment, CreatedDeployment, DeploymentView, StepRunView, TargetRunView, TaskLogLine,
    TaskLogPage,
};
pub use environments::{CreateEnvironment, EnvironmentList, EnvironmentView, UpdateEnvironment};
pub use error::{ErrorBody, ErrorDetail, ErrorKind};
pub use health::{Health, HealthStatus};
pub use interruptions::{AnswerRequest, InterruptionView, PendingInterruptions};
pub use lifecycles::{LifecycleList, LifecycleView};
pub use packages::{PackageList, PackageView};
pub use preview::{LifecycleAdmission, ReleasePreview, StepKindName, StepPreview};
pub use projects::{ProjectList, ProjectView, VariableView};
pub use releases::{CreateRelease, ReleaseList, ReleasePackageView, ReleaseView};
pub use target_checks::{DiscoveryRequest, DiscoveryStatus, DiscoveryView, HealthCheckRequested};
pub use targets::{TargetHealthView, TargetKind, TargetList, TargetRequest, TargetView};
pub use variable_preview::{ResolvedVariable, VariablePreview};

/// A point in time as the API writes it: RFC 3339 in UTC (`2026-12-01T09:30:00.123456Z`).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

#[cfg(test)]
pub(crate) mod fixtures {
    //! Values the shape tests share.

    use uuid::Uuid;

    use crate::Timestamp;

    /// A fixed UUID, distinct per `n`, so expected JSON can spell it.
    pub fn uuid(n: u8) -> Uuid {
        Uuid::from_u128(u128::from(n))
    }

    /// `uuid(n)` as the API writes it.
    pub fn uuid_text(n: u8) -> String {
        uuid(n).to_string()
    }

    pub fn time() -> Timestamp {
        chrono::DateTime::parse_from_rfc3339("2026-12-01T09:30:00.5Z")
            .map(|time| time.to_utc())
            .unwrap_or_default()
    }

    pub const TIME_TEXT: &str = "2026-12-01T09:30:00.500Z";

    /// A name, release number or package version the domain accepts (`name("Test")`).
    #[allow(clippy::expect_used)]
    pub fn name<T>(raw: &str) -> T
    where
        T: TryFrom<String>,
        T::Error: std::fmt::Debug,
    {
        T::try_from(raw.to_owned()).expect("a valid fixture value")
    }
}
