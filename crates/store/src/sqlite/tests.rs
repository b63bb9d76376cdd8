//! Tests that only the SQLite backend needs: its file, its raw rows, its pool.

use super::*;
use crate::Store;
use crate::tests::{
    ACCOUNT, account, alias_record, create_key, first_version, key_id, key_record, open_sqlite,
};

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().expect("the temp directory is writable");
    let path = dir.path().join("keyshard.db");
    let account = account(ACCOUNT);
    let store = SqliteStore::open(&path).await.unwrap();
    let key = create_key(&store, &account, key_id(0x42)).await;
    let alias = alias_record(&account, "alias/payroll", key_id(0x42));
    store.create_alias(&alias, 100).await.unwrap();
    store.core.pool.close().await;
    drop(store);

    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        reopened.key(&account, key_id(0x42)).await.unwrap(),
        Some(key)
    );
    assert_eq!(
        reopened
            .key_version(&account, key_id(0x42), 1)
            .await
            .unwrap(),
        Some(first_version(key_id(0x42)))
    );
    assert_eq!(
        reopened.alias(&account, &alias.name).await.unwrap(),
        Some(alias)
    );
}

#[tokio::test]
async fn a_row_with_an_unknown_key_spec_is_corrupt() {
    let (store, _dir) = open_sqlite().await;
    let account = account(ACCOUNT);
    create_key(&store, &account, key_id(0x42)).await;
    sqlx::query("UPDATE keys SET key_spec = 'AES_512'")
        .execute(&store.core.pool)
        .await
        .unwrap();

    match store.key(&account, key_id(0x42)).await {
        Err(StoreError::Corrupt(message)) => assert_eq!(message, "`key_spec` holds `AES_512`"),
        other => panic!("expected a corrupt row, got {other:?}"),
    }
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let (store, _dir) = open_sqlite().await;
    let account = account(ACCOUNT);
    store.core.pool.close().await;

    let read = store.key(&account, key_id(0x42)).await;
    assert!(
        matches!(read, Err(StoreError::Unavailable(sqlx::Error::PoolClosed))),
        "got {read:?}"
    );
    let key = key_record(&account, key_id(0x42));
    let write = store.create_key(&key, &first_version(key_id(0x42))).await;
    assert!(
        matches!(write, Err(StoreError::Unavailable(sqlx::Error::PoolClosed))),
        "got {write:?}"
    );
}

#[tokio::test]
async fn removing_a_key_row_removes_its_tags_and_policy() {
    let (store, _dir) = open_sqlite().await;
    let account = account(ACCOUNT);
    let key = key_record(&account, key_id(0x42));
    let tags = [keyshard_core::tags::Tag {
        key: "team".to_owned(),
        value: "payments".to_owned(),
    }];
    store
        .create_key_with_policy_and_tags(&key, &first_version(key_id(0x42)), "{}", &tags)
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
