//! Loaded states: the state of each deployment the API last wrote, kept so the next command
//! for it (a claim, a result) need not read every step run again — the cost that grew with a
//! step's targets, a thousand rows per event. An entry is used only while the deployment's
//! row still has the state version the write gave it (`progress::save_deployment` moves it
//! on with every change of a deployment's state, whoever makes it: another API process, the
//! sweeper, an operator's command), so a stale entry is never used, only missed; a miss reads
//! the database as before. Debug builds check every hit against a fresh read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_domain::deployment::StepRun;
use ferry_domain::{DeploymentId, StepRunId};

use crate::context::DeploymentContext;

/// How many step runs (a step's own and its targets') the entries hold at most, together:
/// with a few hundred bytes each, a few tens of MiB.
const MAX_RUNS: usize = 100_000;

/// What a deployment's load reads beside its row, as of one state version.
#[derive(Debug, Clone)]
pub struct Known {
    pub state_version: i64,
    pub context: Arc<DeploymentContext>,
    pub step_run_ids: Vec<StepRunId>,
    pub target_run_ids: Vec<Vec<StepRunId>>,
    /// The steps' state as written.
    pub steps: Vec<StepRun>,
}

impl Known {
    fn runs(&self) -> usize {
        self.step_run_ids.len() + self.target_run_ids.iter().map(Vec::len).sum::<usize>()
    }
}

/// The entries, least recently used evicted first once they hold [`MAX_RUNS`] runs.
#[derive(Debug, Default)]
pub struct KnownStates {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_deployment: HashMap<DeploymentId, (u64, Known)>,
    runs: usize,
    tick: u64,
}

impl KnownStates {
    /// The entry for `deployment_id` if it is of `state_version`, the version its row has now.
    pub fn get(&self, deployment_id: DeploymentId, state_version: i64) -> Option<Known> {
        let mut entries = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.tick += 1;
        let tick = entries.tick;
        let (used, known) = entries.by_deployment.get_mut(&deployment_id)?;
        if known.state_version != state_version {
            return None;
        }
        *used = tick;
        Some(known.clone())
    }

    /// Keeps `known` once its transaction has committed; an entry of a later version (a
    /// command committed after this one) is kept instead.
    pub fn remember(&self, deployment_id: DeploymentId, known: Known) {
        let mut entries = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, kept)) = entries.by_deployment.get(&deployment_id)
            && kept.state_version > known.state_version
        {
            return;
        }
        entries.tick += 1;
        let tick = entries.tick;
        let runs = known.runs();
        if let Some((_, old)) = entries.by_deployment.insert(deployment_id, (tick, known)) {
            entries.runs -= old.runs();
        }
        entries.runs += runs;
        while entries.runs > MAX_RUNS {
            let Some(oldest) = entries
                .by_deployment
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some((_, evicted)) = entries.by_deployment.remove(&oldest) {
                entries.runs -= evicted.runs();
            }
        }
    }

    /// Drops the entry of a deployment that ended: nothing changes it any more.
    pub fn forget(&self, deployment_id: DeploymentId) {
        let mut entries = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, old)) = entries.by_deployment.remove(&deployment_id) {
            entries.runs -= old.runs();
        }
    }
}
