//! Ferry's notifier: consumes finished-deployment events and sends the status email.
//!
//! Architecture invariant: like the worker, the notifier has no database credentials; the
//! event carries everything the email shows. A failure to send is never a dropped event: a
//! transient SMTP failure is retried with backoff through the retry queue, a permanent one
//! (or too many transient ones) parks the event in the dead-letter queue for an operator.

pub mod config;
mod sent;

use std::sync::Arc;

use anyhow::Context;
use ferry_broker::{ConsumerOptions, Delivery, Handled, Topology, run_consumer};
use ferry_contracts::DeploymentFinished;
use lettre::message::Body;
use lettre::message::Mailbox;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::Environment;
use tokio_util::sync::CancellationToken;

pub use config::Config;

const SUBJECT_TEMPLATE: &str = include_str!("../templates/subject.txt");
const BODY_TEMPLATE: &str = include_str!("../templates/body.txt");

struct Notifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: Environment<'static>,
    /// Deployments emailed lately, so a redelivered event is not emailed twice.
    sent: sent::SentRecently,
}

/// Consumes finished-deployment events until `shutdown` is cancelled, reconnecting whenever
/// the broker connection is lost (messages not acknowledged by then are redelivered).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose())
        .with_context(|| {
            format!(
                "FERRY_SMTP_URL `{}` is not a valid SMTP URL",
                config.smtp_url
            )
        })?
        .build();
    let from: Mailbox = config
        .from
        .parse()
        .with_context(|| format!("FERRY_SMTP_FROM `{}` is not an email address", config.from))?;
    let templates = templates()?;
    let notifier = Arc::new(Notifier {
        transport,
        from,
        templates,
        sent: sent::SentRecently::default(),
    });
    let link = ferry_broker::Link::new(
        config.amqp_url.expose(),
        &format!("ferry-notifier {}", config.queue_prefix),
    );
    link.connect().await.context("connecting to RabbitMQ")?;
    let topology = Topology::new(&config.queue_prefix);
    let spec = topology.deployment_finished();
    while let Some(linked) = link.get(&shutdown).await {
        let notifier = Arc::clone(&notifier);
        let result = run_consumer(
            &linked.connection,
            &topology,
            &spec,
            ConsumerOptions::new("ferry-notifier", config.concurrency),
            move |delivery: Arc<Delivery>| {
                let notifier = Arc::clone(&notifier);
                async move { handle(&notifier, &delivery).await }
            },
            shutdown.clone(),
        )
        .await;
        match result {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(%error, "lost RabbitMQ; the notifier reconnects");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    link.close("notifier stopping").await;
    Ok(())
}

async fn handle(notifier: &Notifier, delivery: &Delivery) -> Handled {
    let event: DeploymentFinished = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a deployment-finished event: {error}"),
            };
        }
    };
    if notifier.sent.contains(event.deployment_id) {
        tracing::info!(deployment_id = %event.deployment_id, "status email already sent (the event came again); not sending it twice");
        return Handled::Done;
    }
    if event.recipients.is_empty() {
        tracing::info!(deployment_id = %event.deployment_id, "project has no notification address; no email sent");
        return Handled::Done;
    }
    let message = match compose(notifier, &event) {
        Ok(message) => message,
        Err(reason) => return Handled::Reject { reason },
    };
    match notifier.transport.send(message).await {
        Ok(_) => {
            notifier.sent.remember(event.deployment_id);
            tracing::info!(deployment_id = %event.deployment_id, recipients = ?event.recipients, "status email sent");
            Handled::Done
        }
        Err(error) if error.is_permanent() => Handled::Reject {
            reason: format!("the SMTP server refused the status email: {error}"),
        },
        Err(error) => Handled::RetryLater {
            reason: format!("sending the status email failed: {error}"),
        },
    }
}

/// The status email's templates, compiled once.
fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut templates = Environment::new();
    templates.add_template("subject", SUBJECT_TEMPLATE)?;
    templates.add_template("body", BODY_TEMPLATE)?;
    Ok(templates)
}

/// The status email's subject and body, as the templates render the event.
fn render(
    templates: &Environment<'_>,
    event: &DeploymentFinished,
) -> Result<(String, String), String> {
    let context = minijinja::value::Serde(event);
    let render = |name: &str| {
        templates
            .get_template(name)
            .and_then(|template| template.render(context))
            .map_err(|error| format!("rendering the {name} template: {error}"))
    };
    Ok((render("subject")?, render("body")?))
}

/// Renders and addresses the status email. An error here can never succeed later.
fn compose(notifier: &Notifier, event: &DeploymentFinished) -> Result<Message, String> {
    let (subject, body) = render(&notifier.templates, event)?;
    let mut builder = Message::builder()
        .from(notifier.from.clone())
        .subject(subject.trim())
        .message_id(Some(format!("<deployment-{}@ferry>", event.deployment_id)))
        .header(ContentType::TEXT_PLAIN);
    for recipient in &event.recipients {
        let mailbox: Mailbox = recipient
            .as_str()
            .parse()
            .map_err(|error| format!("recipient `{recipient}` is not an email address: {error}"))?;
        builder = builder.to(mailbox);
    }
    // 8bit keeps the status URL whole for people reading the raw message; quoted-printable
    // would fold it. Lines longer than SMTP allows fall back to lettre's choice.
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    let body =
        Body::new_with_encoding(body, ContentTransferEncoding::EightBit).unwrap_or_else(Body::new);
    builder
        .body(body)
        .map_err(|error| format!("building the email: {error}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The email as people have received it: the statuses print as Octopus spells them, and
    /// the step column is padded by the status's length.
    #[test]
    fn the_status_email_renders_as_it_always_has() {
        let event: DeploymentFinished = serde_json::from_value(serde_json::json!({
            "event_id": "0190b5a2-7c1e-7000-8000-000000000009",
            "deployment_id": "0190b5a2-7c1e-7000-8000-000000000001",
            "project_name": "Random Quotes",
            "release_number": "1.0.3",
            "environment_name": "Test",
            "status": "Failed",
            "failed_step": "Migrate",
            "exit_code": 3,
            "error": "Step \"Migrate\" failed with exit code 3",
            "status_url": "http://ferry.example/deployments/0190b5a2-7c1e-7000-8000-000000000001",
            "recipients": ["team@example.com"],
            "steps": [
                { "name": "Migrate", "status": "Failed" },
                { "name": "Deploy", "status": "Abandoned" },
                { "name": "Sign off", "status": "Skipped" }
            ],
            "finished_at": "2026-12-01T10:00:00Z"
        }))
        .unwrap();
        let (subject, body) = render(&templates().unwrap(), &event).unwrap();
        assert_eq!(
            subject.trim(),
            "[Ferry] Failed: Random Quotes 1.0.3 to Test"
        );
        assert_eq!(
            body,
            "Deployment of Random Quotes release 1.0.3 to Test: Failed\n\
             \n\
             Failed step: Migrate (exit code 3)\n\
             Error: Step \"Migrate\" failed with exit code 3\n\
             \n\
             Steps:\n  \
             Failed     Migrate\n  \
             Abandoned  Deploy\n  \
             Skipped    Sign off\n\
             \n\
             Finished at 2026-12-01T10:00:00Z\n\
             Status page:\n\
             http://ferry.example/deployments/0190b5a2-7c1e-7000-8000-000000000001"
        );
    }
}
