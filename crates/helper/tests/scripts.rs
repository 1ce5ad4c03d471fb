//! Scripts on a target through the real `ferry-helper` binary: a clean environment with the
//! step's variables, output streamed and masked, outputs read back, work folders removed, a
//! background process that keeps the output open, the target lock, and the protocol's edges.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ferry_contracts::helper::{HelperEvent, HelperStream};

#[test]
fn a_script_runs_in_a_clean_environment_in_a_fresh_folder_removed_after() {
    let target = Target::new();
    // What a killed helper left: its process is gone, so the next run removes it.
    let abandoned = target.path(".ferry/runs/999999999-0123abcd");
    fs::create_dir_all(&abandoned).unwrap();
    fs::write(abandoned.join("variables.sh"), "secret").unwrap();
    let mut request = script_request(
        "web-1",
        "echo \"greeting $(get_octopusvariable greeting) $GREETING ${Greeting}\"\n\
         echo \"leak ${FERRY_TEST_LEAK-none}\"\n\
         echo \"home $HOME\"\n\
         echo \"folder $PWD\"\n\
         echo oops >&2\n\
         read -r line || echo 'stdin is empty'\n",
    );
    request
        .variables
        .push(("Path".into(), "/should/not/replace/PATH".into()));
    let run = target.run(&request, None);
    run.assert_succeeded();
    let log = run.log();
    assert!(
        log.contains("stdout: greeting hello hello hello\n"),
        "{log}"
    );
    assert!(log.contains("stdout: leak none\n"), "{log}");
    assert!(
        log.contains(&format!("stdout: home {}\n", target.home.path().display())),
        "{log}"
    );
    assert!(log.contains("stderr: oops\n"), "{log}");
    assert!(log.contains("stdout: stdin is empty\n"), "{log}");
    let work = target.path(".ferry/work");
    assert!(
        log.contains(&format!("stdout: folder {}/", work.display())),
        "{log}"
    );
    assert_eq!(
        fs::read_dir(&work).unwrap().count(),
        0,
        "the work folder is removed"
    );
    assert_eq!(
        fs::read_dir(target.path(".ferry/runs")).unwrap().count(),
        0,
        "the scripts and variables are removed"
    );
}

#[test]
fn a_package_without_the_deploy_conventions_is_extracted_for_the_script() {
    let target = Target::new();
    let bytes = tar_gz(&[("hello.txt", "from the package", 0o644)]);
    let mut request = script_request("web-1", "cat hello.txt; echo; pwd");
    request.package = Some(described("Tool", "2.0.0", &bytes, "tar.gz"));
    let run = target.run(&request, Some(&bytes));
    run.assert_succeeded();
    assert!(
        run.log().contains("stdout: from the package\n"),
        "{}",
        run.log()
    );
    assert_eq!(fs::read_dir(target.path(".ferry/work")).unwrap().count(), 0);
}

#[test]
fn outputs_set_by_a_script_are_sent_as_events() {
    let target = Target::new();
    let run = target.run(
        &script_request(
            "web-1",
            "set_octopusvariable Answer 42\nset_octopusvariable 'Multi Line' \"$(printf 'a\\nb c')\"\nset_octopusvariable Empty ''\n",
        ),
        None,
    );
    run.assert_succeeded();
    assert_eq!(
        run.outputs(),
        [
            ("Answer".to_owned(), "42".to_owned()),
            ("Multi Line".to_owned(), "a\nb c".to_owned()),
            ("Empty".to_owned(), String::new()),
        ]
    );
}

#[test]
fn sensitive_values_are_masked_in_every_line_sent() {
    let target = Target::new();
    let mut request = script_request(
        "web-1",
        "echo \"password is $DB_PASSWORD\"\necho \"to stderr: $(get_octopusvariable 'Db Password')\" >&2\nexit 4\n",
    );
    request
        .variables
        .push(("Db Password".into(), "hunter2-secret".into()));
    request.masked = vec!["hunter2-secret".into()];
    let run = target.run(&request, None);
    assert!(!run.result.succeeded);
    assert_eq!(run.result.exit_code, Some(4));
    assert_eq!(run.reason(), "the script exited with code 4");
    let everything = format!("{:?}", run.events);
    assert!(!everything.contains("hunter2-secret"), "{everything}");
    assert!(
        run.log().contains("stdout: password is *****\n"),
        "{}",
        run.log()
    );
    assert!(
        run.log().contains("stderr: to stderr: *****\n"),
        "{}",
        run.log()
    );
}

#[test]
fn long_lines_are_cut_at_the_request_limit() {
    let target = Target::new();
    let mut request = script_request(
        "web-1",
        "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after",
    );
    request.limits.max_line_bytes = 2048;
    let run = target.run(&request, None);
    run.assert_succeeded();
    let lines: Vec<&String> = run
        .events
        .iter()
        .filter_map(|event| match event {
            HelperEvent::Log {
                stream: HelperStream::Stdout,
                text,
            } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].len(), 2048);
    assert_eq!(lines[1], "after");
}

#[test]
fn a_background_process_holding_the_output_does_not_hang_the_run() {
    let target = Target::new();
    let started = Instant::now();
    let run = target.run(&script_request("web-1", "sleep 8 &\necho started"), None);
    run.assert_succeeded();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        run.log().contains("stopped reading it after 2 s"),
        "{}",
        run.log()
    );
}

/// Each script records when it started and ended (in seconds) in `$HOME/times`.
const TIMED: &str = "echo \"start $(date +%s.%N)\" >> \"$HOME/times\"; sleep 1; echo \"end $(date +%s.%N)\" >> \"$HOME/times\"";

fn intervals(target: &Target) -> Vec<(f64, f64)> {
    let text = fs::read_to_string(target.path("times")).unwrap();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for line in text.lines() {
        let (kind, at) = line.split_once(' ').unwrap();
        let at: f64 = at.parse().unwrap();
        if kind == "start" {
            starts.push(at)
        } else {
            ends.push(at)
        }
    }
    starts.sort_by(f64::total_cmp);
    ends.sort_by(f64::total_cmp);
    starts.into_iter().zip(ends).collect()
}

#[test]
fn the_lock_lets_one_run_at_a_time_on_a_target_and_runs_on_two_targets_together() {
    let target = Target::new();
    let first = target.spawn(&script_request("web-1", TIMED), None);
    let second = target.spawn(&script_request("web-1", TIMED), None);
    let runs = [Run::finish(first), Run::finish(second)];
    for run in &runs {
        run.assert_succeeded();
    }
    let times = intervals(&target);
    assert!(times[0].1 <= times[1].0, "the runs overlapped: {times:?}");
    assert!(
        runs.iter().any(|run| run
            .log()
            .contains("Waiting: another step's run holds target web-1")),
        "{}\n{}",
        runs[0].log(),
        runs[1].log()
    );

    let other = Target::new();
    let first = other.spawn(&script_request("web-1", TIMED), None);
    let second = other.spawn(&script_request("web-2", TIMED), None);
    Run::finish(first).assert_succeeded();
    Run::finish(second).assert_succeeded();
    let times = intervals(&other);
    assert!(
        times[1].0 < times[0].1,
        "different targets waited for each other: {times:?}"
    );
}

#[test]
fn another_protocol_is_refused_on_standard_error() {
    let target = Target::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-helper"))
        .arg("run")
        .env_clear()
        .env("HOME", target.home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut request = serde_json::to_value(script_request("web-1", "true")).unwrap();
    request["protocol"] = 2.into();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{request}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    // Only its first word, said before it reads anything: it started.
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"event\":\"started\"}\n"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("protocol 2") && stderr.contains("speaks protocol 1"),
        "{stderr}"
    );
}

#[test]
fn a_copy_of_another_size_than_the_worker_sent_says_it_is_damaged_and_reads_nothing() {
    let target = Target::new();
    let program = env!("CARGO_BIN_EXE_ferry-helper");
    let size = std::fs::metadata(program).unwrap().len();
    let output = Command::new(program)
        .args(["run", "some-run", &(size + 1).to_string()])
        .env_clear()
        .env("HOME", target.home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(97));
    assert!(output.stdout.is_empty(), "it never started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("this copy is damaged"), "{stderr}");
}

#[test]
fn version_prints_the_crate_and_protocol() {
    let mut output = String::new();
    Command::new(env!("CARGO_BIN_EXE_ferry-helper"))
        .arg("version")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    assert_eq!(
        output,
        format!("ferry-helper {} (protocol 1)\n", env!("CARGO_PKG_VERSION"))
    );
}
