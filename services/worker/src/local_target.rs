//! A `local` target: the worker's own host, for single-box setups. The same helper runs, in
//! the same protocol, as a local process instead of over SSH: as the script user (under the
//! same isolation as a script: `ScriptUser::command`), with a home of the target's own,
//! `<work root>/targets/<target id>` (the script user's, `0700`), where its `~/.ferry`
//! (package cache, installations, locks) lives. The helper program is copied once into
//! `<work root>/helpers/<sha256>` (the worker's, readable), so the script user never needs
//! to reach the worker's own folders.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ferry_contracts::TargetJob;
use ferry_contracts::helper::{HelperRequest, HelperResult};
use tokio::io::AsyncReadExt;

use crate::events::EventSink;
use crate::helper_binary::HelperBinary;
use crate::helper_events::Until;
use crate::{WorkerContext, helper_events, isolation, target_run};

pub(crate) async fn run(
    context: &WorkerContext,
    target: &TargetJob,
    mut request: HelperRequest,
    archive: Option<std::fs::File>,
    helper: &HelperBinary,
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<HelperResult, String> {
    let work_root = context.config.work_root.clone();
    let home = work_root.join("targets").join(target.target_id.to_string());
    let program = {
        let (work_root, home) = (work_root.clone(), home.clone());
        let user = context.script_user.clone();
        let bytes = helper.bytes.clone();
        let sha = helper.sha256.clone();
        tokio::task::spawn_blocking(move || prepare(&work_root, &home, &user, &bytes, &sha))
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| format!("preparing the local target: {error} (retryable)"))?
    };
    let cached = request
        .package
        .as_ref()
        .is_some_and(|package| home.join(".ferry/packages").join(&package.sha256).is_file());
    target_run::mark_cached(&mut request, cached, sink);
    sink.flush().await;
    let input = helper_events::input(&request, archive).await?;
    let mut command = context.script_user.command(&program.display().to_string());
    command
        .arg("run")
        .current_dir(&home)
        .envs(context.config.inherited_environment.iter().cloned())
        .env("HOME", &home)
        .env("USER", context.script_user.name.as_str())
        .env("LOGNAME", context.script_user.name.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = crate::launch::spawn(&mut command).map_err(|error| {
        format!(
            "starting ferry-helper as {}: {error} (retryable)",
            context.script_user.name.as_str()
        )
    })?;
    let (lines, receiver) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("ferry-helper started without its pipes (retryable)".to_owned());
    };
    let mut reader = input.reader;
    let writer = tokio::spawn(async move {
        let copied = tokio::io::copy(&mut reader, &mut stdin).await.unwrap_or(0);
        drop(stdin);
        copied
    });
    let out_lines = lines.clone();
    let out = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read) = stdout.read(&mut buffer).await {
            if read == 0 || out_lines.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    let err = tokio::spawn(async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(read) = stderr.read(&mut buffer).await {
            if read == 0
                || lines
                    .send([b"\x00".as_slice(), &buffer[..read]].concat())
                    .is_err()
            {
                break;
            }
        }
    });
    let running = async move {
        let status = child
            .wait()
            .await
            .map_err(|error| format!("waiting for ferry-helper: {error} (retryable)"))?;
        let _ = out.await;
        let _ = err.await;
        let sent = writer.await.unwrap_or(0);
        let code = status.code().map_or(128, |code| code as u32);
        Ok((code, sent))
    };
    // Stopped or past its deadline, `converse` returns and the child is dropped: killed, and
    // with it its PID namespace, scripts included.
    let package_line = |sent: u64| {
        let package = request.package.as_ref().filter(|package| package.follows)?;
        let bytes = sent.saturating_sub(input.request_bytes);
        Some(helper_events::package_note(package, false, bytes))
    };
    helper_events::converse(running, receiver, &package_line, sink, until).await
}

/// Makes the target's home (the script user's, `0700`, never a link) and puts the helper
/// program where the script user can run it. Returns the program's path.
fn prepare(
    work_root: &Path,
    home: &Path,
    user: &isolation::ScriptUser,
    bytes: &[u8],
    sha256: &str,
) -> std::io::Result<PathBuf> {
    let targets = work_root.join("targets");
    isolation::create_passable(work_root, &targets)?;
    match std::fs::symlink_metadata(home) {
        Ok(found)
            if found.is_dir() && !found.file_type().is_symlink() && found.uid() == user.uid => {}
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is not a folder of {}",
                home.display(),
                user.name
            )));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            isolation::create_step_folder(home)?;
            user.hand_over(home)?;
        }
        Err(error) => return Err(error),
    }
    let helpers = work_root.join("helpers");
    isolation::create_passable(work_root, &helpers)?;
    let program = helpers.join(sha256);
    if !program.is_file() {
        // Two first runs at once each write a copy of their own, renamed into place.
        let partial = helpers.join(format!(".{sha256}.{}", uuid::Uuid::new_v4()));
        let mut file = std::fs::File::create(&partial)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
        // Closed before it is put in place: a file still open for writing cannot be run
        // (`ETXTBSY`) by a run that finds it there.
        drop(file);
        std::fs::rename(&partial, &program)?;
    }
    Ok(program)
}
