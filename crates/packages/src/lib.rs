//! Packages: recognising, checking, packing and extracting archives, and (with the `store`
//! feature) keeping them in S3-compatible storage.
//!
//! Architecture invariant: the `archive` half is synchronous and needs no server, so the CLI
//! can pack without pulling in the AWS SDK; the `store` half is the only code in Ferry that
//! talks to S3.

pub mod archive;
mod entry_names;
mod formats;
#[cfg(feature = "store")]
pub mod store;
pub mod unpack;
mod zip_directory;

pub use archive::{ArchiveError, ArchiveFormat, PackageFileName, sha256_hex};
pub use unpack::UnpackLimits;
