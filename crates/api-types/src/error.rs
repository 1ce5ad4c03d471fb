//! The body of every error answer: `{"error": {"kind", "message", "field"}}`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the API answers with when a request fails, whatever the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Which kind of failure, for programs; the HTTP status says the same more coarsely.
    pub kind: ErrorKind,
    /// What went wrong, as a sentence for people.
    pub message: String,
    /// The field a validation error is about (`steps[0].script`, `body`); `null` otherwise.
    pub field: Option<String>,
}

/// The kinds of failure, one per HTTP status the API answers errors with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request cannot be read (malformed JSON, a character that cannot be stored).
    BadRequest,
    /// The request was read but a value breaks a rule; `field` names it.
    Invalid,
    NotFound,
    MethodNotAllowed,
    /// It clashes with what exists (a name taken, a deployment already finished).
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    /// The credentials are right but the request is refused (a cross-site request).
    Forbidden,
    /// A server Ferry depends on is down; nothing was changed and the request may be retried.
    Unavailable,
    /// Anything else; the details are in the API's log, not in the answer.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorBody {
    pub fn new(kind: ErrorKind, message: impl Into<String>, field: Option<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                kind,
                message: message.into(),
                field,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_error_body_names_its_kind_message_and_field_or_null() {
        let invalid = ErrorBody::new(
            ErrorKind::Invalid,
            "a run_script step needs a script",
            Some("steps[0].script".to_owned()),
        );
        let not_found = ErrorBody::new(ErrorKind::NotFound, "project `x` does not exist", None);
        assert_eq!(
            serde_json::to_value(&invalid).ok(),
            Some(json!({"error": {
                "kind": "invalid",
                "message": "a run_script step needs a script",
                "field": "steps[0].script",
            }}))
        );
        assert_eq!(
            serde_json::to_value(&not_found).ok(),
            Some(json!({"error": {
                "kind": "not_found",
                "message": "project `x` does not exist",
                "field": null,
            }}))
        );
        let read: Option<ErrorBody> = serde_json::to_string(&invalid)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        assert_eq!(read, Some(invalid));
    }

    #[test]
    fn serde_spells_every_kind_as_its_name() {
        for kind in [
            ErrorKind::BadRequest,
            ErrorKind::Invalid,
            ErrorKind::NotFound,
            ErrorKind::MethodNotAllowed,
            ErrorKind::Conflict,
            ErrorKind::PayloadTooLarge,
            ErrorKind::UnsupportedMediaType,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
        ] {
            assert_eq!(serde_json::to_value(kind).ok(), Some(kind.as_str().into()));
        }
    }
}
