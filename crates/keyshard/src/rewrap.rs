//! `keyshard rewrap-root-key`: re-wraps every stored key version under the active root key.

use keyshard_shard::rewrap::{RewrapError, rewrap_all};
use keyshard_store::{PostgresStore, StoreError};

use crate::config::RewrapArgs;
use crate::root_key::{self, RootKeyError};

/// Why the re-wrap could not run or finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RewrapCommandError {
    #[error(transparent)]
    RootKey(#[from] RootKeyError),

    #[error("invalid --region `{0}`")]
    Region(String),

    #[error("cannot connect to the database")]
    Connect(#[from] StoreError),

    #[error(transparent)]
    Rewrap(#[from] RewrapError),
}

pub(crate) async fn run(args: RewrapArgs) -> Result<(), RewrapCommandError> {
    let ring = root_key::ring(&args.root_keys)?;
    let region = args
        .region
        .parse()
        .map_err(|_| RewrapCommandError::Region(args.region.clone()))?;
    let store = PostgresStore::connect(&args.database_url).await?;
    let active = ring.active().id().to_owned();

    let report = rewrap_all(&store, &ring, &region, args.batch_size, |report| {
        tracing::info!(
            rewrapped = report.rewrapped,
            skipped = report.skipped,
            "re-wrapping"
        );
    })
    .await?;
    tracing::info!(
        rewrapped = report.rewrapped,
        skipped = report.skipped,
        root_key_id = %active,
        "every key version is wrapped under the active root key; previous root keys can be removed"
    );
    Ok(())
}
