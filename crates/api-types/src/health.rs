//! The answer of `/health`: whether this API instance reaches PostgreSQL and RabbitMQ.

use serde::{Deserialize, Serialize};

/// Load balancers read the HTTP status (200 when both dependencies answer, 503 when one does
/// not); people read the reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// `ok`, or `failing: <why>`.
    pub postgres: String,
    /// `ok`, or `failing: <why>`.
    pub rabbitmq: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Both dependencies answer.
    Ok,
    /// At least one does not.
    Failing,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn health_spells_its_status_in_lower_case() {
        let failing = Health {
            status: HealthStatus::Failing,
            postgres: "ok".to_owned(),
            rabbitmq: "failing: not connected".to_owned(),
        };
        assert_eq!(
            serde_json::to_value(&failing).ok(),
            Some(json!({
                "status": "failing",
                "postgres": "ok",
                "rabbitmq": "failing: not connected",
            }))
        );
        assert_eq!(
            serde_json::to_value(HealthStatus::Ok).ok(),
            Some(json!("ok"))
        );
        assert!(!failing.is_healthy());
    }
}
