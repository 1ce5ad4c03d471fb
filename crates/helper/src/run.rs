//! One run of `ferry-helper run`: the request read, the package received or found in the
//! cache, the target's lock taken, then a deploy (`deploy.rs`) or a script in a fresh work
//! folder, and the `Finished` event.

use std::fs;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use ferry_contracts::helper::{HelperRequest, HelperResult};
use ferry_packages::{ArchiveError, ArchiveFormat, UnpackLimits};
use ferry_secrets::Masker;

use crate::cache::{self, CachedPackage};
use crate::config::Config;
use crate::deploy::{self, DeployRun};
use crate::failure::Failure;
use crate::folders::{FerryHome, fresh_folder, run_prefix};
use crate::lock;
use crate::protocol::{Events, ProtocolError, read_request};
use crate::scripts::ScriptContext;

/// The variable that tells scripts where the package is.
const INSTALLATION_DIRECTORY: &str = "Action.Package.InstallationDirectoryPath";

/// What the `Finished` event reports besides success or failure.
#[derive(Debug, Default)]
pub struct Outcome {
    pub installation_directory: Option<String>,
    pub package_bytes_received: u64,
}

/// What every stage of a run reads.
pub struct RunContext<'a> {
    pub config: &'a Config,
    pub request: &'a HelperRequest,
    pub home: &'a FerryHome,
    /// The run's private folder (scripts, variables, outputs), removed when the run ends.
    pub private_folder: &'a Path,
}

impl RunContext<'_> {
    /// The scripts of one folder with these variables; after a failure, with
    /// `Octopus.Deployment.Error` (and `Ferry.…`) saying what failed.
    pub fn scripts(
        &self,
        working_directory: &Path,
        variables: &[(String, String)],
        failure: Option<&Failure>,
    ) -> Result<ScriptContext, Failure> {
        let mut variables = variables.to_vec();
        if let Some(failure) = failure {
            for prefix in ["Octopus", "Ferry"] {
                variables.push((format!("{prefix}.Deployment.Error"), failure.reason.clone()));
            }
        }
        ScriptContext::new(
            self.private_folder,
            working_directory,
            &variables,
            &self.config.inherited_environment,
            self.request.limits.max_line_bytes,
        )
    }
}

/// Reads the request from `input`, runs it and writes events to `output`. Returns an error
/// only when no `Finished` event could be sent (a protocol error, or the worker went away).
pub fn run(config: &Config, input: impl Read, mut output: impl Write) -> Result<(), ProtocolError> {
    started(&mut output)?;
    let mut input = BufReader::with_capacity(256 * 1024, input);
    let request = read_request(&mut input)?;
    let masker = Masker::new(request.masked.iter().cloned());
    let mut events = Events::new(output, masker, request.limits.max_line_bytes);
    let mut outcome = Outcome::default();
    let result = execute(config, &request, &mut input, &mut outcome, &mut events);
    let (succeeded, exit_code, reason, retryable) = match result {
        Ok(()) => (true, None, None, false),
        Err(failure) => (
            false,
            failure.exit_code,
            Some(failure.reason),
            failure.retryable,
        ),
    };
    events.finish(HelperResult {
        succeeded,
        exit_code,
        reason,
        retryable,
        installation_directory: outcome.installation_directory,
        package_bytes_received: outcome.package_bytes_received,
    });
    match events.broken_reason() {
        Some(why) => Err(ProtocolError(format!("writing the helper's events: {why}"))),
        None => Ok(()),
    }
}

/// Says [`HelperEvent::Started`] before anything else happens.
fn started(output: &mut impl Write) -> Result<(), ProtocolError> {
    let mut line = serde_json::to_vec(&ferry_contracts::helper::HelperEvent::Started)
        .map_err(|error| ProtocolError(format!("encoding the first event: {error}")))?;
    line.push(b'\n');
    output
        .write_all(&line)
        .and_then(|()| output.flush())
        .map_err(|error| ProtocolError(format!("writing the first event: {error}")))
}

fn execute<W: Write>(
    config: &Config,
    request: &HelperRequest,
    input: &mut impl Read,
    outcome: &mut Outcome,
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let home = FerryHome::prepare(&config.home)
        .map_err(|error| Failure::from_io("preparing ~/.ferry", &error))?;
    let package = match &request.package {
        None => None,
        Some(described) => {
            let format = ArchiveFormat::from_extension(&described.format).ok_or_else(|| {
                Failure::permanent(format!(
                    "the package format `{}` is not zip or tar.gz",
                    described.format
                ))
            })?;
            let cached = if described.follows {
                let received = cache::receive(input, &home.packages, described)?;
                outcome.package_bytes_received = described.size_bytes;
                events.ferry(format!(
                    "Package {} {}: received {} bytes, SHA-256 verified",
                    described.package_id, described.version, described.size_bytes
                ));
                received
            } else {
                let found = cache::open_cached(&home.packages, described)?;
                events.ferry(format!(
                    "Package {} {}: found in the package cache ({} bytes, SHA-256 verified)",
                    described.package_id, described.version, described.size_bytes
                ));
                found
            };
            Some((cached, format))
        }
    };
    let _lock = lock::take(&home.locks, &request.lock, || {
        events.ferry(format!(
            "Waiting: another step's run holds target {} (one step at a time per target)",
            request.target
        ));
    })?;
    crate::stop::check()?;
    let private_folder = RemovedOnDrop(
        fresh_folder(&home.runs, &run_prefix())
            .map_err(|error| Failure::from_io("creating the run's private folder", &error))?,
    );
    let context = RunContext {
        config,
        request,
        home: &home,
        private_folder: &private_folder.0,
    };
    match (&request.deploy, package) {
        (Some(deploy), Some((package, format))) => deploy::run(
            DeployRun {
                context: &context,
                deploy,
                package,
                format,
            },
            outcome,
            events,
        ),
        (Some(_), None) => Err(Failure::permanent(
            "a deploy step needs a package, and the request names none",
        )),
        (None, package) => run_in_work_folder(&context, package, events),
    }
}

/// A run without the deploy conventions: the package (if any) extracted into a fresh folder
/// under `~/.ferry/work`, the script (if any) run there, the folder removed after.
fn run_in_work_folder<W: Write>(
    context: &RunContext<'_>,
    package: Option<(CachedPackage, ArchiveFormat)>,
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let work = RemovedOnDrop(
        fresh_folder(&context.home.work, &run_prefix())
            .map_err(|error| Failure::from_io("creating the work folder", &error))?,
    );
    if let Some((package, format)) = package {
        extract(package.file, format, &work.0, context.request, events)?;
    }
    let Some(script) = context.request.script.as_deref() else {
        events.ferry("The request has no script to run");
        return Ok(());
    };
    let variables = if context.request.package.is_some() {
        with_installation_directory(&context.request.variables, &work.0)
    } else {
        context.request.variables.clone()
    };
    let mut scripts = context.scripts(&work.0, &variables, None)?;
    scripts.run_text("the script", script, events)
}

/// Extracts a verified package with the request's limits; a refused entry is named.
pub fn extract<W: Write>(
    file: fs::File,
    format: ArchiveFormat,
    destination: &Path,
    request: &HelperRequest,
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let limits = UnpackLimits {
        max_expanded_bytes: request.limits.max_expanded_bytes,
        max_entries: request.limits.max_entries,
        max_ratio: request.limits.max_ratio,
    };
    match ferry_packages::archive::extract_file(file, format, destination, &limits) {
        Ok(files) => {
            events.ferry(format!(
                "Extracted {files} files to {}",
                destination.display()
            ));
            Ok(())
        }
        Err(ArchiveError::Refused { entry, reason }) => Err(Failure::permanent(format!(
            "the package was refused: entry `{entry}`: {reason}"
        ))),
        Err(ArchiveError::Io(error)) => Err(Failure::from_io("extracting the package", &error)),
        Err(error) => Err(Failure::permanent(format!(
            "the package was refused: {error}"
        ))),
    }
}

/// The request's variables and the installation folder under `Octopus.` and `Ferry.`.
pub fn with_installation_directory(
    variables: &[(String, String)],
    installation: &Path,
) -> Vec<(String, String)> {
    let mut variables = variables.to_vec();
    for prefix in ["Octopus", "Ferry"] {
        variables.push((
            format!("{prefix}.{INSTALLATION_DIRECTORY}"),
            installation.to_string_lossy().into_owned(),
        ));
    }
    variables
}

/// A folder removed with everything in it when the run ends (it may hold secrets).
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
