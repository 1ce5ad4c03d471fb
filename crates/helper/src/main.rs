//! The `ferry-helper` command: `run` (one request on standard input, events on standard
//! output) and `version`.

use std::io;
use std::process::ExitCode;

use ferry_contracts::helper::HELPER_PROTOCOL;

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        Some("run") => {
            let config = match ferry_helper::Config::from_environment() {
                Ok(config) => config,
                Err(why) => {
                    eprintln!("ferry-helper: {why}");
                    return ExitCode::from(2);
                }
            };
            match ferry_helper::run(&config, io::stdin().lock(), io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("ferry-helper: {error}");
                    ExitCode::from(1)
                }
            }
        }
        Some("version") => {
            println!(
                "ferry-helper {} (protocol {HELPER_PROTOCOL})",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: ferry-helper run | ferry-helper version");
            ExitCode::from(2)
        }
    }
}
