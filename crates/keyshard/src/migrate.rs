//! `keyshard migrate`: applies pending Postgres migrations and exits.

use keyshard_store::{PostgresStore, StoreError};

use crate::config::MigrateArgs;

pub(crate) async fn run(args: MigrateArgs) -> Result<(), StoreError> {
    let store = PostgresStore::connect(&args.database_url).await?;
    store.migrate().await?;
    tracing::info!("migrations applied");
    Ok(())
}
