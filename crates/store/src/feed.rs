//! What a store reports besides its answers: the statements it sent, and the committed changes
//! that make cached copies stale, with the text form a change takes between processes.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

use crate::StoreChange;

/// How many changes a slow subscriber may fall behind before it sees `Lagged` (and should then
/// drop everything it cached, as for [`StoreChange::All`]).
const CHANGE_CAPACITY: usize = 1024;

/// A store's statement counter and change broadcast, shared by its clones and, on Postgres, its
/// listener task.
///
/// Every statement sent on a store connection counts, transaction control (`BEGIN`, `COMMIT`,
/// `ROLLBACK`) included; migrations and the Postgres listener's own connection do not.
#[derive(Debug)]
pub(crate) struct Feed {
    statements: AtomicU64,
    changes: broadcast::Sender<StoreChange>,
}

impl Feed {
    pub(crate) fn new() -> Self {
        Self {
            statements: AtomicU64::new(0),
            changes: broadcast::Sender::new(CHANGE_CAPACITY),
        }
    }

    /// Notes one statement about to be sent.
    pub(crate) fn count_statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_count_starts_at_zero_and_counts_each_note() {
        let feed = Feed::new();
        assert_eq!(feed.statements(), 0);

        feed.count_statement();
        feed.count_statement();
        assert_eq!(feed.statements(), 2);
    }
}
