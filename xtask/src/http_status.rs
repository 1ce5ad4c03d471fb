//! Invariant: the API decides HTTP error statuses in one place, `impl IntoResponse for ApiError`
//! in `services/api/src/error.rs` (STYLE.md rule 4). Handlers may pick success statuses
//! (`StatusCode::CREATED`); a 4xx or 5xx anywhere else in the API's non-test code is a
//! violation.

use std::path::Path;

use crate::lexer::{Token, TokenKind};
use crate::source::SourceFile;
use crate::{Violation, rust_files};

/// The folder checked, and the one file allowed to name error statuses.
pub const API_SOURCE: &str = "services/api/src/";
pub const ERROR_MODULE: &str = "services/api/src/error.rs";

/// The `http::StatusCode` constants of class 4xx and 5xx, with their codes.
const ERROR_STATUSES: &[(&str, u16)] = &[
    ("BAD_REQUEST", 400),
    ("UNAUTHORIZED", 401),
    ("PAYMENT_REQUIRED", 402),
    ("FORBIDDEN", 403),
    ("NOT_FOUND", 404),
    ("METHOD_NOT_ALLOWED", 405),
    ("NOT_ACCEPTABLE", 406),
    ("PROXY_AUTHENTICATION_REQUIRED", 407),
    ("REQUEST_TIMEOUT", 408),
    ("CONFLICT", 409),
    ("GONE", 410),
    ("LENGTH_REQUIRED", 411),
    ("PRECONDITION_FAILED", 412),
    ("PAYLOAD_TOO_LARGE", 413),
    ("URI_TOO_LONG", 414),
    ("UNSUPPORTED_MEDIA_TYPE", 415),
    ("RANGE_NOT_SATISFIABLE", 416),
    ("EXPECTATION_FAILED", 417),
    ("IM_A_TEAPOT", 418),
    ("MISDIRECTED_REQUEST", 421),
    ("UNPROCESSABLE_ENTITY", 422),
    ("LOCKED", 423),
    ("FAILED_DEPENDENCY", 424),
    ("TOO_EARLY", 425),
    ("UPGRADE_REQUIRED", 426),
    ("PRECONDITION_REQUIRED", 428),
    ("TOO_MANY_REQUESTS", 429),
    ("REQUEST_HEADER_FIELDS_TOO_LARGE", 431),
    ("UNAVAILABLE_FOR_LEGAL_REASONS", 451),
    ("INTERNAL_SERVER_ERROR", 500),
    ("NOT_IMPLEMENTED", 501),
    ("BAD_GATEWAY", 502),
    ("SERVICE_UNAVAILABLE", 503),
    ("GATEWAY_TIMEOUT", 504),
    ("HTTP_VERSION_NOT_SUPPORTED", 505),
    ("VARIANT_ALSO_NEGOTIATES", 506),
    ("INSUFFICIENT_STORAGE", 507),
    ("LOOP_DETECTED", 508),
    ("NOT_EXTENDED", 510),
    ("NETWORK_AUTHENTICATION_REQUIRED", 511),
];

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for path in rust_files(root)? {
        if path.starts_with(API_SOURCE) && path != ERROR_MODULE {
            violations.extend(error_statuses(&SourceFile::read(root, &path)?));
        }
    }
    Ok(violations)
}

/// `StatusCode::<4xx or 5xx constant>` and `StatusCode::from_u16(<400..=599>)` outside
/// `#[cfg(test)]` modules.
pub fn error_statuses(file: &SourceFile) -> Vec<Violation> {
    let tokens = &file.tokens;
    let mut violations = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        let path_start =
            token.is_ident("StatusCode") && tokens.get(index + 1).is_some_and(|t| t.is_punct("::"));
        if !path_start || file.in_test_module(token.line) {
            continue;
        }
        let Some(name) = tokens.get(index + 2) else {
            continue;
        };
        let status = if let Some(&(constant, code)) = ERROR_STATUSES
            .iter()
            .find(|(constant, _)| name.is_ident(constant))
        {
            Some((format!("StatusCode::{constant}"), code))
        } else if name.is_ident("from_u16") {
            from_u16_argument(&tokens[index + 3..])
                .map(|code| (format!("StatusCode::from_u16({code})"), code))
        } else {
            None
        };
        if let Some((expression, code)) = status {
            violations.push(Violation::new(
                &file.path,
                token.line,
                format!(
                    "`{expression}` ({code}) decides an HTTP error status outside {ERROR_MODULE}; \
                     return an `ApiError` variant and let `impl IntoResponse for ApiError` pick the \
                     status (add a variant there if none fits)"
                ),
            ));
        }
    }
    violations
}

/// The code in `( 404 )` when it is a 4xx or 5xx.
fn from_u16_argument(tokens: &[Token]) -> Option<u16> {
    let [open, number, close, ..] = tokens else {
        return None;
    };
    if !open.is_punct("(") || number.kind != TokenKind::Number || !close.is_punct(")") {
        return None;
    }
    let digits: String = number
        .text
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .ok()
        .filter(|code| (400..=599).contains(code))
}
