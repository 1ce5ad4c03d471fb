//! `/health`: whether this API instance can reach PostgreSQL and RabbitMQ.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
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
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if healthy { "ok" } else { "failing" },
            "postgres": postgres,
            "rabbitmq": rabbitmq,
        })),
    )
}
