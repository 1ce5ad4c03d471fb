//! Waiting for something to become true: the one polling loop of the harness, `poll_until`,
//! and how patient it is.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a wait lasts unless a test says otherwise: long enough for a slow, shared
/// machine, short enough that a hang fails the test instead of the whole run.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a wait looks again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long to keep looking, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience::within(WAIT_TIMEOUT)
    }
}

impl Patience {
    /// Looks every [`POLL_INTERVAL`] for at most `timeout`.
    pub fn within(timeout: Duration) -> Self {
        Patience {
            timeout,
            interval: POLL_INTERVAL,
        }
    }

    /// The same patience, looking every `interval` instead.
    pub fn every(self, interval: Duration) -> Self {
        Patience { interval, ..self }
    }
}

/// What one look found: what was waited for, or what was there instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<T, Seen> {
    Done(T),
    /// Not yet; what was seen goes into the panic message if time runs out.
    NotYet(Seen),
}

/// Looks (`look` is called again for each look) until it finds what it waits for, and
/// returns that. Panics when `patience.timeout` passes first, naming what it waited for
/// (`description`, completing "waited for …") and the last thing it saw (printed with `{:#}`,
/// so JSON comes out pretty). It always looks at least once. A look may panic itself, to stop
/// waiting for something that can no longer happen.
pub async fn poll_until<T, Seen, Look, Looking>(
    description: &str,
    patience: Patience,
    mut look: Look,
) -> T
where
    Look: FnMut() -> Looking,
    Looking: Future<Output = Progress<T, Seen>>,
    Seen: Display,
{
    let deadline = Instant::now() + patience.timeout;
    loop {
        let seen = match look().await {
            Progress::Done(found) => return found,
            Progress::NotYet(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "waited {:?} for {description}; last seen: {seen:#}",
            patience.timeout
        );
        tokio::time::sleep(patience.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn poll_until_returns_what_it_found_once_it_is_there() {
        let looks = AtomicUsize::new(0);
        let found = poll_until("the third look", Patience::within(WAIT_TIMEOUT), || async {
            match looks.fetch_add(1, Ordering::SeqCst) {
                2 => Progress::Done("found"),
                seen => Progress::NotYet(seen),
            }
        })
        .await;
        assert_eq!(found, "found");
        assert_eq!(looks.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waited 200ms for a value that never comes; last seen: still 7")]
    async fn poll_until_gives_up_naming_what_it_waited_for_and_last_saw() {
        poll_until::<(), _, _, _>(
            "a value that never comes",
            Patience::within(Duration::from_millis(200)).every(Duration::from_millis(10)),
            || async { Progress::NotYet("still 7") },
        )
        .await;
    }
}
