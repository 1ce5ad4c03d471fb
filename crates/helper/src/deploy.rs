//! A deploy step on a target, in Calamari's order: extract the package into a new
//! installation folder, `PreDeploy`, substitute variables in files, structured configuration,
//! `Deploy`, NGINX, `PostDeploy`; then `current` switched to it, old installations and
//! cached packages cleaned. When a stage fails, `DeployFailed` runs and `current` stays.

use std::fs;
use std::io::Write;
use std::path::Path;

use ferry_contracts::helper::DeployRequest;
use ferry_packages::ArchiveFormat;

use crate::cache::{self, CachedPackage};
use crate::failure::Failure;
use crate::install;
use crate::protocol::Events;
use crate::retention;
use crate::run::{Outcome, RunContext, extract, with_installation_directory};
use crate::scripts::ScriptContext;
use crate::substitute::{Substitution, substitute_files};

/// The package's own script of each stage, at its root, and how the step's script of that
/// stage is named in the log.
const PRE_DEPLOY: (&str, &str) = ("PreDeploy.sh", "the step's pre-deploy script");
const DEPLOY: (&str, &str) = ("Deploy.sh", "the step's deploy script");
const POST_DEPLOY: (&str, &str) = ("PostDeploy.sh", "the step's post-deploy script");
const DEPLOY_FAILED: (&str, &str) = ("DeployFailed.sh", "the step's deploy-failed script");

pub struct DeployRun<'a> {
    pub context: &'a RunContext<'a>,
    pub deploy: &'a DeployRequest,
    pub package: CachedPackage,
    pub format: ArchiveFormat,
}

pub fn run<W: Write>(
    run: DeployRun<'_>,
    outcome: &mut Outcome,
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let DeployRun {
        context,
        deploy,
        package,
        format,
    } = run;
    let request = context.request;
    let Some(described) = request.package.as_ref() else {
        return Err(Failure::permanent("a deploy step needs a package"));
    };
    let package_folder = install::package_folder(
        &context.home.home,
        &deploy.applications_root,
        &request.environment,
        &described.package_id,
    )?;
    let _folder_lock = install::lock_package_folder(&package_folder)?;
    let installation = install::new_installation(&package_folder, &described.version)?;
    let cache_path = package.path.clone();
    if let Err(failure) = extract(package.file, format, &installation, request, events) {
        let _ = fs::remove_dir_all(&installation);
        let variables = with_installation_directory(&request.variables, &package_folder);
        if let Some(script) = deploy.scripts.deploy_failed.as_deref()
            && let Ok(mut scripts) = context.scripts(&package_folder, &variables, Some(&failure))
            && let Err(also) = scripts.run_text(DEPLOY_FAILED.1, script, events)
        {
            events.ferry(format!("{} failed too: {also}", DEPLOY_FAILED.1));
        }
        return Err(failure);
    }
    outcome.installation_directory = Some(installation.to_string_lossy().into_owned());
    let variables = with_installation_directory(&request.variables, &installation);
    let stages = run_stages(context, deploy, &installation, &variables, events);
    if let Err(failure) = stages.and_then(|()| crate::stop::check()).and_then(|()| {
        install::switch_current(&package_folder, &installation).map_err(|error| {
            Failure::from_io("switching `current` to the new installation", &error)
        })
    }) {
        deploy_failed(context, deploy, &installation, &variables, &failure, events);
        return Err(failure);
    }
    let name = installation
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    events.ferry(format!(
        "{} now points at {name}",
        package_folder.join(install::CURRENT).display()
    ));
    let retained = retention::record_and_clean(&package_folder, &name, deploy.keep_previous);
    if !retained.removed.is_empty() {
        events.ferry(format!(
            "Retention: kept {}; removed {}",
            retained.kept.join(", "),
            retained.removed.join(", ")
        ));
    }
    for problem in retained.problems {
        events.ferry(format!("Retention: {problem}"));
    }
    let cleaned = cache::clean(
        &context.home.packages,
        deploy.cache_keep,
        deploy.cache_min_free_bytes,
        &cache_path,
    );
    if !cleaned.removed.is_empty() {
        events.ferry(format!(
            "Package cache: removed {}",
            cleaned.removed.join(", ")
        ));
    }
    for problem in cleaned.problems {
        events.ferry(format!("Package cache: {problem}"));
    }
    Ok(())
}

fn run_stages<W: Write>(
    context: &RunContext<'_>,
    deploy: &DeployRequest,
    installation: &Path,
    variables: &[(String, String)],
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let request = context.request;
    let mut scripts = context.scripts(installation, variables, None)?;
    crate::stop::check()?;
    run_stage(
        &mut scripts,
        installation,
        PRE_DEPLOY,
        deploy.scripts.pre_deploy.as_deref(),
        events,
    )?;
    crate::stop::check()?;
    if !deploy.substitute_files.is_empty() {
        let lookup: ferry_templates::Variables = variables.iter().cloned().collect();
        substitute_files(
            &Substitution {
                installation_directory: installation,
                patterns: &deploy.substitute_files,
                variables: &lookup,
                lenient: request.lenient_templates,
            },
            events,
        )?;
    }
    crate::stop::check()?;
    if !deploy.structured_files.is_empty() {
        crate::structured::apply(installation, &deploy.structured_files, variables, events)?;
    }
    crate::stop::check()?;
    run_stage(
        &mut scripts,
        installation,
        DEPLOY,
        deploy.scripts.deploy.as_deref(),
        events,
    )?;
    crate::stop::check()?;
    if let Some(site) = &deploy.nginx {
        crate::nginx::apply(site, &context.config.inherited_environment, events)?;
    }
    crate::stop::check()?;
    run_stage(
        &mut scripts,
        installation,
        POST_DEPLOY,
        deploy.scripts.post_deploy.as_deref(),
        events,
    )
}

/// The package's script of a stage (when the package has it), then the step's.
fn run_stage<W: Write>(
    scripts: &mut ScriptContext,
    installation: &Path,
    (file_name, step_label): (&str, &str),
    step_script: Option<&str>,
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let package_script = installation.join(file_name);
    if package_script.is_file() {
        scripts.run_file(file_name, &package_script, events)?;
    }
    crate::stop::check()?;
    if let Some(script) = step_script {
        scripts.run_text(step_label, script, events)?;
    }
    Ok(())
}

/// `DeployFailed.sh` and the step's deploy-failed script, with `Octopus.Deployment.Error`
/// set; their own failure is logged and does not replace the first one.
fn deploy_failed<W: Write>(
    context: &RunContext<'_>,
    deploy: &DeployRequest,
    installation: &Path,
    variables: &[(String, String)],
    failure: &Failure,
    events: &mut Events<W>,
) {
    // A stopped run does no more, not even its clean-up scripts.
    if crate::stop::requested() {
        return;
    }
    let mut scripts = match context.scripts(installation, variables, Some(failure)) {
        Ok(scripts) => scripts,
        Err(also) => {
            events.ferry(format!("DeployFailed could not run: {also}"));
            return;
        }
    };
    let package_script = installation.join(DEPLOY_FAILED.0);
    if package_script.is_file()
        && let Err(also) = scripts.run_file(DEPLOY_FAILED.0, &package_script, events)
    {
        events.ferry(format!("{} failed too: {also}", DEPLOY_FAILED.0));
    }
    if let Some(script) = deploy.scripts.deploy_failed.as_deref()
        && let Err(also) = scripts.run_text(DEPLOY_FAILED.1, script, events)
    {
        events.ferry(format!("{} failed too: {also}", DEPLOY_FAILED.1));
    }
}
