//! `ferry-api dead-letters list [QUEUE]` and `ferry-api dead-letters replay QUEUE [MESSAGE_ID]`:
//! the operator's view of parked messages (ARCHITECTURE.md, "Dead letters"). `QUEUE` is a work
//! queue's name without the prefix: `step-events`, `deployment-finished` or
//! `step-jobs.<pool>`; `list` without one shows those of the API, the notifier and the
//! `default` pool.

use anyhow::{Context, bail};

use crate::config::BrokerSettings;

/// The most messages `list` shows per queue.
const LIST_LIMIT: usize = 1000;

/// Runs the command; `arguments` are those after `dead-letters`.
pub async fn command(arguments: &[String]) -> anyhow::Result<()> {
    let settings = BrokerSettings::from_env()?;
    let connection = ferry_broker::connect(settings.amqp_url.expose(), "ferry-api dead-letters")
        .await
        .with_context(|| format!("connecting to RabbitMQ at {}", settings.amqp_url))?;
    let queue = |name: &str| format!("{}.{name}", settings.queue_prefix);
    match arguments {
        [action] if action == "list" => {
            for name in ["step-events", "deployment-finished", "step-jobs.default"] {
                print_parked(&connection, &format!("{}.dead", queue(name))).await?;
            }
        }
        [action, name] if action == "list" => {
            print_parked(&connection, &format!("{}.dead", queue(name))).await?;
        }
        [action, name, rest @ ..] if action == "replay" && rest.len() <= 1 => {
            let work = queue(name);
            let replayed = ferry_broker::dead_letters::replay(
                &connection,
                &format!("{work}.dead"),
                &work,
                rest.first().map(String::as_str),
            )
            .await
            .with_context(|| format!("replaying the messages parked from {work}"))?;
            println!("replayed {replayed} message(s) into {work}");
        }
        _ => bail!(
            "usage: ferry-api dead-letters list [QUEUE] | replay QUEUE [MESSAGE_ID] \
             (QUEUE: step-events, deployment-finished or step-jobs.<pool>)"
        ),
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

async fn print_parked(
    connection: &ferry_broker::Connection,
    dead_queue: &str,
) -> anyhow::Result<()> {
    let parked = match ferry_broker::dead_letters::list(connection, dead_queue, LIST_LIMIT).await {
        Ok(parked) => parked,
        // A queue nobody declared yet (a pool without jobs so far) has parked nothing.
        Err(error) if error.to_string().contains("NOT_FOUND") => {
            println!("{dead_queue}: no such queue");
            return Ok(());
        }
        Err(error) => return Err(error).with_context(|| format!("reading {dead_queue}")),
    };
    println!("{dead_queue}: {} parked message(s)", parked.len());
    for message in parked {
        println!(
            "  {}  {}  after {} attempt(s): {}",
            message.message_id, message.kind, message.attempt, message.reason
        );
    }
    Ok(())
}
