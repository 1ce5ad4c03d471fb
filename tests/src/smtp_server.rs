//! An SMTP server of a test's own (aiosmtpd, filing into a fresh maildir), for tests that
//! need the mail server to be missing first and to appear later.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::config;
use crate::mail::wait_for_emails_in;

/// A running aiosmtpd, stopped when dropped.
pub struct SmtpServer {
    maildir: tempfile::TempDir,
    process: tokio::process::Child,
}

impl SmtpServer {
    /// Starts aiosmtpd on `127.0.0.1:port`, filing every message it receives.
    pub fn start(port: u16) -> Self {
        let maildir = tempfile::tempdir().expect("a temporary folder");
        for folder in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.path().join(folder)).expect("a maildir folder");
        }
        let process = tokio::process::Command::new(config::aiosmtpd_python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting aiosmtpd");
        SmtpServer { maildir, process }
    }

    pub fn maildir(&self) -> &Path {
        self.maildir.path()
    }

    /// Waits for at least `count` messages to `recipient`, and returns them all.
    pub async fn wait_for_emails_to(
        &self,
        recipient: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<String> {
        wait_for_emails_in(self.maildir(), recipient, count, timeout).await
    }

    pub async fn stop(mut self) {
        self.process.kill().await.ok();
    }
}
