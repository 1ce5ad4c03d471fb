//! Why a run failed, in a sentence naming what failed, and whether trying again may help.

use std::fmt;

/// A failed stage: what the `Finished` event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    /// The exit code of the script that failed, when one did.
    pub exit_code: Option<i32>,
    /// A full disk, a package gone from the cache, a transfer cut short: another attempt may
    /// succeed. A script's exit code, a template error, a refused archive will repeat.
    pub retryable: bool,
}

impl Failure {
    pub fn permanent(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            exit_code: None,
            retryable: false,
        }
    }

    pub fn retryable(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            exit_code: None,
            retryable: true,
        }
    }

    /// A failure of the helper's own file work (writing a folder, renaming a link): retryable
    /// when the disk is full or a quota is reached, permanent otherwise.
    pub fn from_io(doing: &str, error: &std::io::Error) -> Self {
        let retryable = matches!(
            error.kind(),
            std::io::ErrorKind::StorageFull
                | std::io::ErrorKind::QuotaExceeded
                | std::io::ErrorKind::Interrupted
        );
        Failure {
            reason: format!("{doing}: {error}"),
            exit_code: None,
            retryable,
        }
    }

    /// The same failure with what was being done said first.
    pub fn context(mut self, doing: &str) -> Self {
        self.reason = format!("{doing}: {}", self.reason);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.reason)
    }
}
