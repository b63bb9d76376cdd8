//! Tests that only the Postgres backend needs: announcements that cross from one store to
//! another, as they cross from shard to shard, and a listener that loses its connection.

use keyshard_core::spec::KeyState;
use sqlx::{Connection, PgConnection};

use super::*;
use crate::tests::{
    ACCOUNT, account, alias_record, create_key, key_id, next_change, open_postgres,
};
use crate::{Store, StoreChange};

#[tokio::test]
async fn a_change_committed_through_one_store_reaches_another_on_the_same_database() {
    let (store, database) = open_postgres().await;
    let peer = PostgresStore::connect(&database.url).await.unwrap();
    let account = account(ACCOUNT);
    create_key(&store, &account, key_id(0x42)).await;
    let mut peer_changes = peer.changes();
    let mut own_changes = store.changes();

    store
        .set_key_state(&account, key_id(0x42), KeyState::Disabled, None)
        .await
        .unwrap();
    let key = StoreChange::Key {
        account: account.clone(),
        key_id: key_id(0x42),
    };
    assert_eq!(next_change(&mut peer_changes).await, key);
    // The notice goes out with the commit, so whoever hears it reads the new state.
    let seen = peer.key(&account, key_id(0x42)).await.unwrap().unwrap();
    assert_eq!(seen.state, KeyState::Disabled);

    let alias = alias_record(&account, "alias/payroll", key_id(0x42));
    peer.create_alias(&alias, 100).await.unwrap();
    let alias = StoreChange::Alias {
        account: account.clone(),
        name: alias.name,
    };
    assert_eq!(next_change(&mut own_changes).await, key);
    assert_eq!(next_change(&mut own_changes).await, alias);
    assert_eq!(next_change(&mut peer_changes).await, alias);
}

#[tokio::test]
async fn a_listener_that_loses_its_connection_announces_all_then_relays_again() {
    let (store, database) = open_postgres().await;
    let account = account(ACCOUNT);
    create_key(&store, &account, key_id(0x42)).await;
    let mut changes = store.changes();

    // Ends the listener's session as a server restart or a network cut would.
    let mut admin = PgConnection::connect(&database.url).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query = 'LISTEN \"keyshard_changes\"'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(terminated, [true]);
    admin.close().await.unwrap();

    assert_eq!(next_change(&mut changes).await, StoreChange::All);
    store
        .set_key_state(&account, key_id(0x42), KeyState::Disabled, None)
        .await
        .unwrap();
    assert_eq!(
        next_change(&mut changes).await,
        StoreChange::Key {
            account,
            key_id: key_id(0x42),
        }
    );
}

#[tokio::test]
async fn removing_a_key_row_removes_its_tags_and_policy() {
    let (store, _database) = open_postgres().await;
    let account = account(ACCOUNT);
    let key = crate::tests::key_record(&account, key_id(0x42));
    let tags = [keyshard_core::tags::Tag {
        key: "team".to_owned(),
        value: "payments".to_owned(),
    }];
    store
        .create_key_with_policy_and_tags(
            &key,
            &crate::tests::first_version(key_id(0x42)),
            "{}",
            &tags,
        )
        .await
        .unwrap();

    for statement in ["DELETE FROM key_versions", "DELETE FROM keys"] {
        sqlx::query(statement)
            .execute(&store.core.pool)
            .await
            .unwrap();
    }
    assert_eq!(
        store.tags(&account, key_id(0x42), None, 10).await.unwrap(),
        []
    );
    assert_eq!(
        store
            .key_policy(&account, key_id(0x42), "default")
            .await
            .unwrap(),
        None
    );
}
