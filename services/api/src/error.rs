//! The API's one error type. HTTP status codes appear here and nowhere else.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api_types::{ErrorBody, ErrorKind, Health};
use ferry_domain::ValidationError;
use ferry_storage::StorageError;
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be read (malformed JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// The request was read but a value breaks a rule.
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not take that method; the API is described at /api/openapi.json")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(
        "missing or wrong API key: send it as `Authorization: Bearer <key>` or `X-Ferry-ApiKey: <key>`"
    )]
    Unauthorized,
    /// The key is right but the request is refused (it may come from another site).
    #[error("{0}")]
    Forbidden(String),
    /// A server Ferry depends on is down; the request changed nothing and may be retried.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The most a JSON body may hold (axum's default body limit).
pub const MAX_JSON_BODY_BYTES: u64 = 2 * 1024 * 1024;

impl ApiError {
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        ApiError::Invalid(ValidationError::new(field, problem))
    }

    /// An axum rejection we have no finer mapping for, by the status axum gave it.
    pub fn from_rejection_status(status: StatusCode, text: String) -> Self {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: MAX_JSON_BODY_BYTES,
            }
        } else {
            ApiError::BadRequest(text)
        }
    }
}

/// Every error answer is JSON: an error response that is not (axum's own rejections, such as
/// a path segment that is not valid UTF-8) gets a JSON body with its text as the message.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let kind = match status {
        StatusCode::BAD_REQUEST => ErrorKind::BadRequest,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
        StatusCode::FORBIDDEN => ErrorKind::Forbidden,
        status if status.is_client_error() => ErrorKind::Invalid,
        _ => ErrorKind::Internal,
    };
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let message = if body.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_owned()
    } else {
        body.trim().to_owned()
    };
    (status, Json(ErrorBody::new(kind, message, None))).into_response()
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::Invalid(error)
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(error: tokio_postgres::Error) -> Self {
        ApiError::from(StorageError::from(error))
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            // A NUL character in a path or query parameter: PostgreSQL cannot hold it.
            StorageError::Postgres(ref inner)
                if matches!(
                    inner.code(),
                    Some(
                        &SqlState::CHARACTER_NOT_IN_REPERTOIRE
                            | &SqlState::UNTRANSLATABLE_CHARACTER
                    )
                ) =>
            {
                ApiError::BadRequest(
                    "the request contains a character that cannot be stored (NUL)".into(),
                )
            }
            StorageError::Missing(what) => ApiError::NotFound(format!("{what} does not exist")),
            StorageError::Pool(_) => {
                tracing::error!(error = %error, "database unavailable");
                ApiError::Unavailable("the database is unavailable; nothing was changed".into())
            }
            StorageError::Postgres(ref inner)
                if inner.is_closed()
                    || std::error::Error::source(inner)
                        .is_some_and(|source| source.is::<std::io::Error>()) =>
            {
                tracing::error!(error = %error, "database unavailable");
                ApiError::Unavailable("the database is unavailable; nothing was changed".into())
            }
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorKind::BadRequest),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorKind::Invalid),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorKind::NotFound),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorKind::MethodNotAllowed)
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorKind::Conflict),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::PayloadTooLarge)
            }
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorKind::UnsupportedMediaType,
            ),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorKind::Forbidden),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Unavailable),
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal)
            }
        };
        let field = match &self {
            ApiError::Invalid(error) => Some(error.field.clone()),
            _ => None,
        };
        let body = ErrorBody::new(kind, self.to_string(), field);
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"Ferry\""),
            );
        }
        response
    }
}

/// The answer of `/health` with its HTTP status: load balancers read the status, people the
/// body.
pub struct HealthAnswer(pub Health);

impl IntoResponse for HealthAnswer {
    fn into_response(self) -> Response {
        let status = if self.0.is_healthy() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, Json(self.0)).into_response()
    }
}
