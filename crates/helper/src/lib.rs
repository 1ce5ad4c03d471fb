//! `ferry-helper`: the one program Ferry runs on a deployment target (over SSH as the
//! target's account, or as the script user for a `local` target), speaking the JSON-lines
//! protocol of `ferry_contracts::helper` on its standard input and output.
//!
//! It needs nothing on the target but bash and coreutils: no async runtime, no network.
//! The package cache, locks and work folders live in `~/.ferry`; installations in
//! `<applications root>/<Environment>/<PackageId>/<Version>` with a `current` link.

pub mod cache;
pub mod config;
mod deploy;
pub mod failure;
pub mod folders;
pub mod glob;
pub mod install;
pub mod launch;
pub mod lock;
pub mod nginx;
pub mod prelude;
pub mod protocol;
pub mod retention;
mod run;
pub mod scripts;
pub mod stop;
pub mod streams;
pub mod structured;
pub mod substitute;
mod sys;
pub mod tree;

pub use config::Config;
pub use protocol::ProtocolError;
pub use run::run;
