//! The benchmark's settings from the environment: its knobs, and whether this process is one
//! of its worker processes (`workers.rs`).

use anyhow::Context;

/// A positive whole number from the environment (a knob of the benchmark), or `default`.
pub fn knob(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(value) => {
            let parsed: usize = value
                .trim()
                .parse()
                .with_context(|| format!("{name}={value:?}: a whole number"))?;
            anyhow::ensure!(parsed > 0, "{name} must be at least 1");
            Ok(parsed)
        }
        Err(_) => Ok(default),
    }
}

/// The value of `name` when set (a worker process learns the bench's pid from it).
pub fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
