//! Reads under a write load: while one-step deployments are created as fast as the API takes
//! them (32 requests in flight, in a task of their own), a fixed number of read loops ask,
//! in turn, for a finished deployment (`GET /api/deployments/{id}`), its task log from the
//! start (`GET /api/deployments/{id}/log?after=0`) and its status page (`GET
//! /deployments/{id}`, HTML), each with the API key, over loopback. Every answer must be 200.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_tests::TestStack;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::common::{Api, noop_projects, succeeded, wait_all_succeeded};
use crate::percentile;

/// Read loops running at once.
const READERS: usize = 16;

/// Create requests the write load keeps in flight, and the projects it spreads over.
const WRITE_IN_FLIGHT: usize = 32;
const WRITE_PROJECTS: usize = 64;

/// Finished deployments the readers cycle through.
const READ_TARGETS: i64 = 64;

const PREFIX: &str = "Write";

/// The routes read, in the order each loop cycles through them.
const ROUTES: [&str; 3] = ["deployment", "log", "page"];

pub struct Reads {
    pub succeeded: usize,
    pub elapsed: Duration,
    /// Latencies in ms of all requests, then per route (in [`ROUTES`]' order).
    pub all: Vec<f64>,
    pub per_route: [Vec<f64>; 3],
    /// Deployments of the write load that ended `Success` while the readers ran, per second.
    pub writes_per_second: f64,
    /// Deployments the write load created in all.
    pub writes_created: usize,
    /// The whole phase, setup and the write load's drain included.
    pub took: Duration,
}

impl Reads {
    /// The phase's line on standard output, its details on standard error.
    pub fn print(mut self) {
        println!(
            "reads under load: {:.1} requests/s, p99 {:.1} ms",
            self.succeeded as f64 / self.elapsed.as_secs_f64(),
            percentile(&mut self.all, 0.99)
        );
        let routes: Vec<String> = ROUTES
            .iter()
            .zip(self.per_route.iter_mut())
            .map(|(route, samples)| {
                format!(
                    "{route} {} p50 {:.2} ms p99 {:.2} ms",
                    samples.len(),
                    percentile(samples, 0.5),
                    percentile(samples, 0.99)
                )
            })
            .collect();
        eprintln!(
            "reads under load: {} reads in {:.1} s by {READERS} loops, p50 {:.2} ms; per route: {}",
            self.succeeded,
            self.elapsed.as_secs_f64(),
            percentile(&mut self.all, 0.5),
            routes.join(", "),
        );
        eprintln!(
            "reads under load: writes meanwhile {:.1} deployments per second ({} created in all); phase {:.1} s",
            self.writes_per_second,
            self.writes_created,
            self.took.as_secs_f64()
        );
    }
}

/// Reads for `duration` while at most `max_writes` deployments are created (the write load
/// runs until the reads end; it is then stopped and what it created must all succeed).
pub async fn reads_under_load(
    stack: &TestStack,
    duration: Duration,
    max_writes: usize,
) -> anyhow::Result<Reads> {
    let phase = Instant::now();
    let api = Api::of(stack);
    let db = stack.db().await;
    let targets: Vec<String> = db
        .query(
            "SELECT deployment_id::text FROM deployments WHERE status = 'Success'
             ORDER BY finished_at DESC LIMIT $1",
            &[&READ_TARGETS],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    anyhow::ensure!(!targets.is_empty(), "no finished deployment to read");
    let targets = Arc::new(targets);
    api.create_projects(noop_projects(PREFIX, WRITE_PROJECTS))
        .await?;

    let stop = CancellationToken::new();
    let created = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn(write_load(
        api.clone(),
        max_writes,
        stop.clone(),
        created.clone(),
    ));
    // Let the write load reach its stride before the first read.
    let ramp = Instant::now();
    while created.load(Ordering::Relaxed) < WRITE_IN_FLIGHT.min(max_writes)
        && ramp.elapsed() < Duration::from_secs(10)
        && !writer.is_finished()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let succeeded_before = succeeded(&db, PREFIX).await?;
    let started = Instant::now();
    let deadline = started + duration;
    let readers: Vec<_> = (0..READERS)
        .map(|reader| tokio::spawn(read_loop(api.clone(), targets.clone(), reader, deadline)))
        .collect();
    let mut all = Vec::new();
    let mut per_route: [Vec<f64>; 3] = Default::default();
    let mut failures = Vec::new();
    for reader in readers {
        let samples = reader.await.context("a read loop panicked")?;
        for sample in samples {
            match sample.failure {
                None => {
                    all.push(sample.millis);
                    per_route[sample.route].push(sample.millis);
                }
                Some(failure) => failures.push(failure),
            }
        }
    }
    let elapsed = started.elapsed();
    let succeeded_after = succeeded(&db, PREFIX).await?;
    let writes_were_on = !writer.is_finished();
    stop.cancel();
    let writes_created = writer.await.context("the write load panicked")??;
    if !writes_were_on {
        eprintln!(
            "reads under load: the write load ended ({writes_created} created) before the reads did; raise FERRY_BENCH_READ_WRITES"
        );
    }
    wait_all_succeeded(&db, PREFIX, writes_created, Duration::from_secs(600)).await?;
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
        anyhow::bail!(
            "{} of {} reads failed, e.g.:\n{}",
            failures.len(),
            failures.len() + all.len(),
            shown.join("\n")
        );
    }
    Ok(Reads {
        succeeded: all.len(),
        elapsed,
        all,
        per_route,
        writes_per_second: (succeeded_after - succeeded_before) as f64 / elapsed.as_secs_f64(),
        writes_created,
        took: phase.elapsed(),
    })
}

/// Creates deployments of the `Write` projects round-robin, `WRITE_IN_FLIGHT` at once, until
/// `stop` or `max` are reached; returns how many it created (requests in flight when stopped
/// are finished first, so each counted one exists).
async fn write_load(
    api: Api,
    max: usize,
    stop: CancellationToken,
    created: Arc<AtomicUsize>,
) -> anyhow::Result<usize> {
    use futures_util::StreamExt;
    let names: Vec<String> = (0..WRITE_PROJECTS)
        .map(|n| format!("{PREFIX} {n}"))
        .collect();
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut started = 0;
    loop {
        while started < max && pending.len() < WRITE_IN_FLIGHT && !stop.is_cancelled() {
            pending.push(api.deploy(&names[started % WRITE_PROJECTS], "Dev"));
            started += 1;
        }
        match pending.next().await {
            Some(result) => {
                result?;
                created.fetch_add(1, Ordering::Relaxed);
            }
            None => return Ok(created.load(Ordering::Relaxed)),
        }
    }
}

struct Sample {
    route: usize,
    millis: f64,
    /// Why the request did not answer 200, if it did not.
    failure: Option<String>,
}

/// One reader: requests one after another until `deadline`, cycling through the routes and
/// the targets (each reader from its own place in both).
async fn read_loop(
    api: Api,
    targets: Arc<Vec<String>>,
    reader: usize,
    deadline: Instant,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut turn = reader;
    while Instant::now() < deadline {
        let route = turn % ROUTES.len();
        let id = &targets[(turn / ROUTES.len() + reader * 7) % targets.len()];
        let path = match route {
            0 => format!("/api/deployments/{id}"),
            1 => format!("/api/deployments/{id}/log?after=0"),
            _ => format!("/deployments/{id}"),
        };
        let started = Instant::now();
        let answer = api.get(&path).await;
        let millis = crate::millis(started.elapsed());
        let failure = match answer {
            Ok((StatusCode::OK, _)) => None,
            Ok((status, body)) => Some(format!(
                "GET {path}: {status} {}",
                body.chars().take(200).collect::<String>()
            )),
            Err(error) => Some(format!("GET {path}: {error:#}")),
        };
        samples.push(Sample {
            route,
            millis,
            failure,
        });
        turn += 1;
    }
    samples
}
