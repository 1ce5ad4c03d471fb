//! Looking at the stack's queues from outside, and making RabbitMQ users, as an operator
//! would with the management UI (`FERRY_RABBITMQ_MANAGEMENT_URL`).

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use crate::{Patience, Progress, Servers, TestStack, poll_until};

/// The management API's address, the broker's admin credentials and the vhost, from the
/// servers' AMQP URL.
fn management(servers: &Servers) -> (String, String, String, String) {
    let base = crate::config::required("FERRY_RABBITMQ_MANAGEMENT_URL");
    let amqp = reqwest::Url::parse(&servers.amqp_url).expect("a valid AMQP URL");
    let vhost = match amqp.path().trim_start_matches('/') {
        "" => "%2F".to_owned(),
        vhost => vhost.to_owned(),
    };
    (
        base,
        amqp.username().to_owned(),
        amqp.password().unwrap_or_default().to_owned(),
        vhost,
    )
}

/// Removes a RabbitMQ user.
pub(crate) async fn delete_user(servers: &Servers, user: &str) -> reqwest::Result<()> {
    let (base, admin, password, _) = management(servers);
    let mut url = reqwest::Url::parse(&format!("{base}/api/users")).expect("a valid URL");
    url.path_segments_mut().expect("a base URL").push(user);
    reqwest::Client::new()
        .delete(url)
        .basic_auth(admin, Some(password))
        .send()
        .await?;
    Ok(())
}

impl TestStack {
    /// Closes every broker connection of this stack's services, as a broker restart would;
    /// returns how many.
    pub async fn drop_broker_connections(&self) -> usize {
        let (base, user, password, _) = management(&self.servers);
        let http = reqwest::Client::new();
        let mine = poll_until(
            "the stack's API, worker and notifier connections to be listed",
            Patience::within(Duration::from_secs(30)),
            || async {
                let listed: Vec<serde_json::Value> = http
                    .get(format!("{base}/api/connections"))
                    .basic_auth(&user, Some(&password))
                    .send()
                    .await
                    .expect("the management API answers")
                    .json()
                    .await
                    .expect("the management API answers JSON");
                let mine: Vec<String> = listed
                    .iter()
                    .filter(|connection| {
                        connection["client_properties"]["connection_name"]
                            .as_str()
                            .is_some_and(|name| name.contains(&self.queue_prefix))
                    })
                    .filter_map(|connection| connection["name"].as_str().map(str::to_owned))
                    .collect();
                if mine.len() >= 3 {
                    Progress::Done(mine)
                } else {
                    Progress::NotYet(format!("{mine:?}"))
                }
            },
        )
        .await;
        for name in &mine {
            let mut url =
                reqwest::Url::parse(&format!("{base}/api/connections")).expect("a valid URL");
            url.path_segments_mut().expect("a base URL").push(name);
            let answer = http
                .delete(url)
                .basic_auth(&user, Some(&password))
                .header("X-Reason", "test: the broker went away")
                .send()
                .await
                .expect("the management API answers");
            assert!(answer.status().is_success(), "{answer:?}");
        }
        mine.len()
    }

    /// Makes a RabbitMQ user with exactly the permissions of a worker of `pool`
    /// (`Topology::worker_permissions`), as an operator sets one up, and returns an AMQP URL
    /// that logs in as it. The user is removed with the stack.
    pub async fn create_pool_user(&mut self, pool: &str) -> String {
        let (base, admin, admin_password, vhost) = management(&self.servers);
        let user = format!("{}-pool-{pool}", self.queue_prefix);
        let password = uuid::Uuid::new_v4().simple().to_string();
        self.uses_rabbitmq_user(&user);
        let http = reqwest::Client::new();
        let mut url = reqwest::Url::parse(&format!("{base}/api/users")).expect("a valid URL");
        url.path_segments_mut().expect("a base URL").push(&user);
        let made = http
            .put(url)
            .basic_auth(&admin, Some(&admin_password))
            .json(&serde_json::json!({ "password": password, "tags": "" }))
            .send()
            .await
            .expect("the management API answers");
        assert!(made.status().is_success(), "creating {user}: {made:?}");
        let permissions = ferry_broker::Topology::new(&self.queue_prefix).worker_permissions(pool);
        let made = http
            .put(format!("{base}/api/permissions/{vhost}/{user}"))
            .basic_auth(&admin, Some(&admin_password))
            .json(&serde_json::json!({
                "configure": permissions.configure,
                "write": permissions.write,
                "read": permissions.read,
            }))
            .send()
            .await
            .expect("the management API answers");
        assert!(
            made.status().is_success(),
            "permissions of {user}: {made:?}"
        );
        let mut amqp = reqwest::Url::parse(&self.servers.amqp_url).expect("a valid AMQP URL");
        amqp.set_username(&user).expect("an AMQP URL takes a user");
        amqp.set_password(Some(&password))
            .expect("an AMQP URL takes a password");
        amqp.to_string()
    }

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
