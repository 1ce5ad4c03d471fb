//! The notifier never drops a status email because the SMTP server is down: the event is
//! retried with backoff until the server answers.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_tests::{StackOptions, TestStack, emails_to};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_waits_for_the_smtp_server_to_come_back() {
    // An SMTP address where nothing listens yet.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut servers_override = ferry_tests::Servers::from_env();
    servers_override.smtp_url = format!("smtp://127.0.0.1:{port}");
    let stack = TestStack::start_with_servers(servers_override, StackOptions::default()).await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Patient",
            "notification_email": stack.recipient,
            "steps": [{ "name": "Only", "script": "echo done" }],
        }))
        .await;
    stack.create_release("Patient", "1.0.0").await;
    let deployment_id = stack.deploy("Patient", "1.0.0", "Dev").await;
    let deployment = stack
        .wait_for_deployment(&deployment_id, Duration::from_secs(30))
        .await;
    assert_eq!(deployment["status"], "Success");

    // Let the first attempts fail against the closed port.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let maildir = tempfile::tempdir().unwrap();
    for folder in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.path().join(folder)).unwrap();
    }
    let python =
        ferry_config::variable("FERRY_TEST_AIOSMTPD_PYTHON").unwrap_or_else(|| "python3".into());
    let mut smtp = tokio::process::Command::new(python)
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

    let deadline = Instant::now() + Duration::from_secs(30);
    let emails = loop {
        let emails = emails_to(maildir.path(), &stack.recipient);
        if !emails.is_empty() {
            break emails;
        }
        assert!(
            Instant::now() < deadline,
            "the status email never arrived after the SMTP server came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].contains("Success") && emails[0].contains("Patient"),
        "{}",
        emails[0]
    );
    smtp.kill().await.ok();
    stack.stop().await;
}
