//! The imperative shell around the deployment state machine (`ferry_domain::deployment`):
//! one file per command, each a plain `async fn` over one transaction that takes the locks
//! in the documented order, loads the deployment, calls the machine once, writes the new
//! state and carries out the effects (outbox rows included), and commits once.
//!
//! - `create.rs`, `rollback.rs`: a new deployment (a person or CI asked for it).
//! - `claim.rs`: a worker asks to run an attempt (the start handshake).
//! - `step_result.rs`: a worker's result; `step_log.rs`: a worker's log lines.
//! - `lease.rs`: a worker's heartbeat, and giving up on attempts nobody took or keeps alive.
//! - `take.rs`, `answer.rs`: a person takes and answers an interruption.
//! - `cancel.rs`: a person cancels.
//! - `queue.rs`: the next queued deployment of a project and environment starts.
//! - `preview.rs`: the machine played forward without storing anything.
//!
//! Shared pieces: `load.rs` (locks and loading), `interruption.rs` (locking the interruption a
//! request names), `drive.rs` (calling the machine, persisting, starting the next queued
//! deployment, committing), `persist.rs` (writing the state and effects), `replies.rs` (the
//! shell's replies to the machine's questions: conditions and instructions), `messages.rs`
//! (the outbox messages), `unreadable.rs` (the two ways out for a deployment whose stored data
//! cannot be read: failing it when it cannot start, cancelling it; outside the machine, which
//! needs that data).
//! No rule lives here: a rule is in the domain crate, with its unit test.

mod drive;
mod interruption;
pub(crate) mod known;
mod load;
pub(crate) mod messages;
mod persist;
mod queue;
mod replies;
mod unreadable;

pub mod answer;
pub mod cancel;
pub mod claim;
pub mod create;
pub mod lease;
pub mod preview;
pub mod rollback;
pub mod step_log;
pub mod step_result;
pub mod take;

pub use drive::Offer;
