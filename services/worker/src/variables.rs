//! A step's variables on the worker: the job's values with the sensitive ones decrypted, the
//! machine's own variables, the script rendered as a template, and the bash prelude that
//! gives scripts `get_octopusvariable` and `set_octopusvariable`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ferry_contracts::StepJob;
use ferry_secrets::{Keyring, Masker};
use indexmap::IndexMap;

/// Both spellings of a system variable.
const PREFIXES: [&str; 2] = ["Ferry", "Octopus"];

pub struct StepVariables {
    /// Every variable by name, sensitive ones in clear text, in the job's order.
    values: IndexMap<String, String>,
    /// Hides the sensitive values in every line the worker sends.
    pub masker: Masker,
    /// The sensitive values in clear text, and the names of the sensitive variables
    /// (lowercased), to mask what expansion derives from them.
    secrets: Vec<String>,
    sensitive_names: Vec<String>,
}

impl StepVariables {
    /// Decrypts the job's sensitive values and adds the machine's variables.
    pub fn prepare(job: &StepJob, key: &Keyring, machine_name: &str) -> Result<Self, String> {
        let mut values: IndexMap<String, String> = job.variables.iter().cloned().collect();
        let mut secrets = Vec::new();
        for (name, ciphertext) in &job.sensitive_variables {
            let value = key.decrypt(ciphertext, name).map_err(|error| {
                format!(
                    "the sensitive variable `{name}` could not be decrypted ({error}); does this worker have the API's FERRY_VARIABLES_KEY?"
                )
            })?;
            secrets.push(value.clone());
            values.insert(name.clone(), value);
        }
        let sensitive_names = job
            .sensitive_variables
            .keys()
            .map(|name| name.to_lowercase())
            .collect();
        let mut variables = StepVariables {
            values,
            masker: Masker::new(secrets.clone()),
            secrets,
            sensitive_names,
        };
        variables.add_system("Machine.Name", machine_name);
        Ok(variables)
    }

    /// Adds a variable under `Ferry.<name>` and `Octopus.<name>`.
    pub fn add_system(&mut self, name: &str, value: &str) {
        for prefix in PREFIXES {
            self.values
                .insert(format!("{prefix}.{name}"), value.to_owned());
        }
    }

    /// Expands values that are themselves templates (`Server=db;Password=#{Db Password}`), as
    /// Octopus does before a script sees them. Octopus's lenient rules apply here: a value
    /// that cannot be rendered is kept as written (the script template is strict).
    /// All values share one template budget (`limits`): a set of values that double at every
    /// level spends it once and keeps its values as written.
    pub fn expand_values(&mut self, limits: ferry_templates::Limits) {
        let lookup: ferry_templates::Variables = self
            .values
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let options = ferry_templates::Options::lenient(chrono::Utc::now()).with_limits(limits);
        let templates: Vec<&str> = self
            .values
            .values()
            .filter(|value| value.contains("#{"))
            .map(String::as_str)
            .collect();
        let mut rendered = ferry_templates::render_all(&templates, &lookup, &options).into_iter();
        let mut derived = Vec::new();
        for (name, value) in self.values.iter_mut() {
            if !value.contains("#{") {
                continue;
            }
            let Some(Ok(expanded)) = rendered.next() else {
                continue;
            };
            // A sensitive value, or any value built from one, is masked as expanded too.
            let raw = value.to_lowercase();
            if self.sensitive_names.contains(&name.to_lowercase())
                || self
                    .sensitive_names
                    .iter()
                    .any(|sensitive| references(&raw, sensitive))
            {
                derived.push(expanded.clone());
            }
            *value = expanded;
        }
        if !derived.is_empty() {
            self.masker = Masker::new(self.secrets.iter().cloned().chain(derived));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.values.iter()
    }

    /// Renders templates with these variables: built once, used for every setting of a step.
    pub fn renderer(&self, lenient: bool, limits: ferry_templates::Limits) -> Renderer<'_> {
        let variables: ferry_templates::Variables = self
            .values
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let now = chrono::Utc::now();
        let options = if lenient {
            ferry_templates::Options::lenient(now)
        } else {
            ferry_templates::Options::strict(now)
        }
        .with_limits(limits);
        Renderer {
            variables,
            options,
            masker: &self.masker,
        }
    }

    /// The sensitive values in clear text, for the helper to mask too.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Renders the step's script. An error names the line and column in the script.
    pub fn render_script(
        &self,
        job: &StepJob,
        limits: ferry_templates::Limits,
    ) -> Result<String, String> {
        self.renderer(job.lenient_templates, limits)
            .render_with(&job.script, |error| {
                format!(
                    "the script of step \"{}\" is not a valid template: script.sh {error}",
                    job.step_name
                )
            })
    }

    /// A bash file sourced before the script (through `BASH_ENV`): the variables in an
    /// associative array keyed by lowercased name, `get_octopusvariable NAME` (Octopus's
    /// function; prints the value, empty when unknown), and `set_octopusvariable NAME VALUE`
    /// (an output variable later steps read as `Octopus.Action[<step>].Output.NAME`).
    pub fn bash_prelude(&self, output_file: &str) -> String {
        let mut prelude = String::from(
            "# Written by the Ferry worker for one step; deleted when the step ends.\n\
             declare -A __ferry_variables=(\n",
        );
        for (name, value) in &self.values {
            if name.contains('\0') || value.contains('\0') {
                continue;
            }
            prelude.push_str(&format!(
                "  [{}]={}\n",
                single_quoted(&name.to_lowercase()),
                single_quoted(value)
            ));
        }
        prelude.push_str(")\n");
        prelude.push_str(
            "get_octopusvariable() { printf '%s' \"${__ferry_variables[${1,,}]-}\"; }\n\
             get_ferryvariable() { get_octopusvariable \"$@\"; }\n",
        );
        prelude.push_str(&format!(
            "set_octopusvariable() {{ printf '%s %s\\n' \"$(printf '%s' \"$1\" | base64 -w0)\" \"$(printf '%s' \"$2\" | base64 -w0)\" >> {}; }}\n\
             set_ferryvariable() {{ set_octopusvariable \"$@\"; }}\n",
            single_quoted(output_file)
        ));
        prelude
    }
}

/// Whether a (lowercased) template refers to a (lowercased) variable name: `#{name}`,
/// `#{name | Filter}`, `#{ name }`, or a part of its JSON value, `#{name.field}` and
/// `#{name[field]}`.
fn references(template: &str, name: &str) -> bool {
    template.match_indices("#{").any(|(start, _)| {
        let rest = template[start + 2..].trim_start();
        rest.strip_prefix(name).is_some_and(|after| {
            after.starts_with(['.', '['])
                || after.trim_start().starts_with('}')
                || after.trim_start().starts_with('|')
        })
    })
}

/// `value` as one bash word in single quotes.
fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// A step's variables ready for rendering, with the masker for what an error quotes.
pub struct Renderer<'a> {
    variables: ferry_templates::Variables,
    options: ferry_templates::Options,
    masker: &'a Masker,
}

impl Renderer<'_> {
    /// Renders one of the step's settings (`what` names it in an error).
    pub fn render(&self, what: &str, template: &str) -> Result<String, String> {
        self.render_with(template, |error| {
            format!("{what} is not a valid template: {error}")
        })
    }

    fn render_with(
        &self,
        template: &str,
        describe: impl FnOnce(&ferry_templates::TemplateError) -> String,
    ) -> Result<String, String> {
        ferry_templates::render(template, &self.variables, &self.options)
            .map_err(|error| self.masker.mask(&describe(&error)))
    }
}

/// Reads the output variables a script set with `set_octopusvariable`.
pub fn read_outputs(contents: &str) -> BTreeMap<String, String> {
    contents
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            let name = String::from_utf8(STANDARD.decode(name).ok()?).ok()?;
            let value = String::from_utf8(STANDARD.decode(value).ok()?).ok()?;
            (!name.trim().is_empty()).then_some((name, value))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn references_are_whole_names() {
        assert!(references("server=#{db password}", "db password"));
        assert!(references("#{ db password | tobase64 }", "db password"));
        assert!(!references("#{db password old}", "db password"));
        assert!(!references("#{db user}", "db"));
        assert!(references("pw=#{creds.password}", "creds"));
        assert!(references("#{creds[password] | toupper}", "creds"));
        assert!(!references("#{credsx.password}", "creds"));
    }

    fn job_with(
        key: &Keyring,
        variables: Vec<(String, String)>,
        sensitive: (&str, &str),
    ) -> StepJob {
        StepJob {
            job_id: uuid::Uuid::nil(),
            deployment_id: uuid::Uuid::nil().into(),
            step_run_id: uuid::Uuid::nil().into(),
            attempt: 1,
            step_index: 0,
            step_name: ferry_domain::StepName::parse("Run").unwrap(),
            script: "true".into(),
            variables,
            sensitive_variables: [(
                sensitive.0.to_owned(),
                key.encrypt(sensitive.1, sensitive.0).unwrap(),
            )]
            .into_iter()
            .collect(),
            lenient_templates: false,
            package: None,
            timeout_seconds: 10,
            heartbeat_seconds: 15,
            target: None,
            deploy: None,
            project_name: None,
            environment_name: None,
        }
    }

    fn new_key() -> Keyring {
        ferry_secrets::SecretKey::from_base64(&ferry_secrets::SecretKey::generate_base64().unwrap())
            .unwrap()
            .into()
    }

    #[test]
    fn values_built_from_secrets_are_masked_once_expanded() {
        let key = new_key();
        let job = job_with(
            &key,
            vec![
                ("Conn".into(), "Server=db1;Password=#{Db Password}".into()),
                ("Db User".into(), "app".into()),
            ],
            ("Db Password", "S3cr3t"),
        );
        let mut variables = StepVariables::prepare(&job, &key, "host").unwrap();
        variables.expand_values(ferry_templates::Limits::default());
        assert_eq!(
            variables.masker.mask("Server=db1;Password=S3cr3t user app"),
            "***** user app"
        );
    }

    #[test]
    fn fields_read_from_a_sensitive_json_value_are_masked() {
        let key = new_key();
        let job = job_with(
            &key,
            vec![
                ("Dotted".into(), "pw=#{Creds.password}".into()),
                ("Indexed".into(), "#{Creds[password] | ToUpper}".into()),
            ],
            ("Creds", r#"{"user": "deployer", "password": "hunter22"}"#),
        );
        let mut variables = StepVariables::prepare(&job, &key, "host").unwrap();
        assert_eq!(variables.masker.mask("login deployer"), "login *****");
        variables.expand_values(ferry_templates::Limits::default());
        let values: BTreeMap<&String, &String> = variables.iter().collect();
        assert_eq!(values[&"Indexed".to_owned()], "HUNTER22");
        assert_eq!(
            variables.masker.mask("echo hunter22 HUNTER22 pw=hunter22"),
            "echo ***** ***** *****"
        );
    }

    #[test]
    fn values_are_quoted_for_bash() {
        assert_eq!(single_quoted("it's"), "'it'\\''s'");
        assert_eq!(single_quoted("$HOME `x`"), "'$HOME `x`'");
    }

    #[test]
    fn outputs_are_read_back_and_junk_is_ignored() {
        let name = STANDARD.encode("Greeting");
        let value = STANDARD.encode("hello world\nsecond line");
        let contents = format!("{name} {value}\nnot base64 at all\n");
        let outputs = read_outputs(&contents);
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs["Greeting"], "hello world\nsecond line");
    }
}
