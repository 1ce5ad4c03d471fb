//! Looking at the stack's queues from outside, as an operator would with the management UI.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use crate::{Patience, Progress, TestStack, poll_until};

impl TestStack {
    /// Waits until no job waits in (or is held unacknowledged from) the queue of `pool`:
    /// every job was taken and settled by a worker.
    pub async fn wait_until_jobs_taken(&self, pool: &str) {
        let connection = ferry_broker::connect(&self.servers.amqp_url, "test-observer")
            .await
            .expect("connecting to RabbitMQ");
        let channel = connection
            .create_channel()
            .await
            .expect("opening a channel");
        let queue = ferry_broker::Topology::new(&self.queue_prefix)
            .step_jobs(pool)
            .queue;
        poll_until(
            &format!("every job in {queue} to be taken"),
            Patience::within(Duration::from_secs(60)),
            || async {
                let declared = channel
                    .queue_declare(
                        queue.as_str().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..QueueDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .expect("the queue exists");
                // A quorum queue counts ready and unacknowledged messages together.
                match declared.message_count() {
                    0 => Progress::Done(()),
                    left => Progress::NotYet(format!("{left} jobs left")),
                }
            },
        )
        .await;
        let _ = connection.close(200, "observed".into()).await;
    }
}
