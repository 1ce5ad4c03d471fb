//! Reading the status emails a stack sent: the messages in a maildir addressed to one
//! recipient, as a mail client would show them, and waiting for them to arrive.

use std::path::Path;
use std::time::Duration;

use crate::stack::TestStack;
use crate::waiting::{Patience, Progress, WAIT_TIMEOUT, poll_until};

/// How often a wait for emails reads the maildir again.
const MAILDIR_INTERVAL: Duration = Duration::from_millis(100);

impl TestStack {
    /// Emails the SMTP server received for this stack's recipient.
    pub fn emails(&self) -> Vec<String> {
        emails_to(&self.servers.maildir, &self.recipient)
    }

    /// Waits (up to [`WAIT_TIMEOUT`]) for at least `count` emails to this stack's recipient,
    /// and returns them all.
    pub async fn wait_for_emails(&self, count: usize) -> Vec<String> {
        self.wait_for_emails_within(count, WAIT_TIMEOUT).await
    }

    /// [`TestStack::wait_for_emails`] with a timeout of its own.
    pub async fn wait_for_emails_within(&self, count: usize, timeout: Duration) -> Vec<String> {
        wait_for_emails_in(&self.servers.maildir, &self.recipient, count, timeout).await
    }
}

/// Waits for at least `count` messages to `recipient` in a maildir, and returns them all.
pub async fn wait_for_emails_in(
    maildir: &Path,
    recipient: &str,
    count: usize,
    timeout: Duration,
) -> Vec<String> {
    poll_until(
        &format!("{count} emails to {recipient}"),
        Patience::within(timeout).every(MAILDIR_INTERVAL),
        || async {
            let emails = emails_to(maildir, recipient);
            if emails.len() >= count {
                Progress::Done(emails)
            } else {
                Progress::NotYet(format!("{} emails", emails.len()))
            }
        },
    )
    .await
}

/// Every message in a maildir addressed to `recipient`, raw.
pub fn emails_to(maildir: &Path, recipient: &str) -> Vec<String> {
    let mut emails = Vec::new();
    for folder in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                let to_line = text
                    .lines()
                    .take_while(|line| !line.is_empty())
                    .any(|line| {
                        line.to_ascii_lowercase().starts_with("to:") && line.contains(recipient)
                    });
                if to_line {
                    emails.push(decode_soft_line_breaks(&text));
                }
            }
        }
    }
    emails
}

/// Undoes quoted-printable soft line breaks, as a mail client does before showing a message,
/// so a long URL reads as one piece.
fn decode_soft_line_breaks(message: &str) -> String {
    let quoted_printable = message
        .lines()
        .take_while(|line| !line.is_empty())
        .any(|line| line.eq_ignore_ascii_case("Content-Transfer-Encoding: quoted-printable"));
    if quoted_printable {
        message.replace("=\r\n", "").replace("=\n", "")
    } else {
        message.to_owned()
    }
}
