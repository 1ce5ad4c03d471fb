//! `cargo xtask <chore>`: the entry point; the chores live in the library.

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

  tidy   check the architecture invariants (ARCHITECTURE.md); prints path:line: violations
  gate   the one gate before every commit: fmt check, tidy, shellcheck, clippy -D warnings";

fn main() -> ExitCode {
    let root = xtask::project_root();
    let command = std::env::args().nth(1).unwrap_or_default();
    let outcome = match command.as_str() {
        "tidy" => tidy(&root),
        "gate" => xtask::gate::run(&root),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn tidy(root: &std::path::Path) -> anyhow::Result<()> {
    let violations = xtask::tidy(root)?;
    for violation in &violations {
        println!("{violation}");
    }
    if violations.is_empty() {
        println!("tidy: every invariant holds");
        Ok(())
    } else {
        anyhow::bail!(
            "tidy: {} violation(s); each line says what to do",
            violations.len()
        )
    }
}
