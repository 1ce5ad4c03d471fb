//! The `ferry-helper` program this worker brings to targets: read once (it is sent whole
//! to a target that lacks it, a few MiB), named by its SHA-256 on the target so a new
//! version is sent once and an old one never run by mistake.

use std::path::Path;

use sha2::{Digest, Sha256};

pub(crate) struct HelperBinary {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl HelperBinary {
    pub(crate) fn load(path: &Path) -> Result<HelperBinary, String> {
        let bytes = std::fs::read(path).map_err(|error| {
            format!(
                "this worker carries no ferry-helper at {} ({error}); set FERRY_HELPER_PATH (permanent)",
                path.display()
            )
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(HelperBinary { bytes, sha256 })
    }

    /// The OS and architecture it is built for: this worker's own.
    pub(crate) fn platform(&self) -> String {
        format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
    }

    /// Whether a target reporting `uname -s` and `uname -m` as `os` and `arch` can run it.
    pub(crate) fn runs_on(&self, os: &str, arch: &str) -> bool {
        let arch = match arch {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            other => other,
        };
        os.eq_ignore_ascii_case(std::env::consts::OS) && arch == std::env::consts::ARCH
    }
}
