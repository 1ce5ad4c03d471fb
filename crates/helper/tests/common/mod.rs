//! The harness of the helper's tests: a target's home in a temporary folder, packages built
//! with the `tar` crate, requests, and the real `ferry-helper` binary run on them.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ferry_contracts::helper::{
    DeployRequest, DeployScripts, HELPER_PROTOCOL, HelperEvent, HelperLimits, HelperPackage,
    HelperRequest, HelperResult, HelperStream,
};
use sha2::{Digest, Sha256};

/// A target: a home folder of its own (readable by others, as a home is, so a private nginx
/// running as another user can serve what is installed).
pub struct Target {
    pub home: tempfile::TempDir,
}

impl Target {
    pub fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Target { home }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.home.path().join(relative)
    }

    /// The package's installations in `Test`: `<home>/.ferry/Applications/Test/<id>`.
    pub fn package_folder(&self, package_id: &str) -> PathBuf {
        self.path(&format!(".ferry/Applications/Test/{package_id}"))
    }

    /// Starts the helper with the request on its standard input, then `bytes`.
    pub fn spawn(&self, request: &HelperRequest, bytes: Option<&[u8]>) -> Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-helper"))
            .arg("run")
            .env_clear()
            .env("HOME", self.home.path())
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            // Not one of the variables a script inherits: scripts must not see it.
            .env("FERRY_TEST_LEAK", "leaked")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut line = serde_json::to_vec(request).unwrap();
        line.push(b'\n');
        let bytes = bytes.map(<[u8]>::to_vec);
        std::thread::spawn(move || {
            let _ = stdin.write_all(&line);
            if let Some(bytes) = bytes {
                let _ = stdin.write_all(&bytes);
            }
        });
        child
    }

    pub fn run(&self, request: &HelperRequest, bytes: Option<&[u8]>) -> Run {
        Run::finish(self.spawn(request, bytes))
    }
}

/// What a run sent back.
#[derive(Debug)]
pub struct Run {
    pub events: Vec<HelperEvent>,
    pub result: HelperResult,
    pub stderr: String,
}

impl Run {
    pub fn finish(child: Child) -> Run {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let events: Vec<HelperEvent> = stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("not an event ({error}): {line}\n{stderr}"))
            })
            .collect();
        assert!(
            output.status.success(),
            "the helper exited with {}: {stderr}",
            output.status
        );
        let Some(HelperEvent::Finished(result)) = events.last().cloned() else {
            panic!("the last event is not Finished: {events:?}\n{stderr}");
        };
        Run {
            events,
            result,
            stderr,
        }
    }

    /// Every log line, one per line, as `<stream>: <text>`.
    pub fn log(&self) -> String {
        self.events
            .iter()
            .filter_map(|event| match event {
                HelperEvent::Log { stream, text } => {
                    let stream = match stream {
                        HelperStream::Stdout => "stdout",
                        HelperStream::Stderr => "stderr",
                        HelperStream::Ferry => "ferry",
                    };
                    Some(format!("{stream}: {text}\n"))
                }
                _ => None,
            })
            .collect()
    }

    pub fn outputs(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                HelperEvent::Output { name, value } => Some((name.clone(), value.clone())),
                _ => None,
            })
            .collect()
    }

    /// Panics with the log unless the run succeeded.
    pub fn assert_succeeded(&self) -> &Self {
        assert!(
            self.result.succeeded,
            "the run failed: {:?}\n{}",
            self.result.reason,
            self.log()
        );
        self
    }

    pub fn reason(&self) -> &str {
        self.result.reason.as_deref().unwrap_or("")
    }
}

/// A tar.gz of `(path, contents, mode)` files.
pub fn tar_gz(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_path(path).unwrap();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(*mode);
        header.set_size(contents.len() as u64);
        header.set_cksum();
        builder.append(&header, contents.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The package as a request describes it, its bytes following.
pub fn described(package_id: &str, version: &str, bytes: &[u8], format: &str) -> HelperPackage {
    HelperPackage {
        package_id: package_id.into(),
        version: version.into(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size_bytes: bytes.len() as u64,
        format: format.into(),
        follows: true,
    }
}

pub fn limits() -> HelperLimits {
    HelperLimits {
        max_expanded_bytes: 64 * 1024 * 1024,
        max_entries: 10_000,
        max_ratio: 200,
        max_line_bytes: 16 * 1024,
    }
}

/// A run of a script without a package.
pub fn script_request(lock: &str, script: &str) -> HelperRequest {
    HelperRequest {
        protocol: HELPER_PROTOCOL,
        environment: "Test".into(),
        project: "Shop".into(),
        step: "Run".into(),
        target: lock.into(),
        lock: lock.into(),
        variables: vec![("Greeting".into(), "hello".into())],
        masked: Vec::new(),
        lenient_templates: false,
        package: None,
        script: Some(script.into()),
        deploy: None,
        limits: limits(),
    }
}

/// A deploy of `package` to the environment `Test`, keeping 3 previous installations.
pub fn deploy_request(package: HelperPackage) -> HelperRequest {
    HelperRequest {
        step: "Deploy".into(),
        package: Some(package),
        script: None,
        deploy: Some(DeployRequest {
            applications_root: ".ferry/Applications".into(),
            substitute_files: Vec::new(),
            structured_files: Vec::new(),
            scripts: DeployScripts::default(),
            nginx: None,
            keep_previous: 3,
            cache_keep: 10,
            cache_min_free_bytes: 0,
        }),
        ..script_request("web-1", "true")
    }
}

pub fn deploy_of(request: &mut HelperRequest) -> &mut DeployRequest {
    request.deploy.as_mut().unwrap()
}

/// The folder `current` points at (its name).
pub fn current_of(package_folder: &Path) -> String {
    std::fs::read_link(package_folder.join("current"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The folder names in a package folder, sorted, without hidden ones.
pub fn installations(package_folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(package_folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The same package, announced as already in the target's cache (no bytes follow).
pub fn cached(mut package: HelperPackage) -> HelperPackage {
    package.follows = false;
    package
}
