//! Conformance: key policies, stored and read back exactly as given.

use super::*;

/// Pretty-printed, with a tab, a carriage return and Latin-1 letters, none of which may change.
const POLICY: &str =
    "{\n\t\"Version\" : \"2012-10-17\",\r\n  \"Statement\" : [ { \"Sid\" : \"Zürich café\" } ]\n}";

pub(super) async fn a_key_created_with_a_policy_reads_it_back_byte_for_byte(store: &dyn Store) {
    let account = account(ACCOUNT);
    let key = key_record(&account, key_id(0x42));
    store
        .create_key_with_policy_and_tags(&key, &first_version(key_id(0x42)), POLICY, &[])
        .await
        .unwrap();

    assert_eq!(
        store
            .key_policy(&account, key_id(0x42), "default")
            .await
            .unwrap()
            .as_deref(),
        Some(POLICY)
    );
    assert_eq!(
        store
            .key_policy(&account, key_id(0x42), "AWS_RAM")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.tags(&account, key_id(0x42), None, 10).await.unwrap(),
        []
    );
}

pub(super) async fn a_key_created_without_a_policy_has_none_stored(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;

    assert_eq!(
        store
            .key_policy(&account, key_id(0x42), "default")
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn putting_a_policy_stores_or_replaces_it_and_announces_the_key(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    let mut changes = store.changes();

    store
        .put_key_policy(&account, key_id(0x42), "default", "{\"v\": 1}")
        .await
        .unwrap();
    store
        .put_key_policy(&account, key_id(0x42), "default", POLICY)
        .await
        .unwrap();

    assert_eq!(
        store
            .key_policy(&account, key_id(0x42), "default")
            .await
            .unwrap()
            .as_deref(),
        Some(POLICY)
    );
    assert_eq!(
        store
            .key_policy(&account, key_id(0x43), "default")
            .await
            .unwrap(),
        None
    );
    let key = StoreChange::Key {
        account: account.clone(),
        key_id: key_id(0x42),
    };
    assert_eq!(next_change(&mut changes).await, key);
    assert_eq!(next_change(&mut changes).await, key);
}

pub(super) async fn a_policy_for_a_key_the_account_lacks_is_not_found_and_not_announced(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &other, key_id(0x42)).await;
    let mut changes = store.changes();

    for key in [key_id(0x42), key_id(0x43)] {
        let result = store.put_key_policy(&account, key, "default", POLICY).await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "got {result:?}"
        );
    }
    assert_eq!(
        store
            .key_policy(&other, key_id(0x42), "default")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        changes.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    );
}

pub(super) async fn policies_are_invisible_from_another_account(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    let key = key_record(&account, key_id(0x42));
    store
        .create_key_with_policy_and_tags(&key, &first_version(key_id(0x42)), POLICY, &[])
        .await
        .unwrap();

    assert_eq!(
        store
            .key_policy(&other, key_id(0x42), "default")
            .await
            .unwrap(),
        None
    );
}
