//! The HTTP surface: one module per route group, the router, and the API-key check every
//! route except `/health` and the OpenAPI document goes through.

mod audit_log;
mod deployment_actions;
mod deployments;
mod environments;
mod health;
mod interruptions;
mod lifecycles;
mod openapi;
mod packages;
mod pages;
mod preview;
mod project_body;
mod projects;
mod releases;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;

/// The whole application. Tests call it directly or serve it on port 0.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route(
            "/api/environments",
            post(environments::create).get(environments::list),
        )
        .route(
            "/api/environments/{environment}",
            axum::routing::put(environments::update),
        )
        .route(
            "/api/lifecycles",
            post(lifecycles::create).get(lifecycles::list),
        )
        .route(
            "/api/lifecycles/{lifecycle}",
            get(lifecycles::show).put(lifecycles::update),
        )
        .route(
            "/api/projects/{project}/variables/preview",
            get(projects::variable_preview),
        )
        .route(
            "/api/projects/{project}/releases/{release_number}/update-variables",
            post(releases::update_variables),
        )
        .route(
            "/api/projects/{project}/releases/{release_number}/preview",
            get(preview::preview),
        )
        .route(
            "/api/deployments/rollback",
            post(deployment_actions::rollback),
        )
        .route(
            "/api/deployments/{deployment_id}/cancel",
            post(deployment_actions::cancel),
        )
        .route("/api/interruptions", get(interruptions::list))
        .route(
            "/api/interruptions/{interruption_id}/take",
            post(interruptions::take),
        )
        .route(
            "/api/interruptions/{interruption_id}/submit",
            post(interruptions::submit),
        )
        .route("/api/audit", get(audit_log::list))
        .route("/api/projects", post(projects::create).get(projects::list))
        .route(
            "/api/projects/{project}",
            get(projects::show).put(projects::update),
        )
        .route(
            "/api/projects/{project}/releases",
            post(releases::create).get(releases::list),
        )
        .route(
            "/api/projects/{project}/releases/{release_number}",
            get(releases::show),
        )
        .route("/api/packages", get(packages::list))
        .route(
            "/api/packages/{package_id}/{version}",
            post(packages::upload)
                .get(packages::show)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/deployments", post(deployments::create))
        .route("/api/deployments/{deployment_id}", get(deployments::show))
        .route(
            "/api/deployments/{deployment_id}/log",
            get(deployments::log),
        )
        .route("/deployments/{deployment_id}", get(pages::deployment))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ));
    Router::new()
        .route("/health", get(health::health))
        .route("/api/openapi.json", get(openapi::document))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// A response body as the `details` of its audit event, so the log records what was answered.
fn audit_details(body: &impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(body).map_err(|error| ApiError::Internal(error.into()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; the API is described at /api/openapi.json".into())
}

/// Lets a request through only with the configured API key, given as a bearer token, an
/// `X-Ferry-ApiKey` header, or the password of HTTP Basic authentication (for browsers
/// opening status pages).
async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let expected = state.config().api_key.expose();
    match presented_key(request.headers()) {
        Some((key, user)) if constant_time_eq(key.as_bytes(), expected.as_bytes()) => {
            request
                .extensions_mut()
                .insert(Actor::from_user_name(user.as_deref()));
            Ok(next.run(request).await)
        }
        _ => Err(ApiError::Unauthorized),
    }
}

/// The key presented, and the Basic user name when there is one.
fn presented_key(headers: &HeaderMap) -> Option<(String, Option<String>)> {
    for name in ["x-ferry-apikey", "x-octopus-apikey"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return Some((value.trim().to_owned(), None));
        }
    }
    let authorization = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        return Some((token.trim().to_owned(), None));
    }
    let encoded = authorization.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let credentials = String::from_utf8(decoded).ok()?;
    let (user, password) = credentials.split_once(':')?;
    Some((password.to_owned(), Some(user.to_owned())))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
