//! Project variables with scoped values, and which value applies where.
//!
//! A variable may have several values, each optionally scoped by environments, roles,
//! targets and steps. A value applies in a context when, for every kind of scope it has, the
//! context matches one of the listed names (OR within a kind, AND across kinds). Among the
//! values that apply, the most specific wins: step > target > role > environment > unscoped,
//! and with the highest kind equal, more kinds beat fewer. That is a weight with one bit per
//! kind (step 8, target 4, role 2, environment 1), so two values of different kind sets never
//! tie. Two values of the same name with the same kind set that can both apply somewhere would
//! tie; [`VariableSet::new`] refuses them at save time. Names compare case-insensitively.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{
    EnvironmentName, RoleName, StepName, TargetName, ValidationError, VariableName,
};

/// The most values one project may have.
pub const MAX_VARIABLES: usize = 2000;
/// The longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Where a value applies. An empty list means "any" for that kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepName>,
}

const STEP: u8 = 8;
const TARGET: u8 = 4;
const ROLE: u8 = 2;
const ENVIRONMENT: u8 = 1;

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.specificity() == 0
    }

    /// One bit per kind of scope present; a higher number is more specific.
    pub fn specificity(&self) -> u8 {
        let mut weight = 0;
        if !self.steps.is_empty() {
            weight |= STEP;
        }
        if !self.targets.is_empty() {
            weight |= TARGET;
        }
        if !self.roles.is_empty() {
            weight |= ROLE;
        }
        if !self.environments.is_empty() {
            weight |= ENVIRONMENT;
        }
        weight
    }

    /// Whether the value applies in `context`.
    pub fn applies(&self, context: &ScopeContext<'_>) -> bool {
        fn kind<T: AsRef<str>>(listed: &[T], actual: &[&str]) -> bool {
            listed.is_empty()
                || listed.iter().any(|name| {
                    actual
                        .iter()
                        .any(|candidate| candidate.eq_ignore_ascii_case(name.as_ref()))
                })
        }
        kind(&self.environments, context.environment.as_slice())
            && kind(&self.roles, context.roles)
            && kind(&self.targets, context.target.as_slice())
            && kind(&self.steps, context.step.as_slice())
    }

    /// Whether some context exists where both apply: every kind either has no list in one of
    /// them, or lists a name in common. Only meaningful for scopes of equal specificity.
    fn overlaps(&self, other: &Scope) -> Option<String> {
        fn common<T: AsRef<str>>(a: &[T], b: &[T]) -> Option<String> {
            a.iter()
                .find(|x| {
                    b.iter()
                        .any(|y| x.as_ref().eq_ignore_ascii_case(y.as_ref()))
                })
                .map(|x| x.as_ref().to_owned())
        }
        let mut shared = Vec::new();
        for (kind, a, b) in [
            (
                "environment",
                names(&self.environments),
                names(&other.environments),
            ),
            ("role", names(&self.roles), names(&other.roles)),
            ("target", names(&self.targets), names(&other.targets)),
            ("step", names(&self.steps), names(&other.steps)),
        ] {
            if a.is_empty() && b.is_empty() {
                continue;
            }
            shared.push(format!("{kind} `{}`", common(&a, &b)?));
        }
        Some(if shared.is_empty() {
            "both are unscoped".to_owned()
        } else {
            format!("both apply to {}", shared.join(" and "))
        })
    }

    /// A short description for previews (`environment Test`, `unscoped`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (kind, listed) in [
            ("step", names(&self.steps)),
            ("target", names(&self.targets)),
            ("role", names(&self.roles)),
            ("environment", names(&self.environments)),
        ] {
            if !listed.is_empty() {
                parts.push(format!("{kind} {}", listed.join(" or ")));
            }
        }
        if parts.is_empty() {
            "unscoped".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

fn names<T: AsRef<str>>(list: &[T]) -> Vec<&str> {
    list.iter().map(AsRef::as_ref).collect()
}

macro_rules! as_ref_str {
    ($($name:ty),*) => {$(
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    )*};
}
as_ref_str!(EnvironmentName, RoleName, TargetName, StepName);

/// Where a variable is being resolved: the deployment's environment, and, when resolving for
/// one step on one target, that step, target and the target's roles.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeContext<'a> {
    pub environment: Option<&'a str>,
    pub roles: &'a [&'a str],
    pub target: Option<&'a str>,
    pub step: Option<&'a str>,
}

/// One value of a variable. `V` is the value's representation: plain text when it comes from
/// the API, ciphertext for sensitive values at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable<V> {
    pub name: VariableName,
    pub value: V,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default, skip_serializing_if = "Scope::is_empty")]
    pub scope: Scope,
}

/// What a project's variables may refer to, for validation at save time.
#[derive(Debug, Clone, Copy)]
pub struct KnownNames<'a> {
    pub environments: &'a [&'a str],
    pub steps: &'a [&'a str],
}

/// A project's variables, validated: scopes refer to known environments and steps, and no
/// two values of one name tie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VariableSet<V> {
    variables: Vec<Variable<V>>,
}

impl<V> Default for VariableSet<V> {
    fn default() -> Self {
        VariableSet {
            variables: Vec::new(),
        }
    }
}

impl<V: AsRef<str>> VariableSet<V> {
    pub fn new(
        variables: Vec<Variable<V>>,
        known: &KnownNames<'_>,
    ) -> Result<Self, ValidationError> {
        if variables.len() > MAX_VARIABLES {
            return Err(ValidationError::new(
                "variables",
                format!("a project may have at most {MAX_VARIABLES} variable values"),
            ));
        }
        for (index, variable) in variables.iter().enumerate() {
            let field = format!("variables[{index}]");
            if variable.value.as_ref().len() > MAX_VALUE_BYTES {
                return Err(ValidationError::new(
                    format!("{field}.value"),
                    format!("must be at most {MAX_VALUE_BYTES} bytes"),
                ));
            }
            for environment in &variable.scope.environments {
                if !known
                    .environments
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(environment.as_str()))
                {
                    return Err(ValidationError::new(
                        format!("{field}.scope.environments"),
                        format!("there is no environment named `{environment}`"),
                    ));
                }
            }
            for step in &variable.scope.steps {
                if !known
                    .steps
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(step.as_str()))
                {
                    return Err(ValidationError::new(
                        format!("{field}.scope.steps"),
                        format!("the process has no step named `{step}`"),
                    ));
                }
            }
        }
        Self::check_ties(&variables)?;
        Ok(VariableSet { variables })
    }
}

impl<V> VariableSet<V> {
    fn check_ties(variables: &[Variable<V>]) -> Result<(), ValidationError> {
        for (later, variable) in variables.iter().enumerate() {
            for (earlier, other) in variables[..later].iter().enumerate() {
                // The same folding as `resolve` uses for its keys.
                if other.name.as_str().to_lowercase() != variable.name.as_str().to_lowercase()
                    || other.scope.specificity() != variable.scope.specificity()
                {
                    continue;
                }
                if let Some(how) = other.scope.overlaps(&variable.scope) {
                    return Err(ValidationError::new(
                        format!("variables[{later}].scope"),
                        format!(
                            "`{}` already has a value with an equally specific scope that overlaps this one (variables[{earlier}]; {how}), so neither would win",
                            variable.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Trusts stored data that was validated when it was saved.
    pub fn from_stored(variables: Vec<Variable<V>>) -> Self {
        VariableSet { variables }
    }

    pub fn variables(&self) -> &[Variable<V>] {
        &self.variables
    }

    pub fn into_variables(self) -> Vec<Variable<V>> {
        self.variables
    }

    /// Turns every value into another representation (encrypting or decrypting).
    pub fn try_map<W, E>(
        self,
        mut convert: impl FnMut(&Variable<V>) -> Result<W, E>,
    ) -> Result<VariableSet<W>, E> {
        let variables = self
            .variables
            .iter()
            .map(|variable| {
                Ok(Variable {
                    name: variable.name.clone(),
                    value: convert(variable)?,
                    sensitive: variable.sensitive,
                    scope: variable.scope.clone(),
                })
            })
            .collect::<Result<_, E>>()?;
        Ok(VariableSet { variables })
    }

    /// For every name, the value that applies in `context`, keyed by the lowercased name.
    pub fn resolve(&self, context: &ScopeContext<'_>) -> BTreeMap<String, Resolved<'_, V>> {
        let mut winners: BTreeMap<String, Resolved<'_, V>> = BTreeMap::new();
        for (index, variable) in self.variables.iter().enumerate() {
            if !variable.scope.applies(context) {
                continue;
            }
            let key = variable.name.as_str().to_lowercase();
            let candidate = Resolved {
                index,
                variable,
                candidates: 1,
            };
            match winners.get_mut(&key) {
                None => {
                    winners.insert(key, candidate);
                }
                Some(current) => {
                    let candidates = current.candidates + 1;
                    if variable.scope.specificity() > current.variable.scope.specificity() {
                        *current = candidate;
                    }
                    current.candidates = candidates;
                }
            }
        }
        winners
    }
}

/// The value of a variable that won in a context.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a, V> {
    /// Its index in the variable set.
    pub index: usize,
    pub variable: &'a Variable<V>,
    /// How many of the variable's values applied (the winner included).
    pub candidates: usize,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn value(name: &str, value: &str, scope: Scope) -> Variable<String> {
        Variable {
            name: VariableName::parse(name).unwrap(),
            value: value.to_owned(),
            sensitive: false,
            scope,
        }
    }

    fn environments(names: &[&str]) -> Scope {
        Scope {
            environments: names
                .iter()
                .map(|n| EnvironmentName::parse(n).unwrap())
                .collect(),
            ..Scope::default()
        }
    }

    fn steps(names: &[&str]) -> Scope {
        Scope {
            steps: names.iter().map(|n| StepName::parse(n).unwrap()).collect(),
            ..Scope::default()
        }
    }

    fn roles(names: &[&str]) -> Scope {
        Scope {
            roles: names.iter().map(|n| RoleName::parse(n).unwrap()).collect(),
            ..Scope::default()
        }
    }

    fn targets(names: &[&str]) -> Scope {
        Scope {
            targets: names
                .iter()
                .map(|n| TargetName::parse(n).unwrap())
                .collect(),
            ..Scope::default()
        }
    }

    fn and(a: Scope, b: Scope) -> Scope {
        Scope {
            environments: [a.environments, b.environments].concat(),
            roles: [a.roles, b.roles].concat(),
            targets: [a.targets, b.targets].concat(),
            steps: [a.steps, b.steps].concat(),
        }
    }

    const KNOWN: KnownNames<'static> = KnownNames {
        environments: &["Dev", "Test", "Prod"],
        steps: &["Deploy", "Notify"],
    };

    fn set(variables: Vec<Variable<String>>) -> VariableSet<String> {
        VariableSet::new(variables, &KNOWN).unwrap()
    }

    fn resolved(
        set: &VariableSet<String>,
        name: &str,
        context: ScopeContext<'_>,
    ) -> Option<String> {
        set.resolve(&context)
            .get(&name.to_lowercase())
            .map(|r| r.variable.value.clone())
    }

    fn in_env(environment: &str) -> ScopeContext<'_> {
        ScopeContext {
            environment: Some(environment),
            ..ScopeContext::default()
        }
    }

    #[test]
    fn the_tutorial_port_follows_the_environment() {
        let set = set(vec![
            value("Nginx Port", "8081", environments(&["Dev"])),
            value("Nginx Port", "8082", environments(&["Test"])),
            value("Nginx Port", "8083", environments(&["Prod"])),
        ]);
        assert_eq!(resolved(&set, "Nginx Port", in_env("Dev")).unwrap(), "8081");
        assert_eq!(
            resolved(&set, "nginx port", in_env("test")).unwrap(),
            "8082"
        );
        assert_eq!(
            resolved(&set, "NGINX PORT", in_env("Prod")).unwrap(),
            "8083"
        );
        assert_eq!(resolved(&set, "Nginx Port", in_env("Staging")), None);
    }

    #[test]
    fn a_scoped_value_beats_the_unscoped_one() {
        let set = set(vec![
            value("Greeting", "hello", Scope::default()),
            value("Greeting", "hello test", environments(&["Test"])),
        ]);
        assert_eq!(resolved(&set, "Greeting", in_env("Dev")).unwrap(), "hello");
        assert_eq!(
            resolved(&set, "Greeting", in_env("Test")).unwrap(),
            "hello test"
        );
    }

    #[test]
    fn scopes_of_one_kind_are_or_and_of_different_kinds_are_and() {
        let set = set(vec![value(
            "Url",
            "internal",
            and(environments(&["Dev", "Test"]), roles(&["web"])),
        )]);
        let web = ["web"];
        let db = ["db"];
        let context = |environment, roles| ScopeContext {
            environment: Some(environment),
            roles,
            ..ScopeContext::default()
        };
        assert_eq!(
            resolved(&set, "Url", context("Dev", &web)).unwrap(),
            "internal"
        );
        assert_eq!(
            resolved(&set, "Url", context("Test", &web)).unwrap(),
            "internal"
        );
        assert_eq!(resolved(&set, "Url", context("Prod", &web)), None);
        assert_eq!(resolved(&set, "Url", context("Dev", &db)), None);
    }

    #[test]
    fn step_beats_target_beats_role_beats_environment() {
        let set = set(vec![
            value("Level", "unscoped", Scope::default()),
            value("Level", "environment", environments(&["Test"])),
            value("Level", "role", roles(&["web"])),
            value("Level", "target", targets(&["web-01"])),
            value("Level", "step", steps(&["Deploy"])),
        ]);
        let web = ["web"];
        let full = ScopeContext {
            environment: Some("Test"),
            roles: &web,
            target: Some("web-01"),
            step: Some("Deploy"),
        };
        assert_eq!(resolved(&set, "Level", full).unwrap(), "step");
        let no_step = ScopeContext {
            step: Some("Notify"),
            ..full
        };
        assert_eq!(resolved(&set, "Level", no_step).unwrap(), "target");
        let other_target = ScopeContext {
            target: Some("web-02"),
            ..no_step
        };
        assert_eq!(resolved(&set, "Level", other_target).unwrap(), "role");
        let no_role = ScopeContext {
            roles: &[],
            ..other_target
        };
        assert_eq!(resolved(&set, "Level", no_role).unwrap(), "environment");
        let elsewhere = ScopeContext {
            environment: Some("Dev"),
            ..no_role
        };
        assert_eq!(resolved(&set, "Level", elsewhere).unwrap(), "unscoped");
    }

    #[test]
    fn more_kinds_beat_fewer_when_the_highest_kind_is_equal() {
        let set = set(vec![
            value("Path", "role only", roles(&["web"])),
            value(
                "Path",
                "role and environment",
                and(roles(&["web"]), environments(&["Prod"])),
            ),
        ]);
        let web = ["web"];
        let context = ScopeContext {
            environment: Some("Prod"),
            roles: &web,
            ..ScopeContext::default()
        };
        assert_eq!(
            resolved(&set, "Path", context).unwrap(),
            "role and environment"
        );
        let resolution = set.resolve(&context);
        assert_eq!(resolution["path"].candidates, 2);
        assert_eq!(resolution["path"].index, 1);
    }

    #[test]
    fn step_scoped_values_need_a_step_context() {
        let set = set(vec![value("Only", "in deploy", steps(&["Deploy"]))]);
        assert_eq!(resolved(&set, "Only", in_env("Dev")), None);
    }

    #[test]
    fn overlapping_equal_scopes_are_refused_at_save_time() {
        let refused = |variables| VariableSet::new(variables, &KNOWN).unwrap_err();
        let error = refused(vec![
            value("Port", "1", environments(&["Dev", "Test"])),
            value("port", "2", environments(&["Test", "Prod"])),
        ]);
        assert_eq!(error.field, "variables[1].scope");
        assert!(
            error.problem.contains("environment `Test`"),
            "{}",
            error.problem
        );
        let error = refused(vec![
            value("Port", "1", Scope::default()),
            value("PORT", "2", Scope::default()),
        ]);
        assert!(
            error.problem.contains("both are unscoped"),
            "{}",
            error.problem
        );
        let error = refused(vec![
            value("Port", "1", and(environments(&["Dev"]), roles(&["web"]))),
            value(
                "Port",
                "2",
                and(environments(&["Dev"]), roles(&["web", "db"])),
            ),
        ]);
        assert!(
            error.problem.contains("environment `Dev` and role `web`"),
            "{}",
            error.problem
        );
    }

    #[test]
    fn equal_scopes_that_cannot_meet_are_fine() {
        set(vec![
            value("Port", "1", and(environments(&["Dev"]), roles(&["web"]))),
            value("Port", "2", and(environments(&["Dev"]), roles(&["db"]))),
            value("Port", "3", and(environments(&["Test"]), roles(&["web"]))),
            value("Other", "x", Scope::default()),
            value("Another", "y", Scope::default()),
        ]);
    }

    #[test]
    fn scopes_must_name_known_steps_and_environments() {
        let error =
            VariableSet::new(vec![value("A", "1", steps(&["Missing step"]))], &KNOWN).unwrap_err();
        assert_eq!(error.field, "variables[0].scope.steps");
        assert_eq!(
            error.problem,
            "the process has no step named `Missing step`"
        );
        let error = VariableSet::new(vec![value("A", "1", environments(&["Staging"]))], &KNOWN)
            .unwrap_err();
        assert_eq!(error.field, "variables[0].scope.environments");
    }

    #[test]
    fn scopes_describe_themselves() {
        assert_eq!(Scope::default().describe(), "unscoped");
        assert_eq!(
            and(environments(&["Dev", "Test"]), steps(&["Deploy"])).describe(),
            "step Deploy, environment Dev or Test"
        );
    }

    #[test]
    fn variables_read_and_write_the_documented_json() {
        let variable: Variable<String> = serde_json::from_str(
            r#"{"name": "Nginx Port", "value": "8081", "scope": {"environments": ["Dev"]}}"#,
        )
        .unwrap();
        assert_eq!(variable.scope, environments(&["Dev"]));
        assert!(!variable.sensitive);
        assert!(
            serde_json::from_str::<Variable<String>>(
                r#"{"name": "A", "value": "1", "scope": {"machines": ["x"]}}"#
            )
            .is_err()
        );
    }
}
