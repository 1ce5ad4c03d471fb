//! The helper's request for one target's run: the step's settings rendered with the
//! variables of that target (`#{Nginx Port}`, the stage scripts), the target's conventions
//! with their defaults, and the names the helper makes folders and files from.

use ferry_contracts::helper::{
    DeployRequest, DeployScripts, HELPER_PROTOCOL, HelperPackage, HelperRequest, NginxBinding,
    NginxLocation, NginxSite,
};
use ferry_contracts::{StepJob, TargetJob};
use ferry_domain::deploy_step::DeployPackage;

use crate::variables::StepVariables;

/// Where applications go on a target that does not say.
const APPLICATIONS_ROOT: &str = ".ferry/Applications";
/// Successful installations kept besides the current one, and packages kept in a target's
/// cache (and the free space below which old ones go: 20 % of a 10 GiB disk).
const KEEP_PREVIOUS: u32 = 3;
const CACHE_KEEP: u32 = 5;
const CACHE_MIN_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Builds the request; an error names the setting that could not be rendered.
pub(crate) fn request(
    job: &StepJob,
    target: &TargetJob,
    variables: &StepVariables,
    limits: ferry_templates::Limits,
    unpack: ferry_packages::UnpackLimits,
) -> Result<HelperRequest, String> {
    let lenient = job.lenient_templates;
    let renderer = variables.renderer(lenient, limits);
    let render = |what: &str, template: &str| renderer.render(what, template);
    let script = if job.script.trim().is_empty() {
        None
    } else {
        Some(render("the script (script.sh)", &job.script)?)
    };
    let deploy = match &job.deploy {
        Some(deploy) => Some(deploy_request(job, target, deploy, &render)?),
        None => None,
    };
    Ok(HelperRequest {
        protocol: HELPER_PROTOCOL,
        environment: job
            .environment_name
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        project: job
            .project_name
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        step: job.step_name.to_string(),
        target: target.name.to_string(),
        lock: target.target_id.to_string(),
        variables: variables
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        masked: variables.secrets().to_vec(),
        lenient_templates: lenient,
        package: job.package.as_ref().map(|package| HelperPackage {
            package_id: package.package_id.to_string(),
            version: package.version.to_string(),
            sha256: package.sha256.clone(),
            size_bytes: package.size_bytes,
            format: package.format.clone(),
            follows: true,
        }),
        script,
        deploy,
        limits: crate::target_run::limits(unpack),
    })
}

fn deploy_request(
    job: &StepJob,
    target: &TargetJob,
    deploy: &DeployPackage,
    render: &dyn Fn(&str, &str) -> Result<String, String>,
) -> Result<DeployRequest, String> {
    let stage = |name: &str, script: Option<&String>| {
        script
            .map(|script| render(&format!("the step's {name} script"), script))
            .transpose()
    };
    let scripts = DeployScripts {
        pre_deploy: stage("pre_deploy", deploy.scripts.pre_deploy.as_ref())?,
        deploy: stage("deploy", deploy.scripts.deploy.as_ref())?,
        post_deploy: stage("post_deploy", deploy.scripts.post_deploy.as_ref())?,
        deploy_failed: stage("deploy_failed", deploy.scripts.deploy_failed.as_ref())?,
    };
    let nginx = match &deploy.nginx {
        None => None,
        Some(site) => {
            let mut bindings = Vec::new();
            for (index, binding) in site.bindings.iter().enumerate() {
                let port = render(&format!("nginx binding {index}'s port"), &binding.port)?;
                let port: u16 = port.trim().parse().map_err(|_| {
                    format!("nginx binding {index}'s port rendered to `{port}`, not a port number")
                })?;
                bindings.push(NginxBinding {
                    protocol: binding.protocol.clone(),
                    address: render(
                        &format!("nginx binding {index}'s address"),
                        &binding.address,
                    )?,
                    port,
                });
            }
            let mut locations = Vec::new();
            for (index, location) in site.locations.iter().enumerate() {
                let at = format!("nginx location {index}");
                let mut directives = Vec::new();
                for directive in &location.directives {
                    let value = render(&format!("{at}'s {}", directive.name), &directive.value)?;
                    directives.push((directive.name.clone(), value));
                }
                locations.push(NginxLocation {
                    path: render(&format!("{at}'s path"), &location.path)?,
                    directives,
                    reverse_proxy: location
                        .reverse_proxy
                        .as_ref()
                        .map(|proxy| render(&format!("{at}'s reverse proxy"), proxy))
                        .transpose()?,
                });
            }
            Some(NginxSite {
                config_folder: target
                    .nginx_config_folder
                    .clone()
                    .unwrap_or_else(|| "/etc/nginx/conf.d".to_owned()),
                validate_command: target
                    .nginx_validate_command
                    .clone()
                    .unwrap_or_else(|| "nginx -t".to_owned()),
                reload_command: target
                    .nginx_reload_command
                    .clone()
                    .unwrap_or_else(|| "nginx -s reload".to_owned()),
                file_name: site_file_name(job),
                bindings,
                server_name: site
                    .server_name
                    .as_ref()
                    .map(|name| render("the nginx server name", name))
                    .transpose()?,
                locations,
            })
        }
    };
    Ok(DeployRequest {
        applications_root: target
            .applications_root
            .clone()
            .unwrap_or_else(|| APPLICATIONS_ROOT.to_owned()),
        substitute_files: deploy.substitute_files.clone(),
        structured_files: deploy.structured_files.clone(),
        scripts,
        nginx,
        keep_previous: KEEP_PREVIOUS,
        cache_keep: CACHE_KEEP,
        cache_min_free_bytes: CACHE_MIN_FREE_BYTES,
    })
}

/// One site file per project, environment and step (Octopus named it after the package,
/// and environments sharing a package overwrote each other: its issue #6215): a readable
/// part, then a hash of the three names, so names that read alike (`shop-api` in `prod`,
/// `shop` in `api-prod`) never share a file.
fn site_file_name(job: &StepJob) -> String {
    let text = |name: Option<String>| name.unwrap_or_default();
    site_name(
        &text(job.project_name.as_ref().map(ToString::to_string)),
        &text(job.environment_name.as_ref().map(ToString::to_string)),
        job.step_name.as_str(),
    )
}

fn site_name(project: &str, environment: &str, step: &str) -> String {
    use sha2::{Digest, Sha256};
    let names = format!("{project}\0{environment}\0{step}");
    let hash = hex::encode(&Sha256::digest(names.as_bytes())[..4]);
    let readable: String = format!("ferry-{project}-{environment}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{readable}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::site_name;

    #[test]
    fn site_files_of_names_that_read_alike_differ() {
        let a = site_name("shop-api", "prod", "Deploy");
        let b = site_name("shop", "api-prod", "Deploy");
        assert!(a.starts_with("ferry-shop-api-prod-") && b.starts_with("ferry-shop-api-prod-"));
        assert_ne!(a, b);
        assert_ne!(
            site_name("My App", "Dev", "Deploy"),
            site_name("my-app", "Dev", "Deploy")
        );
        assert_ne!(
            site_name("App", "Dev", "Web"),
            site_name("App", "Dev", "Admin")
        );
        assert_eq!(
            a,
            site_name("shop-api", "prod", "Deploy"),
            "the same names, the same file"
        );
    }
}
