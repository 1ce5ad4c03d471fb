//! The questions a paused deployment asks (manual interventions and guided failures), and a
//! named person taking and answering them, as the tutorial's sign-off is answered.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::stack::TestStack;

/// An unanswered interruption, as `GET /api/interruptions` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Interruption {
    pub interruption_id: String,
    pub deployment_id: String,
    pub kind: InterruptionKind,
    pub instructions: Option<String>,
    pub responsible_team: Option<String>,
    /// The answers it takes, in the API's order.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptionKind {
    ManualIntervention,
    GuidedFailure,
}

impl TestStack {
    /// Every unanswered interruption, oldest first.
    pub async fn pending_interruptions(&self) -> Vec<Interruption> {
        let (status, body) = self.get("/api/interruptions").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body["interruptions"].clone())
            .unwrap_or_else(|error| panic!("a list of interruptions ({error}): {body:#}"))
    }

    /// The open interruption of a deployment; panics if it has none.
    pub async fn pending_interruption(&self, deployment_id: &str) -> Interruption {
        let pending = self.pending_interruptions().await;
        pending
            .iter()
            .find(|interruption| interruption.deployment_id == deployment_id)
            .cloned()
            .unwrap_or_else(|| panic!("no pending interruption for {deployment_id}: {pending:#?}"))
    }

    /// `user` takes responsibility for the interruption, asserting it was theirs to take.
    pub async fn take_as(&self, user: &str, interruption: &Interruption) -> Value {
        let (status, body) = self
            .post_as(user, &path(interruption, "take"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{user} taking it: {body}");
        body
    }

    /// `user` answers the interruption with `result` (`proceed`, `abort`, `retry`, `ignore`)
    /// and an optional note, asserting the answer was accepted.
    pub async fn submit_as(
        &self,
        user: &str,
        interruption: &Interruption,
        result: &str,
        note: Option<&str>,
    ) -> Value {
        let (status, body) = self.try_submit_as(user, interruption, result, note).await;
        assert_eq!(status, StatusCode::OK, "{user} answering {result}: {body}");
        body
    }

    /// An answer that may be refused: the API's reply, for the test to judge.
    pub async fn try_submit_as(
        &self,
        user: &str,
        interruption: &Interruption,
        result: &str,
        note: Option<&str>,
    ) -> (StatusCode, Value) {
        let answer = match note {
            Some(note) => json!({ "result": result, "note": note }),
            None => json!({ "result": result }),
        };
        self.post_as(user, &path(interruption, "submit"), &answer)
            .await
    }
}

fn path(interruption: &Interruption, action: &str) -> String {
    format!(
        "/api/interruptions/{}/{action}",
        interruption.interruption_id
    )
}
