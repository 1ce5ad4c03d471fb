//! Loaded states: the state of each deployment the API last wrote, kept so the next command
//! for it (a claim, a result) need not read every step run again — the cost that grew with a
//! step's targets, a thousand rows per event. An entry is used only while the deployment's
//! row still has the state version the write gave it (`progress::save_deployment` moves it
//! on with every change of a deployment's state, whoever makes it: another API process, the
//! sweeper, a command of a person), so a stale entry is never used, only missed; a miss reads
//! the database as before. Debug builds check every hit against a fresh read.

use std::collections::HashMap;
use std::sync::Mutex;

use ferry_domain::deployment::StepRun;
use ferry_domain::{DeploymentId, StepRunId};

/// How many step runs (a step's own and its targets') the entries hold at most, together:
/// with a few hundred bytes each, a few tens of MiB.
const MAX_RUNS: usize = 100_000;

/// What a deployment's load reads of its step runs, as of one state version. What else a
/// command needs (its row, the release and the names of its project and environment, which
/// a person may change meanwhile, the open question) is read every time.
#[derive(Debug, Clone)]
pub struct Known {
    pub state_version: i64,
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

#[cfg(test)]
mod tests {
    use super::{Known, KnownStates, MAX_RUNS};
    use ferry_domain::{DeploymentId, StepRunId};
    use uuid::Uuid;

    fn known(state_version: i64, runs: usize) -> Known {
        Known {
            state_version,
            step_run_ids: (0..runs)
                .map(|_| StepRunId::from_uuid(Uuid::now_v7()))
                .collect(),
            target_run_ids: Vec::new(),
            steps: Vec::new(),
        }
    }

    fn deployment() -> DeploymentId {
        DeploymentId::from_uuid(Uuid::now_v7())
    }

    #[test]
    fn an_entry_is_used_only_at_the_version_it_was_kept_at() {
        let states = KnownStates::default();
        let id = deployment();
        states.remember(id, known(3, 1));
        assert!(states.get(id, 2).is_none(), "an older row: not ours");
        assert!(
            states.get(id, 4).is_none(),
            "a newer row: someone wrote since"
        );
        assert_eq!(states.get(id, 3).map(|kept| kept.state_version), Some(3));
    }

    #[test]
    fn a_later_version_is_never_replaced_by_an_earlier_one_and_forget_drops_it() {
        let states = KnownStates::default();
        let id = deployment();
        states.remember(id, known(5, 1));
        states.remember(id, known(4, 1)); // a command that committed first, kept last
        assert!(states.get(id, 4).is_none());
        assert!(states.get(id, 5).is_some());
        states.forget(id);
        assert!(states.get(id, 5).is_none());
    }

    #[test]
    fn the_least_recently_used_goes_once_the_runs_are_over_the_bound() {
        let states = KnownStates::default();
        let (old, used, new) = (deployment(), deployment(), deployment());
        states.remember(old, known(1, MAX_RUNS / 3));
        states.remember(used, known(1, MAX_RUNS / 3));
        assert!(states.get(used, 1).is_some()); // `old` is now the least recently used
        states.remember(new, known(1, MAX_RUNS / 2));
        assert!(states.get(old, 1).is_none(), "evicted");
        assert!(states.get(used, 1).is_some());
        assert!(states.get(new, 1).is_some());
    }
}
