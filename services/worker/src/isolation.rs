//! Keeping a step's script away from the worker: scripts run as their own unprivileged user
//! (`FERRY_SCRIPT_USER`), in a step folder that user owns, under a work root they may pass
//! through but not list.
//!
//! What this holds (ARCHITECTURE.md, "Threat model"): the worker's environment, memory and
//! files belong to another user, so `/proc/<worker>/environ`, `/proc/<worker>/mem`, `ps e`,
//! the package cache and the worker's configuration file are closed to a script; the script
//! cannot gain privileges (`no_new_privs`: set-user-ID programs such as `sudo` do not raise
//! it); the kernel kills it when the worker dies. Scripts of one worker share the script
//! user, so they are one trust domain: steps that must not see each other run on different
//! workers (different pools).
//!
//! The worker itself needs to switch users and to manage files it hands over: it runs as
//! root or with `CAP_SETUID`, `CAP_SETGID`, `CAP_SETPCAP` (to empty the script's bounding
//! set), `CAP_CHOWN`, `CAP_FOWNER`, `CAP_DAC_OVERRIDE` and `CAP_KILL`. [`ScriptUser::check`] proves at start-up that this works.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, anyhow, bail};

/// `getent` (libc-bin, Essential): looks the user up through NSS like every other tool.
const GETENT: &str = "/usr/bin/getent";

/// The account scripts run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The account's home folder (from the user database). Scripts get a `HOME` of their own;
    /// this one must not be theirs to write ([`ScriptUser::check`]).
    pub home: String,
    /// The program that starts programs as this user (`ferry-helper launch`, `launch.rs`).
    pub launcher: std::path::PathBuf,
}

impl ScriptUser {
    /// The account named `name`, from the system's user database.
    pub fn lookup(name: &str) -> anyhow::Result<ScriptUser> {
        let output = std::process::Command::new(GETENT)
            .args(["passwd", "--", name])
            .env_clear()
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("running {GETENT} to look up the script user"))?;
        if !output.status.success() {
            bail!(
                "the script user `{name}` (FERRY_SCRIPT_USER) does not exist; create it with \
                 `useradd --system --create-home --shell /usr/sbin/nologin {name}` \
                 (infra/dev does this for the dev stack)"
            );
        }
        let line = String::from_utf8_lossy(&output.stdout);
        parse_passwd_line(line.trim_end())
            .ok_or_else(|| anyhow!("`getent passwd {name}` printed an entry that does not parse"))
    }

    /// This user, with programs started by `launcher` (`ferry-helper`; see
    /// [`trusted_launcher`]).
    pub fn launched_by(self, launcher: std::path::PathBuf) -> ScriptUser {
        ScriptUser { launcher, ..self }
    }

    /// Start-up checks: the script user is neither root nor the worker's own user, the worker
    /// can switch to it, and it can reach the step folders under `deployments`.
    pub async fn check(&self, deployments: &Path) -> anyhow::Result<()> {
        if self.uid == 0 {
            bail!(
                "the script user `{}` is root; scripts must run as an unprivileged user",
                self.name
            );
        }
        self.check_home()?;
        let worker_uid = std::fs::metadata("/proc/self")
            .map(|metadata| std::os::unix::fs::MetadataExt::uid(&metadata))
            .context("reading the worker's own user id")?;
        if worker_uid == self.uid {
            bail!(
                "the script user `{}` is the worker's own user: a script could read the worker's \
                 environment and files (its broker and store credentials, the variables key); \
                 run the worker as another user",
                self.name
            );
        }
        let mut test = self.command("/usr/bin/test");
        test.arg("-x")
            .arg(deployments)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        crate::launch::seal_environment(&mut test);
        let switched = test
            .output()
            .await
            .context("starting a program as the script user")?;
        if !switched.status.success() {
            let detail = String::from_utf8_lossy(&switched.stderr);
            bail!(
                "cannot run scripts as `{}` in {}: {}; the worker needs root or CAP_SETUID, \
                 CAP_SETGID, CAP_SETPCAP, CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_KILL and \
                 CAP_SYS_ADMIN (for the script's PID namespace), and every folder above the work \
                 root must be searchable by other users",
                self.name,
                deployments.display(),
                if detail.trim().is_empty() {
                    "the script user cannot reach it"
                } else {
                    detail.trim()
                },
            );
        }
        Ok(())
    }

    /// The account's own home folder must not be the script user's to write: scripts get a
    /// fresh `HOME` each, but programs such as `ssh` read the account's folder whatever `HOME`
    /// says, so a file one script left there (`~/.ssh/config` with a `ProxyCommand`) would run
    /// in later steps of other projects.
    fn check_home(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let home = Path::new(&self.home);
        let Ok(found) = std::fs::metadata(home) else {
            return Ok(()); // No folder (`/nonexistent`): nothing to leave files in.
        };
        if found.uid() == self.uid || found.mode() & 0o022 != 0 {
            bail!(
                "the script user `{name}` can write its home folder {home}: a script could leave \
                 files there (~/.ssh/config, ~/.bashrc) that run in later steps of other \
                 projects; give it to root (`chown -R root:root {home}; chmod 755 {home}`, as \
                 `infra/dev up` does) or give the account a home it cannot write",
                name = self.name,
                home = home.display(),
            );
        }
        Ok(())
    }

    /// `program` run as this user: no supplementary groups, no capabilities in any set (a
    /// worker that runs as non-root with ambient capabilities would otherwise hand them on),
    /// no way to gain privileges. The environment is the caller's to fill.
    ///
    /// It runs as PID 1 of a PID namespace of its own, so nothing it starts outlives it: when
    /// PID 1 of a namespace dies, the kernel kills every process in it, however it was
    /// started (in the background, `setsid`, `nohup`, double-forked). Its keeper (the
    /// namespace's parent) dies with the worker, and it dies with its keeper, so a killed
    /// worker, a stopped step and a timed-out step leave nothing running (`launch.rs`).
    pub fn command(&self, program: &str) -> tokio::process::Command {
        crate::launch::command(
            &self.launcher,
            crate::launch::Ids {
                uid: self.uid,
                gid: self.gid,
            },
            program,
        )
    }

    /// Gives everything in `folder`, then `folder` itself, to this user (symbolic links are
    /// changed, never followed), and closes the folder to everyone else. `folder` must be
    /// the worker's own and closed (see [`create_step_folder`]) until then: while it is, no
    /// other user can reach what is inside, so nothing can be swapped under the walk.
    pub fn hand_over(&self, folder: &Path) -> std::io::Result<()> {
        self.change_owner(folder)?;
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
    }

    /// Changes the owner of what is below `path` first, then of `path`.
    fn change_owner(&self, path: &Path) -> std::io::Result<()> {
        if std::fs::symlink_metadata(path)?.is_dir() {
            for entry in std::fs::read_dir(path)? {
                self.change_owner(&entry?.path())?;
            }
        }
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
    }
}

/// The launcher (`ferry-helper`, run as root) as the path to start it by: with no symbolic
/// link left and no folder on the way that anyone but root or the worker's user may change
/// (a sticky shared folder such as `/tmp` excepted), so nobody can swap the program the
/// worker runs as root.
pub fn trusted_launcher(path: &Path) -> anyhow::Result<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let worker_uid = std::fs::metadata("/proc/self")
        .map(|metadata| metadata.uid())
        .context("reading the worker's own user id")?;
    let launcher = std::fs::canonicalize(path).with_context(|| {
        format!(
            "the launcher {} (FERRY_HELPER_PATH: `ferry-helper`, by default beside the worker) \
             is missing",
            path.display()
        )
    })?;
    for ancestor in launcher.ancestors() {
        let found = std::fs::metadata(ancestor)
            .with_context(|| format!("reading {}", ancestor.display()))?;
        let owner_ok = found.uid() == 0 || found.uid() == worker_uid;
        let shared_sticky = found.is_dir() && found.mode() & 0o1000 != 0;
        if !owner_ok || (found.mode() & 0o022 != 0 && !shared_sticky) {
            bail!(
                "the launcher {} runs as root, but {} can be changed by other users; install \
                 `ferry-helper` where only root (or the worker's user) may write",
                launcher.display(),
                ancestor.display()
            );
        }
    }
    Ok(launcher)
}

/// Creates a step folder that only the worker's user can enter (`0700`, the worker's own),
/// so that nothing is written into it or swapped inside it before [`ScriptUser::hand_over`].
pub fn create_step_folder(folder: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(folder)?;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
}

/// Prepares the work root at start-up: it becomes `0711` (passable, not listable) when it is
/// the worker's own and not a shared (sticky) folder such as `/tmp`, which keeps its mode;
/// [`ScriptUser::check`] proves the script user can pass every folder above.
pub fn prepare_work_root(work_root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(work_root)?;
    let root = std::fs::metadata(work_root)?;
    let own = std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == root.uid());
    let shared = root.mode() & 0o1000 != 0;
    if own && !shared {
        std::fs::set_permissions(work_root, std::fs::Permissions::from_mode(0o711))?;
    }
    Ok(())
}

/// Makes `folder` (and the folders above it, below `work_root`) passable but not listable by
/// other users, and creates it when missing: the script user reaches its own step folder
/// through them, and sees nothing else. The work root itself is prepared once, at start-up
/// ([`prepare_work_root`]).
pub fn create_passable(work_root: &Path, folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    for ancestor in folder.ancestors() {
        if ancestor == work_root || !ancestor.starts_with(work_root) {
            break;
        }
        std::fs::set_permissions(ancestor, std::fs::Permissions::from_mode(0o711))?;
    }
    Ok(())
}

/// Creates `folder` readable by the worker alone (the package cache).
pub fn create_private(folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
}

/// `name:password:uid:gid:gecos:home:shell`.
fn parse_passwd_line(line: &str) -> Option<ScriptUser> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _, uid, gid, _, home, _] = fields.as_slice() else {
        return None;
    };
    Some(ScriptUser {
        name: (*name).to_owned(),
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        home: (*home).to_owned(),
        launcher: std::path::PathBuf::from("ferry-helper"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passwd_entry_gives_the_ids_and_home() {
        assert_eq!(
            parse_passwd_line("ferry-script:x:998:997::/home/ferry-script:/usr/sbin/nologin"),
            Some(ScriptUser {
                name: "ferry-script".into(),
                uid: 998,
                gid: 997,
                home: "/home/ferry-script".into(),
                launcher: "ferry-helper".into(),
            })
        );
        assert_eq!(parse_passwd_line("ferry-script:x:998"), None);
        assert_eq!(parse_passwd_line("a:x:-1:0::/:/bin/sh"), None);
    }

    #[test]
    fn a_launcher_others_may_change_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let launcher = folder.path().join("ferry-helper");
        std::fs::write(&launcher, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = folder.path().join("link");
        std::os::unix::fs::symlink(&launcher, &link).unwrap();
        assert_eq!(
            trusted_launcher(&link).unwrap(),
            launcher.canonicalize().unwrap(),
            "the path run is the file itself, not a link that could be pointed elsewhere"
        );
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o775)).unwrap();
        let error = trusted_launcher(&launcher).unwrap_err().to_string();
        assert!(error.contains("can be changed by other users"), "{error}");
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = trusted_launcher(&launcher).unwrap_err().to_string();
        assert!(
            error.contains(&folder.path().display().to_string()),
            "{error}"
        );
        assert!(trusted_launcher(&folder.path().join("missing")).is_err());
    }

    #[test]
    fn a_missing_user_says_how_to_create_it() {
        let error = ScriptUser::lookup("ferry-no-such-user").unwrap_err();
        assert!(error.to_string().contains("useradd --system"), "{error:#}");
    }
}
