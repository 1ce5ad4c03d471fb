//! An operator sees what was parked, and why, and replays it once the cause is fixed
//! (`ferry-api dead-letters list|replay`, built on `ferry_broker::dead_letters`).

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_broker::dead_letters;
use ferry_broker::{OutgoingMessage, Publisher};
use ferry_tests::{Patience, Progress, StackOptions, TestStack, poll_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_messages_are_listed_with_their_reason_and_replayed() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    let connection = ferry_broker::connect(&stack.servers.amqp_url, "test-operator")
        .await
        .unwrap();
    let topology = ferry_broker::Topology::new(&stack.queue_prefix);
    let events = topology.step_events();
    let dead = events.dead_letter_queue();
    // A message the API can never apply: it parks it.
    let publisher = Publisher::open(&connection).await.unwrap();
    publisher
        .publish(OutgoingMessage {
            exchange: &events.exchange,
            routing_key: &events.routing_key,
            message_id: "broken-1",
            kind: "step_event",
            payload: b"{\"not\": \"a step event\"}",
            headers: ferry_broker::FieldTable::default(),
            expiration_ms: None,
        })
        .await
        .unwrap();
    let parked = poll_until(
        "the broken message to be parked",
        Patience::within(Duration::from_secs(30)),
        || async {
            let parked = dead_letters::list(&connection, &dead, 10).await.unwrap();
            if parked.is_empty() {
                Progress::NotYet(format!("{parked:?}"))
            } else {
                Progress::Done(parked)
            }
        },
    )
    .await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].message_id, "broken-1");
    assert!(parked[0].reason.contains("not a step event"), "{parked:?}");
    // Listing takes nothing out (what it read is given back, readable again soon after).
    poll_until(
        "the listed message to be listed again",
        Patience::within(Duration::from_secs(30)),
        || async {
            let again = dead_letters::list(&connection, &dead, 10).await.unwrap();
            if again == parked {
                Progress::Done(())
            } else {
                Progress::NotYet(format!("{again:?}"))
            }
        },
    )
    .await;

    // Replaying an id that is not there moves nothing; the right id moves it back to its
    // queue, where the API tries it again (and, still broken, parks it again).
    assert_eq!(
        dead_letters::replay(&connection, &dead, &events.queue, Some("other"))
            .await
            .unwrap(),
        0
    );
    // Messages the listing gave back may take a moment to be readable again.
    poll_until(
        "the parked message to be replayed",
        Patience::within(Duration::from_secs(30)),
        || async {
            match dead_letters::replay(&connection, &dead, &events.queue, Some("broken-1"))
                .await
                .unwrap()
            {
                1 => Progress::Done(()),
                replayed => Progress::NotYet(format!("replayed {replayed}")),
            }
        },
    )
    .await;
    poll_until(
        "the replayed message to be tried and parked again",
        Patience::within(Duration::from_secs(30)),
        || async {
            let parked = dead_letters::list(&connection, &dead, 10).await.unwrap();
            match parked.as_slice() {
                [again] if again.message_id == "broken-1" => Progress::Done(()),
                _ => Progress::NotYet(format!("{parked:?}")),
            }
        },
    )
    .await;
    let _ = connection.close(200, "done".into()).await;
    stack.stop().await;
}
