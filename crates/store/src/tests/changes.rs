//! Conformance: the change feed and the statement count.

use super::*;

pub(super) async fn committed_changes_are_announced_in_order_and_refused_ones_are_not(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    let mut changes = store.changes();
    let name = alias_name("alias/payroll");
    let now = CREATED_AT + 60_000;

    store
        .create_alias(&alias_record(&account, "alias/payroll", key_id(0x42)), 1)
        .await
        .unwrap();
    // Refused, rolled back or matching no row: none of these is announced.
    let full = store
        .create_alias(&alias_record(&account, "alias/other", key_id(0x42)), 1)
        .await;
    assert!(
        matches!(full, Err(StoreError::LimitExceeded)),
        "got {full:?}"
    );
    let unknown = alias_name("alias/unknown");
    assert!(
        !store
            .update_alias(&account, &unknown, key_id(0x42), now)
            .await
            .unwrap()
    );
    assert!(!store.delete_alias(&account, &unknown).await.unwrap());
    assert!(
        !store
            .set_key_state(&account, key_id(0x44), KeyState::Disabled, None)
            .await
            .unwrap()
    );
    store
        .set_key_state(&account, key_id(0x42), KeyState::Disabled, None)
        .await
        .unwrap();
    store
        .update_alias(&account, &name, key_id(0x43), now)
        .await
        .unwrap();
    store.delete_alias(&account, &name).await.unwrap();
    let new = rewrapped_version(key_id(0x43), "root-2025", 0x11);
    store
        .rewrap_version(&account, key_id(0x43), 1, "root-2024", &new)
        .await
        .unwrap();

    let alias = StoreChange::Alias {
        account: account.clone(),
        name,
    };
    let key = |key_id| StoreChange::Key {
        account: account.clone(),
        key_id,
    };
    let expected = [
        alias.clone(),
        key(key_id(0x42)),
        alias.clone(),
        alias,
        key(key_id(0x43)),
    ];
    for expected in expected {
        assert_eq!(next_change(&mut changes).await, expected);
    }
    assert_eq!(
        changes.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    );
}

pub(super) async fn every_statement_counts_toward_the_query_count(store: &dyn Store) {
    let account = account(ACCOUNT);

    let (before, timed) = (store.query_count(), store.query_durations().count());
    store.key(&account, key_id(0x42)).await.unwrap();
    assert_eq!(store.query_count(), before + 1);
    assert_eq!(store.query_durations().count(), timed + 1);

    // BEGIN, two inserts, COMMIT.
    let (before, timed) = (store.query_count(), store.query_durations().count());
    create_key(store, &account, key_id(0x42)).await;
    assert_eq!(store.query_count(), before + 4);
    assert_eq!(store.query_durations().count(), timed + 4);
}

pub(super) async fn a_ping_succeeds_and_is_not_counted_as_a_query(store: &dyn Store) {
    let (before, timed) = (store.query_count(), store.query_durations().count());
    store.ping().await.unwrap();
    assert_eq!(store.query_count(), before);
    assert_eq!(store.query_durations().count(), timed);
}
