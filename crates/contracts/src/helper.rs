//! The protocol between a worker and `ferry-helper`, the one program Ferry runs on a target
//! (over SSH, or as the script user for a `local` target): JSON lines.
//!
//! The worker starts `ferry-helper run <run> <size>` (the run's name for `ferry-helper stop`,
//! and the helper's own size, checked before anything else: [`HELPER_DAMAGED_EXIT`]) and
//! writes one [`HelperRequest`] as a single JSON line on its standard input, followed, when
//! `package.follows` is set, by exactly `package.size_bytes` raw bytes of the package. The
//! helper answers on its standard output with one [`HelperEvent`] per line, the first one
//! [`HelperEvent::Started`] (before it reads the request), the last one
//! [`HelperEvent::Finished`]; nothing else is
//! written to standard output (what scripts print arrives as `Log` events). A helper that ends
//! without `Finished` failed (its standard error says why). Everything in the request is
//! already rendered by the worker: the helper renders only the files it is told to substitute.

use serde::{Deserialize, Serialize};

/// The version of this protocol; a helper refuses a request of another.
pub const HELPER_PROTOCOL: u32 = 1;

/// The helper's exit status when its own file is not the size the worker named
/// (`ferry-helper run <run> <size>`): the copy on the target is damaged, and the worker sends
/// it again. It exits so before it reads or says anything.
pub const HELPER_DAMAGED_EXIT: u8 = 97;

/// One run of a step on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperRequest {
    pub protocol: u32,
    /// For folder names and the log: the deployment's environment, project, step and target.
    pub environment: String,
    pub project: String,
    pub step: String,
    pub target: String,
    /// Held (an exclusive lock on `<home>/.ferry/locks/<lock>.lock`) while the run lasts, so
    /// one step at a time runs on a target across deployments; the target's id.
    pub lock: String,
    /// Every variable of the step on this target, sensitive ones decrypted, in order:
    /// environment variables of the scripts (verbatim and `UPPER_SNAKE`), `get_octopusvariable`
    /// and the files substituted.
    pub variables: Vec<(String, String)>,
    /// Values to mask as `*****` in every line the helper sends.
    #[serde(default)]
    pub masked: Vec<String>,
    /// Unknown variables in substituted files are left as written instead of failing the run.
    #[serde(default)]
    pub lenient_templates: bool,
    pub package: Option<HelperPackage>,
    /// A script to run (already rendered): in the installation folder when there is a package,
    /// else in a fresh folder of its own.
    pub script: Option<String>,
    /// The deploy-a-package conventions, for a deploy step.
    pub deploy: Option<DeployRequest>,
    pub limits: HelperLimits,
}

/// The package a run needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperPackage {
    pub package_id: String,
    pub version: String,
    /// Lowercase hex; the cache file's name, checked on arrival and before each use.
    pub sha256: String,
    pub size_bytes: u64,
    /// `zip` or `tar.gz`.
    pub format: String,
    /// Whether the bytes follow the request line: the run's command found no cached copy
    /// (`[ -f ~/.ferry/packages/<sha256> ]`, said on its first line before the request is
    /// written; for a `local` target the worker looks itself). When they do not
    /// follow and the copy is gone or damaged, the run fails as retryable, and the worker
    /// sends the package on the next attempt. Bytes that arrive short or whose SHA-256
    /// differs are refused (nothing is cached), also as retryable.
    pub follows: bool,
}

/// Bounds on what the helper unpacks and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperLimits {
    pub max_expanded_bytes: u64,
    pub max_entries: u64,
    pub max_ratio: u64,
    /// The most bytes of one line sent back (longer lines are cut, after masking); 0 means
    /// the helper's default, 16 KiB.
    pub max_line_bytes: u64,
}

/// Octopus's package conventions on a target, in Calamari's order: extract, `PreDeploy`,
/// substitute variables in files, structured configuration, `Deploy`, NGINX, `PostDeploy`;
/// `DeployFailed` when one of them fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// Where `<Environment>/<PackageId>/<Version>` folders go; relative to the target's home
    /// when not absolute. Default `.ferry/Applications`.
    pub applications_root: String,
    /// Globs, relative to the installation folder, of files rendered as templates.
    #[serde(default)]
    pub substitute_files: Vec<String>,
    /// Globs of JSON and YAML files whose existing keys are replaced by variables named as
    /// colon-separated paths (`Logging:Level`, `Servers:0:Name`).
    #[serde(default)]
    pub structured_files: Vec<String>,
    /// Scripts given in the step (already rendered); each runs after the package's own script
    /// of that stage (`PreDeploy.sh`, `Deploy.sh`, `PostDeploy.sh`, `DeployFailed.sh` at its
    /// root) when both exist.
    #[serde(default)]
    pub scripts: DeployScripts,
    pub nginx: Option<NginxSite>,
    /// Successful installations kept besides the current one.
    pub keep_previous: u32,
    /// The package cache keeps at most this many packages (the least recently used leave
    /// first), and removes old ones while the file system has less than
    /// `cache_min_free_bytes` free; the package just used always stays.
    pub cache_keep: u32,
    pub cache_min_free_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployScripts {
    pub pre_deploy: Option<String>,
    pub deploy: Option<String>,
    pub post_deploy: Option<String>,
    pub deploy_failed: Option<String>,
}

/// The NGINX site a deploy step writes (Octopus's "Deploy to NGINX" feature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxSite {
    /// The target's NGINX configuration folder (`/etc/nginx/conf.d` unless the target says).
    pub config_folder: String,
    /// Run with `bash -c` (with the helper's inherited environment only) after writing; a
    /// failure puts the previous file back byte for byte, or removes the new one when there
    /// was none, and fails the step with the command's standard error.
    pub validate_command: String,
    /// Run the same way once validated; a failure restores the previous file and runs it
    /// again.
    pub reload_command: String,
    /// The file's name without `.conf`: one per project and environment.
    pub file_name: String,
    pub bindings: Vec<NginxBinding>,
    /// Empty or `*`: no `server_name` line.
    pub server_name: Option<String>,
    /// At least one is a root location (`/` or `= /`).
    pub locations: Vec<NginxLocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxBinding {
    /// Only `http` for now.
    pub protocol: String,
    /// `*` or an address to listen on.
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxLocation {
    /// As NGINX writes it: `/`, `= /`, `@app`, `~ \.php$`.
    pub path: String,
    /// `name value` directives in order; a name may repeat.
    #[serde(default)]
    pub directives: Vec<(String, String)>,
    /// `http://host:port`, `http://unix:/path/to.sock`: a `proxy_pass` with Octopus's default
    /// proxy headers, each added unless a directive of that name is given.
    pub reverse_proxy: Option<String>,
}

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HelperStream {
    Stdout,
    Stderr,
    /// What the helper itself says (extracted to …, found in cache, nginx validated …).
    Ferry,
}

/// One line of the helper's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HelperEvent {
    /// The first line, before the request is read: a helper that ends without sending it
    /// ran nothing (its copy on the target is damaged, say), and may be sent and run again.
    Started,
    Log {
        stream: HelperStream,
        text: String,
    },
    /// A script's `set_octopusvariable name value`, in the order set (a name set twice comes
    /// twice: the last wins). Sent as set, not masked: later steps read the value, and the
    /// worker masks what it stores.
    Output {
        name: String,
        value: String,
    },
    Finished(HelperResult),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperResult {
    pub succeeded: bool,
    /// The exit code of the script that failed, when one did.
    pub exit_code: Option<i32>,
    /// Why the run failed, in a sentence naming what failed (the stage, the entry refused,
    /// nginx's message).
    pub reason: Option<String>,
    /// Whether retrying may succeed (a full disk, a lock held too long), as opposed to a
    /// failure that will repeat (a script's exit code, a template error, a refused archive).
    #[serde(default)]
    pub retryable: bool,
    /// The installation folder of a deploy, once the package was extracted into it (a run
    /// without `deploy` extracts into a work folder removed after, and reports none).
    pub installation_directory: Option<String>,
    /// Package bytes read from standard input (0 when cached).
    pub package_bytes_received: u64,
}
