//! Running one bash script of a run: in the installation (or work) folder, with a clean
//! environment (the inherited variables and the step's), the `BASH_ENV` prelude, standard
//! input from `/dev/null`, output streamed as it comes, and outputs read back after.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferry_contracts::helper::HelperStream;

use crate::failure::Failure;
use crate::folders::{with_path, write_private};
use crate::prelude::{bash_prelude, environment, read_outputs};
use crate::protocol::Events;
use crate::streams::{self, Ended};

/// The most a script's output variables may take, in bytes.
const MAX_OUTPUTS_BYTES: u64 = 1 << 20;

/// Everything the scripts of one run share.
pub struct ScriptContext {
    /// The run's private folder (0700): step scripts, the prelude, the outputs file.
    private_folder: PathBuf,
    prelude: PathBuf,
    outputs: PathBuf,
    /// The inherited variables then the step's, as the script's environment.
    environment: Vec<(String, String)>,
    pub working_directory: PathBuf,
    /// How many bytes of a line are read before it is masked and cut.
    read_line_bytes: usize,
    scripts_written: usize,
}

impl ScriptContext {
    /// Writes the prelude into `private_folder` for these variables.
    pub fn new(
        private_folder: &Path,
        working_directory: &Path,
        variables: &[(String, String)],
        inherited_environment: &[(String, String)],
        max_line_bytes: u64,
    ) -> Result<Self, Failure> {
        let prelude = private_folder.join(format!(
            "variables-{}.sh",
            crate::folders::random_hex(4)
                .map_err(|error| Failure::from_io("naming the scripts' variables", &error))?
        ));
        let outputs = private_folder.join("outputs");
        let text = bash_prelude(variables, &outputs.to_string_lossy());
        write_private(&prelude, text.as_bytes(), 0o600)
            .map_err(|error| Failure::from_io("writing the scripts' variables", &error))?;
        let mut environment_variables = inherited_environment.to_vec();
        environment_variables.extend(environment(variables));
        let max_line = usize::try_from(max_line_bytes).unwrap_or(usize::MAX);
        Ok(ScriptContext {
            private_folder: private_folder.to_path_buf(),
            prelude,
            outputs,
            environment: environment_variables,
            working_directory: working_directory.to_path_buf(),
            read_line_bytes: max_line.max(1024).saturating_mul(4),
            scripts_written: 0,
        })
    }

    /// Writes a script given in the request (0700, in the private folder) and runs it.
    pub fn run_text<W: Write>(
        &mut self,
        label: &str,
        script: &str,
        events: &mut Events<W>,
    ) -> Result<(), Failure> {
        self.scripts_written += 1;
        let path = self
            .private_folder
            .join(format!("script-{}.sh", self.scripts_written));
        write_private(&path, script.as_bytes(), 0o700)
            .map_err(|error| Failure::from_io(&format!("writing {label}"), &error))?;
        let result = self.run_file(label, &path, events);
        let _ = fs::remove_file(&path);
        result
    }

    /// Runs a script file (a package's `Deploy.sh`, or one written by [`Self::run_text`]).
    pub fn run_file<W: Write>(
        &mut self,
        label: &str,
        path: &Path,
        events: &mut Events<W>,
    ) -> Result<(), Failure> {
        let bash = if Path::new("/bin/bash").exists() {
            "/bin/bash"
        } else {
            "bash"
        };
        let mut command = Command::new(bash);
        command
            .arg("--noprofile")
            .arg("--norc")
            .arg(path)
            .current_dir(&self.working_directory)
            .env_clear()
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .env("BASH_ENV", &self.prelude)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: when the worker goes away, everything the script
            // started can be stopped at once.
            .process_group(0);
        events.ferry(format!("Running {label}"));
        let mut child = command
            .spawn()
            .map_err(|error| Failure::permanent(format!("starting bash for {label}: {error}")))?;
        let (sender, receiver) = streams::channel();
        if let Some(stdout) = child.stdout.take() {
            streams::spawn_reader(
                stdout,
                HelperStream::Stdout,
                sender.clone(),
                self.read_line_bytes,
            );
        }
        if let Some(stderr) = child.stderr.take() {
            streams::spawn_reader(stderr, HelperStream::Stderr, sender, self.read_line_bytes);
        }
        let ended = streams::pump(&mut child, receiver, events)
            .map_err(|error| Failure::permanent(format!("waiting for {label}: {error}")))?;
        self.send_outputs(events);
        let status = match ended {
            Ended::Abandoned => {
                return Err(Failure::retryable(format!(
                    "{label} was stopped: nobody reads the helper's events any more"
                )));
            }
            Ended::Exited(status) => status,
        };
        match (status.code(), status.signal()) {
            (Some(0), _) => {
                events.ferry(format!("{label} exited with code 0"));
                Ok(())
            }
            (Some(code), _) => Err(Failure {
                reason: format!("{label} exited with code {code}"),
                exit_code: Some(code),
                retryable: false,
            }),
            (None, Some(signal)) => Err(Failure::permanent(format!(
                "{label} was killed by signal {signal}"
            ))),
            (None, None) => Err(Failure::permanent(format!(
                "{label} ended without an exit code"
            ))),
        }
    }

    /// Sends what the script set with `set_octopusvariable`, and empties the file for the next
    /// script.
    fn send_outputs<W: Write>(&self, events: &mut Events<W>) {
        match read_own_file(&self.outputs, &self.private_folder) {
            Ok(Some(contents)) => {
                for (name, value) in read_outputs(&contents) {
                    events.output(name, value);
                }
            }
            Ok(None) => {}
            Err(why) => events.ferry(format!("The script's output variables were ignored: {why}")),
        }
        let _ = fs::remove_file(&self.outputs);
    }
}

/// A file a script wrote, read without trusting it: not through a link, only a plain file
/// owned by whoever owns the private folder, at most [`MAX_OUTPUTS_BYTES`]. `Ok(None)` when
/// it does not exist (no outputs).
fn read_own_file(path: &Path, private_folder: &Path) -> Result<Option<String>, String> {
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(with_path(error, "opening", path).to_string()),
    };
    let metadata = file.metadata().map_err(|error| error.to_string())?;
    let owner = fs::metadata(private_folder)
        .map_err(|error| error.to_string())?
        .uid();
    if !metadata.is_file() || metadata.uid() != owner {
        return Err(format!(
            "{} is not a plain file of this account",
            path.display()
        ));
    }
    if metadata.len() > MAX_OUTPUTS_BYTES {
        return Err(format!("they take more than {MAX_OUTPUTS_BYTES} bytes"));
    }
    let mut contents = String::new();
    file.take(MAX_OUTPUTS_BYTES)
        .read_to_string(&mut contents)
        .map_err(|error| error.to_string())?;
    Ok(Some(contents))
}
