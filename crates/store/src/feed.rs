//! What a store reports besides its answers: the statements it sent, and the committed changes
//! that make cached copies stale, with the text form a change takes between processes.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use keyshard_core::histogram::Histogram;
use keyshard_core::id::{AccountId, AliasName, KeyId};
use tokio::sync::broadcast;

use crate::StoreChange;

/// How many changes a slow subscriber may fall behind before it sees `Lagged` (and should then
/// drop everything it cached, as for [`StoreChange::All`]).
const CHANGE_CAPACITY: usize = 1024;

/// A store's statement counter and timings and its change broadcast, shared by its clones and,
/// on Postgres, its listener task.
///
/// Every statement sent on a store connection counts, transaction control (`BEGIN`, `COMMIT`,
/// `ROLLBACK`) included; migrations and the Postgres listener's own connection do not.
#[derive(Debug)]
pub(crate) struct Feed {
    statements: AtomicU64,
    /// From sending a statement to having its answer, waiting for a pooled connection included.
    durations: Mutex<Histogram>,
    changes: broadcast::Sender<StoreChange>,
}

impl Feed {
    pub(crate) fn new() -> Self {
        Self {
            statements: AtomicU64::new(0),
            durations: Mutex::new(Histogram::default()),
            changes: broadcast::Sender::new(CHANGE_CAPACITY),
        }
    }

    /// Sends one statement, `sending` its future: counts it, and times it until its answer.
    pub(crate) async fn statement<F: Future>(&self, sending: F) -> F::Output {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let started = tokio::time::Instant::now();
        let answer = sending.await;
        self.durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(started.elapsed());
        answer
    }

    pub(crate) fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub(crate) fn durations(&self) -> Histogram {
        self.durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn publish(&self, change: StoreChange) {
        // With no subscriber nobody holds a cached copy, so the change has no one to reach.
        let _ = self.changes.send(change);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.changes.subscribe()
    }
}

impl StoreChange {
    /// The change as a notice payload: `key:<account>:<key id>` or `alias:<account>:<alias>`.
    /// Neither accounts (digits) nor alias names (letters, digits, `/_-`) contain a colon.
    pub(crate) fn to_notice(&self) -> String {
        match self {
            Self::Key { account, key_id } => format!("key:{account}:{key_id}"),
            Self::Alias { account, name } => format!("alias:{account}:{}", name.as_str()),
            Self::All => "all".to_owned(),
        }
    }

    /// Reads a payload written by [`StoreChange::to_notice`]; `None` for anything else.
    pub(crate) fn from_notice(notice: &str) -> Option<Self> {
        if notice == "all" {
            return Some(Self::All);
        }
        let mut parts = notice.splitn(3, ':');
        let (kind, account, subject) = (parts.next()?, parts.next()?, parts.next()?);
        let account: AccountId = account.parse().ok()?;
        match kind {
            "key" => Some(Self::Key {
                account,
                key_id: KeyId::parse(subject)?,
            }),
            "alias" => Some(Self::Alias {
                account,
                name: AliasName::parse(subject).ok()?,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn account() -> AccountId {
        "111122223333"
            .parse()
            .expect("the test account is 12 digits")
    }

    #[test]
    fn every_change_survives_its_notice_form() {
        let changes = [
            StoreChange::Key {
                account: account(),
                key_id: KeyId::from_bytes([0xab; 16]),
            },
            StoreChange::Alias {
                account: account(),
                name: AliasName::parse("alias/payroll/2024_q1-x").expect("a valid alias name"),
            },
            StoreChange::All,
        ];

        for change in changes {
            assert_eq!(StoreChange::from_notice(&change.to_notice()), Some(change));
        }
        assert_eq!(
            StoreChange::Key {
                account: account(),
                key_id: KeyId::from_bytes([0xab; 16])
            }
            .to_notice(),
            "key:111122223333:abababab-abab-abab-abab-abababababab"
        );
    }

    #[test]
    fn malformed_notices_are_refused() {
        for notice in [
            "",
            "key",
            "key:111122223333",
            "key:1111:abababab-abab-abab-abab-abababababab",
            "key:111122223333:not-a-key-id",
            "alias:111122223333:payroll",
            "grant:111122223333:x",
            "ALL",
        ] {
            assert_eq!(StoreChange::from_notice(notice), None, "{notice:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_statement_is_counted_and_timed_until_its_answer() {
        let feed = Feed::new();
        assert_eq!(feed.statements(), 0);

        feed.statement(tokio::time::sleep(Duration::from_millis(3)))
            .await;
        feed.statement(async {}).await;
        assert_eq!(feed.statements(), 2);
        let mut expected = Histogram::default();
        expected.observe(Duration::from_millis(3));
        expected.observe(Duration::ZERO);
        assert_eq!(feed.durations(), expected);
    }
}
