//! `/api/projects`: a project as the API shows it (process, variables with sensitive values
//! withheld, lifecycle and guided-failure setting), and the list of projects. The request
//! body stays in the API (`routes/project_body.rs`): its variables and conditions take
//! several forms that only the API's parser reads.

use ferry_domain::variables::Scope;
use ferry_domain::{
    EmailAddress, LifecycleId, Process, ProjectId, ProjectName, VariableName, WorkerPool,
};
use serde::{Deserialize, Serialize};

/// One project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    pub project_id: ProjectId,
    pub name: ProjectName,
    /// The deployment process, in the shape a project's body sends it.
    pub steps: Process,
    pub variables: Vec<VariableView>,
    pub notification_email: Option<EmailAddress>,
    pub worker_pool: WorkerPool,
    /// `null`: the default lifecycle (one phase per environment, in order).
    pub lifecycle_id: Option<LifecycleId>,
    /// `null`: each environment's own setting applies.
    pub guided_failure: Option<bool>,
}

/// One value of a variable, as projects and releases show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableView {
    pub name: VariableName,
    /// `null` for a sensitive value: those never leave the server (and sending `null` back
    /// keeps the stored one).
    pub value: Option<String>,
    pub sensitive: bool,
    /// Where the value applies; `{}` for everywhere.
    pub scope: Scope,
}

/// `GET /api/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

#[cfg(test)]
pub(crate) mod tests {
    use ferry_domain::variables::Scope;
    use serde_json::{Value, json};

    use super::*;
    use crate::fixtures::{name, uuid, uuid_text};

    /// A process of one step, as JSON and as the domain reads it.
    pub fn process() -> (Value, Option<Process>) {
        let steps = json!([{"name": "Deploy", "kind": "run_script", "script": "./deploy.sh",
                            "run_condition": "success"}]);
        let process = serde_json::from_value(steps.clone()).ok();
        (steps, process)
    }

    /// A plain variable scoped to Test and a sensitive one, and their JSON.
    pub fn variables() -> (Value, Vec<VariableView>) {
        let test_scope: Option<Scope> =
            serde_json::from_value(json!({"environments": ["Test"]})).ok();
        let views = vec![
            VariableView {
                name: VariableName::parse("Port").unwrap_or_else(|error| panic!("{error}")),
                value: Some("8080".to_owned()),
                sensitive: false,
                scope: test_scope.unwrap_or_default(),
            },
            VariableView {
                name: VariableName::parse("Password").unwrap_or_else(|error| panic!("{error}")),
                value: None,
                sensitive: true,
                scope: Scope::default(),
            },
        ];
        let json = json!([
            {"name": "Port", "value": "8080", "sensitive": false,
             "scope": {"environments": ["Test"]}},
            {"name": "Password", "value": null, "sensitive": true, "scope": {}},
        ]);
        (json, views)
    }

    #[test]
    fn a_project_writes_its_steps_as_sent_and_null_for_sensitive_values_and_defaults() {
        let (steps_json, process) = process();
        let Some(steps) = process else {
            panic!("the fixture process does not parse")
        };
        let (variables_json, variables) = variables();
        let list = ProjectList {
            projects: vec![ProjectView {
                project_id: ProjectId::from(uuid(5)),
                name: name("Random Quotes"),
                steps,
                variables,
                notification_email: None,
                worker_pool: name("default"),
                lifecycle_id: None,
                guided_failure: None,
            }],
            next: None,
        };
        let expected = json!({"projects": [{
            "project_id": uuid_text(5),
            "name": "Random Quotes",
            "steps": steps_json,
            "variables": variables_json,
            "notification_email": null,
            "worker_pool": "default",
            "lifecycle_id": null,
            "guided_failure": null,
        }], "next": null});
        assert_eq!(serde_json::to_value(&list).ok(), Some(expected.clone()));
        let read: Option<ProjectList> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(list));
    }
}
