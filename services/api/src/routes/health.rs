//! `/health`: whether this API instance can reach PostgreSQL and RabbitMQ.

use axum::extract::State;
use serde::Serialize;

use crate::AppState;

/// The answer of `/health`. Load balancers read its HTTP status (chosen in `error.rs`, with
/// every other error status): 200 when both dependencies answer, 503 when one does not.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `failing`.
    pub status: &'static str,
    pub postgres: String,
    pub rabbitmq: String,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.status == "ok"
    }
}

pub async fn health(State(state): State<AppState>) -> Health {
    let postgres = match state.pool().get().await {
        Ok(client) => match client.query_one("SELECT 1", &[]).await {
            Ok(_) => "ok".to_owned(),
            Err(error) => format!("failing: {error}"),
        },
        Err(error) => format!("failing: {error}"),
    };
    let rabbitmq = if state.broker().status().connected() {
        "ok".to_owned()
    } else {
        "failing: not connected".to_owned()
    };
    let healthy = postgres == "ok" && rabbitmq == "ok";
    Health {
        status: if healthy { "ok" } else { "failing" },
        postgres,
        rabbitmq,
    }
}
