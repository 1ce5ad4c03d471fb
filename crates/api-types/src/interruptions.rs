//! `/api/interruptions`: the questions paused deployments wait on (a manual intervention, or
//! what to do about a failed step under guided failure), and the answer a person sends.

use ferry_domain::deployment::{Answer, InterruptionKind};
use ferry_domain::{DeploymentId, InterruptionId, StepName, TeamName};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One interruption, open or answered: what `take` and `submit` answer, and each entry of a
/// deployment's `interruptions` and of the pending list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterruptionView {
    pub interruption_id: InterruptionId,
    pub deployment_id: DeploymentId,
    /// The step it is about. Only a deployment's view names it; the pending list and the
    /// answers of `take` and `submit` write `null`.
    pub step: Option<StepName>,
    pub kind: InterruptionKind,
    /// The rendered instructions (a manual intervention) or the question (a guided failure).
    pub instructions: String,
    pub responsible_team: Option<TeamName>,
    /// The answers this kind takes, in the order people are offered them.
    pub options: Vec<Answer>,
    pub created_at: Timestamp,
    /// Who took responsibility; only they may answer.
    pub taken_by: Option<String>,
    pub taken_at: Option<Timestamp>,
    /// The answer given; `abort` for a deployment that was cancelled while it waited.
    pub resolution: Option<Answer>,
    pub note: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

/// `GET /api/interruptions`: the open interruptions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInterruptions {
    pub interruptions: Vec<InterruptionView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

/// The body of `POST /api/interruptions/{id}/submit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// `proceed` or `abort` (manual intervention); `retry`, `ignore` or `abort` (guided
    /// failure). Text rather than an [`Answer`] so that the API, not serde, explains a wrong
    /// one with the options of the interruption at hand.
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{TIME_TEXT, name, time, uuid, uuid_text};

    #[test]
    fn an_answered_guided_failure_spells_its_kind_options_and_resolution_in_snake_case() {
        let answered = InterruptionView {
            interruption_id: InterruptionId::from(uuid(2)),
            deployment_id: DeploymentId::from(uuid(1)),
            step: None,
            kind: InterruptionKind::GuidedFailure,
            instructions: "Step `Deploy` failed".to_owned(),
            responsible_team: Some(name("Ops")),
            options: Answer::options(InterruptionKind::GuidedFailure).to_vec(),
            created_at: time(),
            taken_by: Some("alice".to_owned()),
            taken_at: Some(time()),
            resolution: Some(Answer::Ignore),
            note: Some("known flake".to_owned()),
            resolved_by: Some("alice".to_owned()),
            resolved_at: None,
        };
        let pending = PendingInterruptions {
            interruptions: vec![answered.clone()],
            next: None,
        };
        let expected = json!({"interruptions": [{
            "interruption_id": uuid_text(2),
            "deployment_id": uuid_text(1),
            "step": null,
            "kind": "guided_failure",
            "instructions": "Step `Deploy` failed",
            "responsible_team": "Ops",
            "options": ["retry", "ignore", "abort"],
            "created_at": TIME_TEXT,
            "taken_by": "alice",
            "taken_at": TIME_TEXT,
            "resolution": "ignore",
            "note": "known flake",
            "resolved_by": "alice",
            "resolved_at": null,
        }], "next": null});
        assert_eq!(serde_json::to_value(&pending).ok(), Some(expected.clone()));
        let read: Option<PendingInterruptions> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(pending));
    }

    #[test]
    fn serde_spells_every_answer_as_its_name() {
        for answer in Answer::ALL {
            assert_eq!(
                serde_json::to_value(answer).ok(),
                Some(answer.as_str().into())
            );
        }
    }

    #[test]
    fn an_answer_without_a_note_leaves_the_note_out() {
        let answer = AnswerRequest {
            result: "proceed".to_owned(),
            note: None,
        };
        assert_eq!(
            serde_json::to_value(&answer).ok(),
            Some(json!({"result": "proceed"}))
        );
    }
}
