//! Collects a step's log lines and sends them to the API as batched events, then the result.
//!
//! A step's log has a budget (`LogBudget`: lines and bytes). Output beyond it is counted, not
//! kept, and the count is said in the log when the step ends; Ferry's own (system) lines are
//! always kept.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ferry_broker::{BrokerError, FieldTable, OutgoingMessage};
use ferry_contracts::{
    LogLine, LogStream, MessageKind, NextClaim, StepEvent, StepEventBody, StepJob, StepOutcome,
};
use ferry_domain::{DeploymentId, StepRunId};
use ferry_secrets::Masker;
use uuid::Uuid;

use crate::WorkerContext;

/// Lines are sent at least this often while a step runs…
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// …or as soon as this many are waiting.
const FLUSH_LINES: usize = 500;
/// Longer lines are cut, so one runaway line cannot make a message too large.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// How much of a step's output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBudget {
    pub max_lines: u64,
    pub max_bytes: u64,
}

impl LogBudget {
    pub const DEFAULT_MAX_LINES: u64 = 100_000;
    pub const DEFAULT_MAX_BYTES: u64 = 32 * 1024 * 1024;
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            max_lines: LogBudget::DEFAULT_MAX_LINES,
            max_bytes: LogBudget::DEFAULT_MAX_BYTES,
        }
    }
}

/// What a step's output has used of its budget.
#[derive(Debug, Default)]
struct LogUse {
    kept_lines: u64,
    kept_bytes: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
}
/// How long a batch of log lines is tried before it is kept back for the next batch.
const LOG_PATIENCE: Duration = Duration::from_secs(3);
/// How long a step's result is tried (RabbitMQ restarting, the connection coming back)
/// before the worker gives up and leaves the attempt to its lease.
const RESULT_PATIENCE: Duration = Duration::from_secs(600);

pub struct EventSink<'a> {
    context: &'a WorkerContext,
    deployment_id: DeploymentId,
    step_run_id: StepRunId,
    attempt: i32,
    next_sequence: i64,
    pending: Vec<LogLine>,
    last_flush: Instant,
    /// Hides sensitive values in every line before it leaves the worker.
    masker: Masker,
    /// Output variables to report with the result.
    outputs: BTreeMap<String, String>,
    budget: LogBudget,
    used: LogUse,
    /// Put before every line: the target a run is on (`[web-1] `).
    prefix: String,
}

impl<'a> EventSink<'a> {
    pub(crate) fn new(context: &'a WorkerContext, job: &StepJob, budget: LogBudget) -> Self {
        EventSink {
            context,
            deployment_id: job.deployment_id,
            step_run_id: job.step_run_id,
            attempt: job.attempt,
            next_sequence: 0,
            pending: Vec::new(),
            last_flush: Instant::now(),
            masker: Masker::default(),
            outputs: BTreeMap::new(),
            budget,
            used: LogUse::default(),
            prefix: String::new(),
        }
    }

    /// Tags every line from now on with the target the step runs on.
    pub fn set_target(&mut self, target: &str) {
        self.prefix = format!("[{target}] ");
    }

    /// From now on, every line is masked with `masker`.
    pub fn set_masker(&mut self, masker: Masker) {
        self.masker = masker;
    }

    pub fn add_outputs(&mut self, outputs: BTreeMap<String, String>) {
        self.outputs.extend(outputs);
    }

    /// Adds a line to the next batch, or counts it when the step's output is over its budget
    /// (Ferry's own lines are always kept).
    pub fn line(&mut self, stream: LogStream, text: String) {
        if stream != LogStream::System {
            // What is kept of a line: it is cut to MAX_LINE_BYTES.
            let bytes = text.len().min(MAX_LINE_BYTES) as u64;
            let over = self.used.kept_lines >= self.budget.max_lines
                || self.used.kept_bytes.saturating_add(bytes) > self.budget.max_bytes;
            if over {
                if self.used.dropped_lines == 0 {
                    self.push(
                        LogStream::System,
                        format!(
                            "The step's output is over its log budget ({} lines, {} bytes): \
                             further output is counted, not kept",
                            self.budget.max_lines, self.budget.max_bytes
                        ),
                    );
                }
                self.used.dropped_lines += 1;
                self.used.dropped_bytes += bytes;
                return;
            }
            self.used.kept_lines += 1;
            self.used.kept_bytes += bytes;
        }
        self.push(stream, text);
    }

    fn push(&mut self, stream: LogStream, text: String) {
        let text = if self.prefix.is_empty() {
            text
        } else {
            format!("{}{text}", self.prefix)
        };
        let mut text = if self.masker.is_empty() {
            text
        } else {
            self.masker.mask(&text)
        };
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …[line truncated]");
        }
        self.pending.push(LogLine {
            sequence: self.next_sequence,
            stream,
            logged_at: Utc::now(),
            text,
        });
        self.next_sequence += 1;
    }

    /// Sends the waiting lines if the batch is old or large enough. A failure to send is
    /// logged and the lines are kept for the next try; the step goes on.
    pub async fn flush_if_due(&mut self) {
        let due = self.pending.len() >= FLUSH_LINES
            || (!self.pending.is_empty() && self.last_flush.elapsed() >= FLUSH_INTERVAL);
        if due {
            self.flush().await;
        }
    }

    /// Sends the waiting lines now (before something long, so the log shows what the step
    /// is doing while it does it). A failure to send is logged and the lines are kept.
    pub async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.pending);
        let body = StepEventBody::Log { lines };
        if let Err(error) = self.send(&body, LOG_PATIENCE).await {
            tracing::warn!(%error, "could not send log lines; keeping them for the next batch");
            if let StepEventBody::Log { lines } = body {
                self.pending = lines;
            }
        }
        self.last_flush = Instant::now();
    }

    /// Sends the remaining lines with the step's outcome.
    pub async fn finish(
        &mut self,
        outcome: StepOutcome,
        started_at: DateTime<Utc>,
        next: Option<NextClaim>,
    ) -> Result<(), BrokerError> {
        // Lines kept back while the broker was away go in batches of their own: the result
        // travels light.
        while self.pending.len() > FLUSH_LINES {
            let rest = self.pending.split_off(FLUSH_LINES);
            let lines = std::mem::replace(&mut self.pending, rest);
            self.send(&StepEventBody::Log { lines }, RESULT_PATIENCE)
                .await?;
        }
        if self.used.dropped_lines > 0 {
            let said = format!(
                "{} more lines ({} bytes) of output were not kept: the step's log budget is {} \
                 lines or {} bytes",
                self.used.dropped_lines,
                self.used.dropped_bytes,
                self.budget.max_lines,
                self.budget.max_bytes
            );
            self.used.dropped_lines = 0;
            self.push(LogStream::System, said);
        }
        let lines_before = self
            .pending
            .first()
            .map_or(self.next_sequence, |line| line.sequence);
        let body = StepEventBody::Finished {
            lines_before: Some(lines_before),
            lines: std::mem::take(&mut self.pending),
            outcome: match outcome {
                StepOutcome::Failed { exit_code, reason } => StepOutcome::Failed {
                    exit_code,
                    reason: self.masker.mask(&reason),
                },
                other => other,
            },
            started_at,
            finished_at: Utc::now(),
            outputs: std::mem::take(&mut self.outputs)
                .into_iter()
                .map(|(name, value)| (name, self.masker.mask(&value)))
                .collect(),
            next,
        };
        self.send(&body, RESULT_PATIENCE).await
    }

    /// Sends one event, trying again (through reconnections) for up to `patience`.
    async fn send(&self, body: &StepEventBody, patience: Duration) -> Result<(), BrokerError> {
        let event = StepEvent {
            event_id: Uuid::now_v7(),
            deployment_id: self.deployment_id,
            step_run_id: self.step_run_id,
            attempt: self.attempt,
            body: body.clone(),
        };
        publish_patiently(self.context, &event, patience).await
    }
}

/// Publishes a step event to the pool's events exchange once (a claim is re-sent by its
/// caller).
pub(crate) async fn publish_event(
    context: &WorkerContext,
    job: &StepJob,
    event_id: Uuid,
    body: StepEventBody,
) -> Result<(), BrokerError> {
    let event = StepEvent {
        event_id,
        deployment_id: job.deployment_id,
        step_run_id: job.step_run_id,
        attempt: job.attempt,
        body,
    };
    publish_patiently(context, &event, Duration::ZERO).await
}

/// Publishes `event`, trying again with a doubling delay (the link reconnects meanwhile)
/// until RabbitMQ confirms it or `patience` has passed.
async fn publish_patiently(
    context: &WorkerContext,
    event: &StepEvent,
    patience: Duration,
) -> Result<(), BrokerError> {
    let payload = serde_json::to_vec(event)?;
    let message_id = event.event_id.to_string();
    publish_to_pool(
        context,
        &message_id,
        MessageKind::StepEvent,
        &payload,
        patience,
    )
    .await
}

/// Publishes a health check's or discovery's answer like a step event (the same exchange,
/// another AMQP type).
pub(crate) async fn publish_check_result(
    context: &WorkerContext,
    result: &ferry_contracts::target_checks::TargetCheckResult,
    patience: Duration,
) -> Result<(), BrokerError> {
    let payload = serde_json::to_vec(result)?;
    let message_id = result.event_id.to_string();
    publish_to_pool(
        context,
        &message_id,
        MessageKind::TargetCheckResult,
        &payload,
        patience,
    )
    .await
}

/// Publishes to the pool's events exchange, retrying for up to `patience`.
async fn publish_to_pool(
    context: &WorkerContext,
    message_id: &str,
    kind: MessageKind,
    payload: &[u8],
    patience: Duration,
) -> Result<(), BrokerError> {
    // The pool's own exchange: the only one this worker's RabbitMQ user may publish to.
    let exchange = context
        .topology
        .worker_events_exchange(&context.config.worker_pool);
    let routing_key = context.topology.step_events().routing_key;
    let give_up = Instant::now() + patience;
    let mut delay = Duration::from_millis(100);
    loop {
        let result = match context.link.publisher().await {
            Ok(publisher) => {
                publisher
                    .publish(OutgoingMessage {
                        exchange: &exchange,
                        routing_key: &routing_key,
                        message_id,
                        kind: kind.as_str(),
                        payload,
                        headers: FieldTable::default(),
                        expiration_ms: None,
                    })
                    .await
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() + delay < give_up => {
                tracing::warn!(%error, "publishing a step event failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Sends a heartbeat for a granted attempt every `heartbeat_seconds` until aborted. A worker
/// that could not get one heartbeat to RabbitMQ for three beats in a row stops its step
/// before the API's lease (four beats) runs out and the step is retried elsewhere: the same
/// step never runs twice at once.
pub(crate) async fn heartbeats(
    context: std::sync::Arc<WorkerContext>,
    job: StepJob,
    stop: crate::control::Stop,
) {
    let every = Duration::from_secs(if job.heartbeat_seconds == 0 {
        15
    } else {
        job.heartbeat_seconds
    });
    let mut last_sent = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        // Judged before each beat, so a worker whose publishes hang stops in time too.
        if last_sent.elapsed() >= every * 3 {
            stop.request(&format!(
                "the worker could not reach RabbitMQ for {} seconds, and its lease on the step \
                 runs out at {} seconds",
                last_sent.elapsed().as_secs(),
                (every * 4).as_secs()
            ));
            return;
        }
        let body = StepEventBody::Heartbeat {
            worker: context.config.worker_name.clone(),
        };
        let sent = tokio::time::timeout(
            every / 2,
            publish_event(&context, &job, Uuid::now_v7(), body),
        )
        .await
        .map_err(|_| "RabbitMQ did not confirm it in time".to_owned())
        .and_then(|sent| sent.map_err(|error| error.to_string()));
        match sent {
            Ok(()) => last_sent = Instant::now(),
            Err(error) => tracing::warn!(%error, "could not send a heartbeat"),
        }
    }
}

/// A task aborted when its handle is dropped.
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
