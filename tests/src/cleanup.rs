//! Removing what a test stack made on the shared servers (its database, exchanges, queues,
//! RabbitMQ users and bucket), when the test stops it and also when the test panicked before
//! that.

use crate::config::Servers;
use crate::database::drop_database;
use crate::stack::TestStack;

/// What a stack leaves on the shared servers: its database, exchanges and queues.
pub(crate) struct Cleanup {
    pub(crate) servers: Servers,
    pub(crate) database_name: String,
    pub(crate) queue_prefix: String,
    /// The worker pools whose queues exist (`default`, and any a test adds).
    pub(crate) worker_pools: Vec<String>,
    /// RabbitMQ users a test made (`TestStack::create_pool_user`).
    pub(crate) rabbitmq_users: Vec<String>,
    /// The stack's bucket, with the packages its tests pushed.
    pub(crate) store: ferry_packages::store::StoreConfig,
}

impl Cleanup {
    pub(crate) async fn run(self) {
        let _ = drop_database(&self.servers, &self.database_name).await;
        let _ = ferry_packages::store::PackageStore::new(&self.store)
            .remove_bucket()
            .await;
        for user in &self.rabbitmq_users {
            let _ = crate::queues::delete_user(&self.servers, user).await;
        }
        if let Ok(connection) =
            ferry_broker::connect(&self.servers.amqp_url, "ferry-test-cleanup").await
        {
            if let Ok(channel) = connection.create_channel().await {
                let topology = ferry_broker::Topology::new(&self.queue_prefix);
                let pools = self
                    .worker_pools
                    .iter()
                    .map(|pool| topology.step_jobs(pool));
                for spec in [topology.step_events(), topology.deployment_finished()]
                    .into_iter()
                    .chain(pools)
                {
                    for queue in [
                        spec.queue.clone(),
                        spec.retry_queue(),
                        spec.dead_letter_queue(),
                    ] {
                        let _ = channel
                            .queue_delete(
                                queue.into(),
                                lapin::options::QueueDeleteOptions::default(),
                            )
                            .await;
                    }
                }
                let pool_exchanges = self
                    .worker_pools
                    .iter()
                    .map(|pool| topology.worker_events_exchange(pool));
                for exchange in [
                    topology.jobs_exchange(),
                    topology.events_exchange(),
                    topology.control_exchange(),
                ]
                .into_iter()
                .chain(pool_exchanges)
                {
                    let _ = channel
                        .exchange_delete(
                            exchange.into(),
                            lapin::options::ExchangeDeleteOptions::default(),
                        )
                        .await;
                }
            }
            let _ = connection.close(200, "done".into()).await;
        }
    }
}

/// A test that panics never reaches `stop`: its database and queues are removed anyway, from
/// a thread of its own (the test's runtime may be unwinding).
impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(cleanup) = self.cleanup.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(cleanup.run());
                }
            })
            .join();
        }
    }
}
