//! The settings of a *deploy a package* step (Octopus's "Deploy a Package" with its features):
//! which files get variables substituted, which get structured configuration, the scripts of
//! each stage, and the NGINX site. Text fields are templates the worker renders for each
//! target (`#{Nginx Port}`); the helper on the target carries the conventions out.

use serde::{Deserialize, Serialize};

use crate::names::{PackageId, ValidationError};

/// The most globs a step may list per feature, and the most locations, bindings and
/// directives of its NGINX site: the settings travel in every job.
pub const MAX_LISTED: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployPackage {
    pub package_id: PackageId,
    /// Globs, relative to the installation folder, of files rendered as templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_files: Vec<String>,
    /// Globs of JSON and YAML files whose existing keys variables replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub structured_files: Vec<String>,
    /// Scripts of the step, each run after the package's own script of that stage.
    #[serde(default, skip_serializing_if = "DeployScripts::is_empty")]
    pub scripts: DeployScripts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx: Option<NginxFeature>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployScripts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_deploy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_failed: Option<String>,
}

impl DeployScripts {
    pub fn is_empty(&self) -> bool {
        self.all().iter().all(|(_, script)| script.is_none())
    }

    /// Each stage's name and script.
    pub fn all(&self) -> [(&'static str, Option<&String>); 4] {
        [
            ("pre_deploy", self.pre_deploy.as_ref()),
            ("deploy", self.deploy.as_ref()),
            ("post_deploy", self.post_deploy.as_ref()),
            ("deploy_failed", self.deploy_failed.as_ref()),
        ]
    }
}

/// The NGINX site the step configures in front of the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxFeature {
    pub bindings: Vec<NginxBinding>,
    /// Empty or `*`: no `server_name` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    pub locations: Vec<NginxLocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxBinding {
    #[serde(default = "http")]
    pub protocol: String,
    #[serde(default = "any_address")]
    pub address: String,
    /// A template rendering to a port number (`#{Nginx Port}`).
    pub port: String,
}

fn http() -> String {
    "http".to_owned()
}

fn any_address() -> String {
    "*".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxLocation {
    /// As NGINX writes it: `/`, `= /`, `@app`, `~ \.php$`.
    pub path: String,
    /// `name value` directives in order; a name may repeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directives: Vec<NginxDirective>,
    /// `http://host:port` or `http://unix:/path/to.sock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_proxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxDirective {
    pub name: String,
    pub value: String,
}

impl DeployPackage {
    /// Checks what can be checked before rendering, naming the field under `at`.
    pub fn validate(&self, at: &str) -> Result<(), ValidationError> {
        for (name, list) in [
            ("substitute_files", &self.substitute_files),
            ("structured_files", &self.structured_files),
        ] {
            bounded(&format!("{at}.{name}"), list.len())?;
            if let Some(index) = list.iter().position(|glob| glob.trim().is_empty()) {
                return Err(ValidationError::new(
                    format!("{at}.{name}[{index}]"),
                    "must not be empty",
                ));
            }
        }
        match &self.nginx {
            Some(nginx) => nginx.validate(&format!("{at}.nginx")),
            None => Ok(()),
        }
    }
}

impl NginxFeature {
    fn validate(&self, at: &str) -> Result<(), ValidationError> {
        if self.bindings.is_empty() {
            return Err(ValidationError::new(
                format!("{at}.bindings"),
                "an NGINX site needs at least one binding",
            ));
        }
        bounded(&format!("{at}.bindings"), self.bindings.len())?;
        bounded(&format!("{at}.locations"), self.locations.len())?;
        for (index, binding) in self.bindings.iter().enumerate() {
            if binding.protocol != "http" {
                return Err(ValidationError::new(
                    format!("{at}.bindings[{index}].protocol"),
                    format!(
                        "`{}` is not supported; only `http` bindings are (https needs certificates, not built yet)",
                        binding.protocol
                    ),
                ));
            }
            plain(&format!("{at}.bindings[{index}].address"), &binding.address)?;
            plain(&format!("{at}.bindings[{index}].port"), &binding.port)?;
        }
        if !self.locations.iter().any(NginxLocation::is_root) {
            return Err(ValidationError::new(
                format!("{at}.locations"),
                "an NGINX site needs a root location (`/` or `= /`)",
            ));
        }
        for (index, location) in self.locations.iter().enumerate() {
            let at = format!("{at}.locations[{index}]");
            plain(&format!("{at}.path"), &location.path)?;
            bounded(&format!("{at}.directives"), location.directives.len())?;
            for (number, directive) in location.directives.iter().enumerate() {
                let name = &directive.name;
                if name.is_empty()
                    || name
                        .chars()
                        .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '#'))
                {
                    return Err(ValidationError::new(
                        format!("{at}.directives[{number}].name"),
                        format!(
                            "`{name}` is not a directive name (one word, no `;`, braces or `#`)"
                        ),
                    ));
                }
                plain(
                    &format!("{at}.directives[{number}].value"),
                    &directive.value,
                )?;
            }
            if let Some(proxy) = &location.reverse_proxy {
                plain(&format!("{at}.reverse_proxy"), proxy)?;
            }
        }
        Ok(())
    }
}

impl NginxLocation {
    /// `/` or `= /` (Octopus missed the second, its issue #6156).
    pub fn is_root(&self) -> bool {
        let path: String = self.path.split_whitespace().collect::<Vec<_>>().join(" ");
        path == "/" || path == "= /"
    }
}

fn bounded(field: &str, count: usize) -> Result<(), ValidationError> {
    if count > MAX_LISTED {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_LISTED} entries"),
        ));
    }
    Ok(())
}

/// A value that goes into an NGINX file on one line. Values are templates (`#{Nginx Port}`),
/// so braces are checked after rendering, by the helper on the target, which refuses a
/// rendered value with a brace or a line break.
fn plain(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.contains(['\n', '\r']) {
        return Err(ValidationError::new(
            field,
            "must be one line (it is written into the NGINX configuration)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(locations: Vec<NginxLocation>) -> NginxFeature {
        NginxFeature {
            bindings: vec![NginxBinding {
                protocol: http(),
                address: any_address(),
                port: "#{Nginx Port}".into(),
            }],
            server_name: None,
            locations,
        }
    }

    fn location(path: &str) -> NginxLocation {
        NginxLocation {
            path: path.into(),
            directives: Vec::new(),
            reverse_proxy: None,
        }
    }

    #[test]
    fn a_site_needs_a_root_location_and_equals_slash_counts() {
        let error = site(vec![location("/api")]).validate("nginx").unwrap_err();
        assert_eq!(error.field, "nginx.locations");
        site(vec![location("=  /")]).validate("nginx").unwrap();
        site(vec![location("/")]).validate("nginx").unwrap();
    }

    #[test]
    fn values_that_would_change_the_file_are_refused_naming_them() {
        let mut root = location("/");
        root.directives.push(NginxDirective {
            name: "index".into(),
            value: "index.html;\nserver {".into(),
        });
        let error = site(vec![root]).validate("nginx").unwrap_err();
        assert_eq!(error.field, "nginx.locations[0].directives[0].value");
        let mut root = location("/");
        root.directives.push(NginxDirective {
            name: "try files".into(),
            value: "$uri".into(),
        });
        let error = site(vec![root]).validate("nginx").unwrap_err();
        assert_eq!(error.field, "nginx.locations[0].directives[0].name");
    }

    #[test]
    fn only_http_bindings_are_accepted() {
        let mut feature = site(vec![location("/")]);
        feature.bindings[0].protocol = "https".into();
        let error = feature.validate("nginx").unwrap_err();
        assert!(error.problem.contains("only `http`"), "{}", error.problem);
    }
}
