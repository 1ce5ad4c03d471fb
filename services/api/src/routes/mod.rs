//! The HTTP surface: one module per route group, the router, and the API-key check every
//! route except `/health` and the OpenAPI document goes through.

mod audit_log;
mod deploy_step_body;
mod deployment_actions;
mod deployments;
mod environments;
mod health;
mod interruptions;
mod lifecycles;
mod openapi;
mod packages;
mod pages;
mod paging;
mod preview;
mod project_body;
mod projects;
mod releases;
mod target_checks;
mod targets;

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
        .route("/api/targets", post(targets::create).get(targets::list))
        .route("/api/targets/discover", post(target_checks::discover))
        .route(
            "/api/targets/discoveries/{discovery_id}",
            get(target_checks::show_discovery),
        )
        .route(
            "/api/targets/{target}/health",
            post(target_checks::request_health),
        )
        .route(
            "/api/targets/{target}",
            get(targets::show).put(targets::update),
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
        .route("/targets", get(pages::targets))
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
        .layer(middleware::map_response(crate::error::json_errors))
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
///
/// Basic credentials are a browser's: any site the browser visits can make it send them. So,
/// until users sign in, a request that changes something is refused (403) when its `Origin`
/// is not this server's, and when it came with Basic credentials but not as JSON (a
/// cross-site form cannot send JSON without a preflight, which Ferry does not answer).
async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let expected = state.config().api_key.expose();
    let Some(presented) = presented_key(request.headers()) else {
        return Err(ApiError::Unauthorized);
    };
    if !constant_time_eq(presented.key.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    if !request.method().is_safe() {
        refuse_cross_site(
            request.headers(),
            &state.config().public_url,
            presented.browser,
        )?;
    }
    request
        .extensions_mut()
        .insert(Actor::from_user_name(presented.user.as_deref()));
    Ok(next.run(request).await)
}

/// See [`require_api_key`].
fn refuse_cross_site(headers: &HeaderMap, public_url: &str, browser: bool) -> Result<(), ApiError> {
    let own_origin = origin_of(public_url);
    if let Some(origin) = headers.get("origin") {
        let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
        if !origin.eq_ignore_ascii_case(own_origin) {
            return Err(ApiError::Forbidden(format!(
                "a request from another site (Origin `{origin}`) may not change anything; this \
                 server is {own_origin}"
            )));
        }
    }
    let json = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if browser && !json {
        return Err(ApiError::Forbidden(
            "a request that changes something with the key as an HTTP Basic password must send \
             JSON; scripts send the key in `X-Ferry-ApiKey` (and a name in `X-Ferry-User`)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// `X-Ferry-User` is percent-encoded UTF-8 (a header value is ASCII); anything that does not
/// decode is kept as written.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| text.to_owned())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let url = url.trim_end_matches('/');
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    match url[after_scheme..].find('/') {
        Some(path) => &url[..after_scheme + path],
        None => url,
    }
}

/// A presented key, with the user name it came with, and whether it came the way a browser
/// sends it (HTTP Basic).
struct Presented {
    key: String,
    user: Option<String>,
    browser: bool,
}

/// The key presented, and the user's name: `X-Ferry-User` with a key header, or the Basic
/// user name.
fn presented_key(headers: &HeaderMap) -> Option<Presented> {
    let header_user = || {
        headers
            .get("x-ferry-user")
            .and_then(|v| v.to_str().ok())
            .map(percent_decoded)
    };
    for name in ["x-ferry-apikey", "x-octopus-apikey"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return Some(Presented {
                key: value.trim().to_owned(),
                user: header_user(),
                browser: false,
            });
        }
    }
    let authorization = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        return Some(Presented {
            key: token.trim().to_owned(),
            user: header_user(),
            browser: false,
        });
    }
    let encoded = authorization.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let credentials = String::from_utf8(decoded).ok()?;
    let (user, password) = credentials.split_once(':')?;
    Some(Presented {
        key: password.to_owned(),
        user: Some(user.to_owned()),
        browser: true,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
