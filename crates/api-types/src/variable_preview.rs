//! `/api/projects/{project}/variables/preview`: every variable's value for an environment
//! (and optionally a step), with the scope that won; sensitive values masked.

use ferry_domain::{EnvironmentName, ProjectName, VariableName};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariablePreview {
    pub project: ProjectName,
    pub environment: EnvironmentName,
    /// The step asked about, as the query spelled it (matched case-insensitively); `null`
    /// when none was.
    pub step: Option<String>,
    /// One per variable name, ordered by name (case-insensitively).
    pub variables: Vec<ResolvedVariable>,
}

/// The value of one variable that wins in the context asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedVariable {
    pub name: VariableName,
    /// The winning value; `*****` for a sensitive one.
    pub value: String,
    pub sensitive: bool,
    /// The winning value's scope, for people (`environment Test`, `unscoped`).
    pub scope: String,
    /// The winning value's index in the project's variables.
    pub index: usize,
    /// How many of the variable's values applied, the winner included.
    pub values_that_applied: usize,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::name;

    #[test]
    fn a_variable_preview_names_the_winner_its_scope_and_the_count_that_applied() {
        let preview = VariablePreview {
            project: name("Random Quotes"),
            environment: name("Test"),
            step: None,
            variables: vec![ResolvedVariable {
                name: VariableName::parse("Password").unwrap_or_else(|error| panic!("{error}")),
                value: "*****".to_owned(),
                sensitive: true,
                scope: "environment Test".to_owned(),
                index: 3,
                values_that_applied: 2,
            }],
        };
        let expected = json!({
            "project": "Random Quotes",
            "environment": "Test",
            "step": null,
            "variables": [{
                "name": "Password",
                "value": "*****",
                "sensitive": true,
                "scope": "environment Test",
                "index": 3,
                "values_that_applied": 2,
            }],
        });
        assert_eq!(serde_json::to_value(&preview).ok(), Some(expected.clone()));
        let read: Option<VariablePreview> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(preview));
    }
}
