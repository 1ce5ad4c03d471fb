//! Values that must never print: [`Secret`] (keys, passwords), [`SecretUrl`] (a URL that may
//! carry a password), and [`redact_url`], the one place a password is cut out of a URL.

use std::fmt;

use ferry_secrets::MASK;

/// A value that must never be printed (API keys, passwords): `Debug` and `Display` show
/// `*****`. Read it with [`Secret::expose`] where it is used, never to log it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the code that needs it (comparing a key, signing a request).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// A server's URL that may carry a password (PostgreSQL, RabbitMQ, SMTP). `Debug` and
/// `Display` show it with the password replaced ([`redact_url`]), so it can go into logs and
/// error messages; [`SecretUrl::expose`] gives the full URL to the client that connects.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The full URL, password included, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `*****`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<String> for SecretUrl {
    fn from(url: String) -> Self {
        SecretUrl(url)
    }
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> Self {
        SecretUrl(url.to_owned())
    }
}

/// `text` with any password replaced by `*****`, for logs and errors.
///
/// - A URL's `user:password@` becomes `user:*****@`; the user stays, so people can tell which
///   account is used. A URL without credentials, or with a user and no password, is returned
///   as it is.
/// - The credentials end at the last `@` before the query (`?`) or fragment (`#`): a password
///   holding `@` or `/` (which should be percent-encoded, but often is not) is hidden whole,
///   and an `@` in the query is left alone. With no `@` before the query, the last `@`
///   anywhere counts (a password holding `?`): a redactor errs on the side of hiding, so a URL
///   with a port, no credentials and an `@` in its query loses its port and path in print.
/// - A string that is not a URL is returned as it is, except that `password=…` in a
///   PostgreSQL key/value connection string (`host=db user=ferry password=…`) is replaced.
pub fn redact_url(text: &str) -> String {
    match text.find("://") {
        Some(scheme_end) => redact_user_info(text, scheme_end + 3),
        None => redact_key_value_password(text),
    }
}

fn redact_user_info(url: &str, authority_start: usize) -> String {
    let rest = &url[authority_start..];
    let query_start = rest.find(['?', '#']).unwrap_or(rest.len());
    // No client reads credentials from a query or fragment, so an `@` there is not the end
    // of the credentials, unless there is none before it (a password holding `?` or `#`).
    let Some(at) = rest[..query_start].rfind('@').or_else(|| rest.rfind('@')) else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => {
            format!("{}{user}:{MASK}{}", &url[..authority_start], &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Replaces the value of every `password` keyword in a libpq key/value connection string
/// (`password=value`, `password = 'quoted \' value'`).
fn redact_key_value_password(text: &str) -> String {
    const KEYWORD: &str = "password";
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find(KEYWORD) {
        let at_word_start = rest[..found]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        let after_keyword = &rest[found + KEYWORD.len()..];
        let after_equals = after_keyword
            .trim_start()
            .strip_prefix('=')
            .map(str::trim_start);
        let (true, Some(value)) = (at_word_start, after_equals) else {
            redacted.push_str(&rest[..found + KEYWORD.len()]);
            rest = after_keyword;
            continue;
        };
        let value_start = rest.len() - value.len();
        redacted.push_str(&rest[..value_start]);
        redacted.push_str(MASK);
        rest = &value[value_length(value)..];
    }
    redacted.push_str(rest);
    redacted
}

/// The length of the value at the start of `text`: up to the closing quote of a quoted value
/// (backslash escapes), else up to the next whitespace.
fn value_length(text: &str) -> usize {
    let Some(quoted) = text.strip_prefix('\'') else {
        return text.find(char::is_whitespace).unwrap_or(text.len());
    };
    let mut escaped = false;
    for (index, character) in quoted.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return 1 + index + 1,
            _ => {}
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_replaced_and_the_user_kept() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:*****@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("smtp://mailer:p4ss@mail.internal:587?tls=required"),
            "smtp://mailer:*****@mail.internal:587?tls=required"
        );
    }

    #[test]
    fn a_url_without_credentials_is_unchanged() {
        assert_eq!(
            redact_url("smtp://127.0.0.1:55025"),
            "smtp://127.0.0.1:55025"
        );
        assert_eq!(
            redact_url("postgres://db.internal/ferry?application_name=me@host"),
            "postgres://db.internal/ferry?application_name=me@host"
        );
    }

    #[test]
    fn an_at_sign_in_the_query_is_not_the_end_of_the_credentials() {
        assert_eq!(
            redact_url("postgres://ferry:s3cret@db.internal/ferry?application_name=me@host"),
            "postgres://ferry:*****@db.internal/ferry?application_name=me@host"
        );
    }

    #[test]
    fn a_password_holding_a_question_mark_is_hidden_whole() {
        assert_eq!(
            redact_url("smtp://mailer:what?now@mail.internal:587"),
            "smtp://mailer:*****@mail.internal:587"
        );
    }

    #[test]
    fn a_user_without_a_password_is_unchanged() {
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:55432/ferry"),
            "postgres://postgres@127.0.0.1:55432/ferry"
        );
    }

    #[test]
    fn a_password_holding_at_signs_and_slashes_is_hidden_whole() {
        assert_eq!(
            redact_url("postgres://ferry:p@ss@db.internal:5432/ferry"),
            "postgres://ferry:*****@db.internal:5432/ferry"
        );
        assert_eq!(
            redact_url("amqp://ferry:a/b+c@d=@mq.internal/vhost"),
            "amqp://ferry:*****@mq.internal/vhost"
        );
    }

    #[test]
    fn an_empty_user_or_password_is_still_masked() {
        assert_eq!(redact_url("amqp://:secret@mq"), "amqp://:*****@mq");
        assert_eq!(redact_url("amqp://user:@mq"), "amqp://user:*****@mq");
    }

    #[test]
    fn a_string_that_is_not_a_url_is_unchanged() {
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_url(""), "");
        assert_eq!(
            redact_url("Ferry <ferry@example.org>"),
            "Ferry <ferry@example.org>"
        );
    }

    #[test]
    fn a_key_value_connection_string_loses_its_password() {
        assert_eq!(
            redact_url("host=db user=ferry password=s3cret dbname=ferry"),
            "host=db user=ferry password=***** dbname=ferry"
        );
        assert_eq!(
            redact_url("host=db password = 'it\\'s secret' dbname=ferry"),
            "host=db password = ***** dbname=ferry"
        );
        assert_eq!(redact_url("password=s3cret"), "password=*****");
        assert_eq!(
            redact_url("host=db mypassword=visible"),
            "host=db mypassword=visible"
        );
    }

    #[test]
    fn a_secret_prints_as_the_mask() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "*****");
        assert_eq!(format!("{secret}"), "*****");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
    }

    #[test]
    fn a_secret_url_prints_without_its_password_and_keeps_it_for_connecting() {
        let url = SecretUrl::new("amqp://guest:secret@127.0.0.1:5672/%2f");
        assert_eq!(
            format!("{url:?}"),
            "\"amqp://guest:*****@127.0.0.1:5672/%2f\""
        );
        assert_eq!(format!("{url}"), "amqp://guest:*****@127.0.0.1:5672/%2f");
        assert_eq!(url.expose(), "amqp://guest:secret@127.0.0.1:5672/%2f");
    }
}
