//! The settings of a `deploy_package` step in a project's body: its package, the files it
//! substitutes and configures, its scripts and its NGINX site, each template checked at save
//! time with its field named.

use ferry_domain::deploy_step::{DeployPackage, DeployScripts, NginxFeature};
use ferry_domain::{PackageId, RoleName, ValidationError};
use serde_json::Value;

/// What a `deploy_package` step's body carries besides the common fields.
pub struct DeployFields {
    pub package_id: Option<String>,
    pub substitute_files: Vec<String>,
    pub structured_files: Vec<String>,
    pub scripts: Option<Value>,
    pub nginx: Option<Value>,
}

/// Reads a deploy step's settings; `check` checks each template as it will be rendered.
pub fn parse_deploy(
    field: &dyn Fn(&str) -> String,
    fields: DeployFields,
    check: &dyn Fn(&str, &str) -> Result<(), ValidationError>,
) -> Result<DeployPackage, ValidationError> {
    let raw = fields.package_id.ok_or_else(|| {
        ValidationError::new(
            field("package_id"),
            "a deploy_package step needs a package_id",
        )
    })?;
    let package_id =
        PackageId::parse(&raw).map_err(|e| ValidationError::new(field("package_id"), e.problem))?;
    let scripts: DeployScripts = match fields.scripts {
        None | Some(Value::Null) => DeployScripts::default(),
        Some(value) => serde_json::from_value(value).map_err(|error| {
            ValidationError::new(
                field("scripts"),
                format!(
                    "{error} (give any of pre_deploy, deploy, post_deploy, deploy_failed as text)"
                ),
            )
        })?,
    };
    for (stage, script) in scripts.all() {
        if let Some(script) = script {
            check(&field(&format!("scripts.{stage}")), script)?;
        }
    }
    let nginx: Option<NginxFeature> = match fields.nginx {
        None | Some(Value::Null) => None,
        Some(value) => Some(serde_json::from_value(value).map_err(|error| {
            ValidationError::new(
                field("nginx"),
                format!("{error} (an NGINX site has bindings [{{protocol, address, port}}], server_name and locations [{{path, directives [{{name, value}}], reverse_proxy}}])"),
            )
        })?),
    };
    if let Some(nginx) = &nginx {
        for (index, binding) in nginx.bindings.iter().enumerate() {
            check(
                &field(&format!("nginx.bindings[{index}].port")),
                &binding.port,
            )?;
            check(
                &field(&format!("nginx.bindings[{index}].address")),
                &binding.address,
            )?;
        }
        if let Some(server_name) = &nginx.server_name {
            check(&field("nginx.server_name"), server_name)?;
        }
        for (index, location) in nginx.locations.iter().enumerate() {
            let at = field(&format!("nginx.locations[{index}]"));
            check(&format!("{at}.path"), &location.path)?;
            if let Some(proxy) = &location.reverse_proxy {
                check(&format!("{at}.reverse_proxy"), proxy)?;
            }
            for (number, directive) in location.directives.iter().enumerate() {
                check(
                    &format!("{at}.directives[{number}].value"),
                    &directive.value,
                )?;
            }
        }
    }
    Ok(DeployPackage {
        package_id,
        substitute_files: fields.substitute_files,
        structured_files: fields.structured_files,
        scripts,
        nginx,
    })
}

/// A step's target roles, each checked, each once.
pub fn parse_roles(
    field: &dyn Fn(&str) -> String,
    raw: &[String],
) -> Result<Vec<RoleName>, ValidationError> {
    let mut roles: Vec<RoleName> = Vec::new();
    for (number, role) in raw.iter().enumerate() {
        let role = RoleName::parse(role).map_err(|e| {
            ValidationError::new(field(&format!("target_roles[{number}]")), e.problem)
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}
