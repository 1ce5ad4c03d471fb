//! `/health`: whether this API instance can reach PostgreSQL and RabbitMQ.

use axum::extract::State;
use ferry_api_types::{Health, HealthStatus};

use crate::AppState;
use crate::error::HealthAnswer;

/// Load balancers read the HTTP status (chosen in `error.rs`, with every other error status):
/// 200 when both dependencies answer, 503 when one does not.
pub async fn health(State(state): State<AppState>) -> HealthAnswer {
    // The cause goes to the API's log, not to whoever asks (the route needs no key).
    let postgres = match state.pool().get().await {
        Ok(client) => match client.query_one("SELECT 1", &[]).await {
            Ok(_) => "ok".to_owned(),
            Err(error) => {
                tracing::warn!(%error, "health: PostgreSQL does not answer");
                "failing: PostgreSQL does not answer (see the API's log)".to_owned()
            }
        },
        Err(error) => {
            tracing::warn!(%error, "health: no PostgreSQL connection");
            "failing: no PostgreSQL connection (see the API's log)".to_owned()
        }
    };
    let rabbitmq = if state.broker_connected() {
        "ok".to_owned()
    } else {
        "failing: not connected".to_owned()
    };
    let healthy = postgres == "ok" && rabbitmq == "ok";
    HealthAnswer(Health {
        status: if healthy {
            HealthStatus::Ok
        } else {
            HealthStatus::Failing
        },
        postgres,
        rabbitmq,
    })
}
