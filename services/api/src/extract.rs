//! Extractors whose failures are [`ApiError`]s. A JSON body: malformed JSON is a 400 naming
//! the line and column, an unknown, missing or mistyped field a 422 naming the field, and a
//! NUL character anywhere (which PostgreSQL cannot store) a 422 naming where it is. A query
//! string: a missing or malformed parameter is a 422 naming it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<serde_json::Value>::from_request(request, state).await {
            Ok(axum::Json(value)) => {
                if let Some(path) = nul_in(&value, String::new()) {
                    return Err(ApiError::invalid(
                        if path.is_empty() { "body" } else { &path },
                        "must not contain NUL characters (\\u0000)",
                    ));
                }
                serde_path_to_error::deserialize(value)
                    .map(JsonBody)
                    .map_err(|error| {
                        let path = error.path().to_string();
                        let field = if path == "." { "body".to_owned() } else { path };
                        ApiError::invalid(&field, error.into_inner().to_string())
                    })
            }
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(error) => ApiError::invalid(
                    "body",
                    error.body_text().replace(
                        "Failed to deserialize the JSON body into the target type: ",
                        "",
                    ),
                ),
                JsonRejection::JsonSyntaxError(error) => ApiError::BadRequest(format!(
                    "the body is not valid JSON: {}",
                    error
                        .body_text()
                        .replace("Failed to parse the request body as JSON: ", "")
                )),
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                    "send JSON with `Content-Type: application/json`".into(),
                ),
                other => ApiError::from_rejection_status(other.status(), other.body_text()),
            }),
        }
    }
}

/// The path of the first string (or key) holding a NUL character, which PostgreSQL cannot
/// store in text or jsonb.
fn nul_in(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in(item, format!("{path}[{index}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(field)
            } else {
                nul_in(item, field)
            }
        }),
        _ => None,
    }
}

/// Query parameters parsed into `T`.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(ApiError::invalid(
                "query",
                rejection
                    .body_text()
                    .replace("Failed to deserialize query string: ", ""),
            )),
        }
    }
}
