//! The task that turns Postgres notices on [`CHANNEL`] into the store's change feed, and that
//! tells subscribers to drop everything whenever notices may have been missed.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;

use crate::StoreChange;
use crate::feed::Feed;

/// The notice channel every Postgres store announces its changes on (see `Driver::NOTIFY`).
pub(super) const CHANNEL: &str = "keyshard_changes";

/// The first wait after a failed attempt to listen again; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The running listener task; dropping this stops it.
#[derive(Debug)]
pub(super) struct Listener {
    task: JoinHandle<()>,
}

impl Listener {
    /// Listens on [`CHANNEL`] before returning, so that no change committed afterwards is
    /// missed, then hands the connection to a task that feeds `feed` for as long as `pool` is
    /// open.
    pub(super) async fn start(pool: PgPool, feed: Arc<Feed>) -> Result<Self, sqlx::Error> {
        let listener = listen(&pool).await?;
        let task = tokio::spawn(relay(listener, pool, feed));
        Ok(Self { task })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection then surfaces at once, and `relay` reconnects under its own backoff.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn relay(mut listener: PgListener, pool: PgPool, feed: Arc<Feed>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => {
                match StoreChange::from_notice(notice.payload()) {
                    Some(change) => feed.publish(change),
                    None => tracing::warn!(payload = notice.payload(), "malformed change notice"),
                }
                continue;
            }
            Ok(None) => tracing::warn!("change listener lost its connection"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => tracing::warn!(error = %err, "change listener failed"),
        }

        drop(listener);
        let Some(renewed) = listen_again(&pool).await else {
            return;
        };
        listener = renewed;
        // Changes committed while nobody listened were never heard of here.
        feed.publish(StoreChange::All);
    }
}

/// Listens on a fresh connection, waiting longer after each failure. `None` once the pool is
/// closed, which ends the task.
async fn listen_again(pool: &PgPool) -> Option<PgListener> {
    let mut backoff = MIN_BACKOFF;
    loop {
        match listen(pool).await {
            Ok(listener) => {
                tracing::info!("change listener connected again");
                return Some(listener);
            }
            Err(sqlx::Error::PoolClosed) => return None,
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?backoff, "change listener cannot connect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
