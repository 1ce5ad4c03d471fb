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
            // The size the worker sent (`run <run> <size>`): a copy cut short or grown on the
            // target says so, and the worker sends it again.
            if let Some(expected) = std::env::args().nth(3) {
                // Without `/proc`, the file the program was started from; neither: unchecked.
                let actual = std::fs::metadata("/proc/self/exe")
                    .or_else(|_| std::env::current_exe().and_then(std::fs::metadata))
                    .map(|found| found.len());
                if actual.is_ok() && actual.as_ref().ok() != expected.parse::<u64>().ok().as_ref() {
                    eprintln!(
                        "ferry-helper: this copy is damaged ({actual:?} bytes, {expected} expected)"
                    );
                    return ExitCode::from(ferry_contracts::helper::HELPER_DAMAGED_EXIT);
                }
            }
            ferry_helper::stop::install();
            // With a run name, `ferry-helper stop <run>` can reach this helper.
            let _registered = match std::env::args().nth(2) {
                Some(run) => {
                    match ferry_helper::stop::register(&config.home.join(".ferry/active"), &run) {
                        Ok(registered) => Some(registered),
                        Err(failure) => {
                            eprintln!("ferry-helper: {}", failure.reason);
                            return ExitCode::from(2);
                        }
                    }
                }
                None => None,
            };
            match ferry_helper::run(&config, io::stdin().lock(), io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("ferry-helper: {error}");
                    ExitCode::from(1)
                }
            }
        }
        Some("launch") => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            ferry_helper::launch::main(&args, ferry_helper::config::launch_environment())
        }
        Some("stop") => {
            let (Ok(config), Some(run)) = (
                ferry_helper::Config::from_environment(),
                std::env::args().nth(2),
            ) else {
                eprintln!("usage: ferry-helper stop <run>");
                return ExitCode::from(2);
            };
            match ferry_helper::stop::signal(&config.home.join(".ferry/active"), &run) {
                Ok(true) => {
                    println!("stopped");
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    println!("not running");
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("ferry-helper: {why}");
                    ExitCode::from(2)
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
            eprintln!(
                "usage: ferry-helper run [<run>] | ferry-helper stop <run> | ferry-helper launch <worker pid> <uid> <gid> <program> [args…] | ferry-helper version"
            );
            ExitCode::from(2)
        }
    }
}
