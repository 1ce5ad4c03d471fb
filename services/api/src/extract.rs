//! A JSON body extractor whose failures are [`ApiError`]s: malformed JSON is a 400 naming the
//! line and column, an unknown or missing field a 422 naming the field.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
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
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
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
                other => ApiError::BadRequest(other.body_text()),
            }),
        }
    }
}
