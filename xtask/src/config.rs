//! Where the checkout is: the one setting xtask reads from its environment.

use std::path::PathBuf;

/// The repository root: the folder above this crate's manifest.
pub fn project_root() -> PathBuf {
    // At run time, not build time: checkouts that share one CARGO_TARGET_DIR can run each
    // other's xtask binary (cargo does not copy a binary that is already fresh), and one
    // built in another checkout would check that checkout, or nothing if it is gone.
    // `cargo xtask` (cargo run) sets the variable for the process it starts.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
    assert!(
        root.join("xtask").is_dir() && root.join("Cargo.toml").is_file(),
        "xtask: {} is not Ferry's checkout; run it as `cargo xtask` from the checkout",
        root.display()
    );
    root
}
