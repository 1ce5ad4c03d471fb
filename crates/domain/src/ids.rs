//! Typed identifiers: a `DeploymentId` is never confused with a `StepRunId`, in Rust, in
//! storage rows and in messages, although every one of them is a UUID underneath.
//!
//! The domain never makes one (that needs a clock or randomness): the shell creates them with
//! `Uuid::now_v7()` and wraps them with `From<Uuid>`. On the wire and in JSON each is the bare
//! UUID string (`#[serde(transparent)]`), so adding the types changed no message or response.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! identifier {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// What this identifies, for messages (`deployment`, `step run`).
            pub const WHAT: &'static str = $what;

            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            /// The UUID underneath, for storage parameters and message ids.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            pub fn into_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                $name(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(raw: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(raw).map($name)
            }
        }
    };
}

identifier!(
    /// One deployment: a release carried to an environment.
    DeploymentId,
    "deployment"
);
identifier!(
    /// One step of one deployment (its attempts share it).
    StepRunId,
    "step run"
);
identifier!(ProjectId, "project");
identifier!(EnvironmentId, "environment");
identifier!(ReleaseId, "release");
identifier!(
    /// A question a paused deployment waits on.
    InterruptionId,
    "interruption"
);
identifier!(LifecycleId, "lifecycle");
identifier!(
    /// A deployment target (a machine).
    TargetId,
    "target"
);
identifier!(
    /// One health check of a target, or one discovery of a host's key: a job for a worker
    /// whose result names it.
    TargetCheckId,
    "target check"
);
identifier!(
    /// One worker process's claim of one job: the same on every re-sent copy of the claim,
    /// different for another process (even one of the same name).
    ClaimId,
    "claim"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_uuid_on_the_wire_and_in_text() {
        let uuid = Uuid::parse_str("0190b5a2-7c1e-7000-8000-000000000001").unwrap();
        let id = DeploymentId::from(uuid);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            serde_json::json!(uuid.to_string())
        );
        assert_eq!(id.to_string().parse::<DeploymentId>().unwrap(), id);
        assert!("not-a-uuid".parse::<StepRunId>().is_err());
    }
}
