//! Preparing a step before its script runs: its variables decrypted, its folder made, its
//! package fetched and extracted, its script rendered (within the template budget, off the
//! async executor's threads). Everything here counts against the step's timeout.

use ferry_contracts::StepJob;

use crate::events::EventSink;
use crate::{WorkerContext, isolation, package, variables};

/// A step ready to run.
pub(crate) struct Prepared {
    pub variables: variables::StepVariables,
    pub step_folder: std::path::PathBuf,
    pub working_directory: std::path::PathBuf,
    /// The script after template rendering.
    pub script: String,
}

/// Decrypts the variables, makes the step folder, fetches and extracts the package, and
/// renders the script. An error is the reason the step fails.
pub(crate) async fn prepare(
    context: &WorkerContext,
    job: &StepJob,
    sink: &mut EventSink<'_>,
) -> Result<Prepared, String> {
    let mut variables = variables::StepVariables::prepare(
        job,
        &context.config.variables_key,
        &context.config.worker_name,
    )?;
    sink.set_masker(variables.masker.clone());
    let deployment_folder = context
        .config
        .work_root
        .join("deployments")
        .join(job.deployment_id.to_string());
    let step_folder =
        deployment_folder.join(format!("{:03}-attempt-{}", job.step_index, job.attempt));
    // A folder left by an earlier run of this attempt (a worker that died) is not reused:
    // its last owner was a script.
    isolation::create_passable(&context.config.work_root, &deployment_folder)
        .and_then(|()| match std::fs::remove_dir_all(&step_folder) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => isolation::create_step_folder(&step_folder),
        })
        .map_err(|error| format!("creating the step folder: {error}"))?;
    let working_directory = match &job.package {
        None => step_folder.clone(),
        Some(package) => package::fetch_and_extract(
            &context.store,
            &context.config.work_root,
            package,
            &step_folder,
            &context.config.unpack_limits,
            context.config.package_cache_max_bytes,
            sink,
        )
        .await
        .map_err(|error| error.to_string())?,
    };
    if job.package.is_some() {
        let path = working_directory.to_string_lossy().into_owned();
        variables.add_system("Action.Package.InstallationDirectoryPath", &path);
        variables.add_system(
            &format!(
                "Action[{}].Output.Package.InstallationDirectoryPath",
                job.step_name
            ),
            &path,
        );
        sink.add_outputs(
            [("Package.InstallationDirectoryPath".to_owned(), path)]
                .into_iter()
                .collect(),
        );
    }
    // Rendering may take up to the template budget, so it runs on a blocking thread. Not
    // with `block_in_place`: that turns the task's own thread into a blocking one, which tokio
    // retires when idle, and the script spawned from it next would then be killed by its
    // parent-death signal (which follows the spawning *thread*).
    let limits = context.config.template_limits;
    let owned_job = job.clone();
    let (variables, script) = tokio::task::spawn_blocking(move || {
        let mut variables = variables;
        variables.expand_values(limits);
        let script = variables.render_script(&owned_job, limits);
        (variables, script)
    })
    .await
    .map_err(|error| format!("rendering the script: {error}"))?;
    sink.set_masker(variables.masker.clone());
    Ok(Prepared {
        script: script?,
        variables,
        step_folder,
        working_directory,
    })
}
