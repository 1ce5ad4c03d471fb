//! The deployments this notifier sent a status email for lately: an event delivered again
//! (its acknowledgement was lost with a broker connection, after the email went out) is not
//! sent twice by the same process. Other processes may still send it again; the email's
//! stable `Message-ID` (`<deployment-{id}@ferry>`) lets mail clients fold such copies.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use ferry_domain::DeploymentId;

/// How many deployments are remembered (the oldest forgotten first).
const REMEMBERED: usize = 10_000;

#[derive(Default)]
pub(crate) struct SentRecently {
    inner: Mutex<(VecDeque<DeploymentId>, HashSet<DeploymentId>)>,
}

impl SentRecently {
    pub(crate) fn contains(&self, deployment_id: DeploymentId) -> bool {
        self.inner
            .lock()
            .is_ok_and(|inner| inner.1.contains(&deployment_id))
    }

    pub(crate) fn remember(&self, deployment_id: DeploymentId) {
        if let Ok(mut inner) = self.inner.lock() {
            let (order, set) = &mut *inner;
            if set.insert(deployment_id) {
                order.push_back(deployment_id);
                if order.len() > REMEMBERED
                    && let Some(oldest) = order.pop_front()
                {
                    set.remove(&oldest);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_deployment_is_remembered_until_ten_thousand_later_ones() {
        let sent = SentRecently::default();
        let first = DeploymentId::from(uuid::Uuid::from_u128(1));
        sent.remember(first);
        assert!(sent.contains(first));
        for later in 2..=REMEMBERED as u128 {
            sent.remember(DeploymentId::from(uuid::Uuid::from_u128(later)));
        }
        assert!(sent.contains(first), "still within the last {REMEMBERED}");
        sent.remember(DeploymentId::from(uuid::Uuid::from_u128(u128::MAX)));
        assert!(
            !sent.contains(first),
            "forgotten once {REMEMBERED} later ones were sent"
        );
    }
}
