//! Conformance: keys, their versions and states, and the root-key re-wrapping walk.

use super::*;

pub(super) async fn a_created_key_reads_back_with_every_field(store: &dyn Store) {
    let account = account(ACCOUNT);
    let key = create_key(store, &account, key_id(0x42)).await;

    assert_eq!(store.key(&account, key_id(0x42)).await.unwrap(), Some(key));
    assert_eq!(store.key(&account, key_id(0x43)).await.unwrap(), None);
}

pub(super) async fn keys_are_invisible_from_another_account(store: &dyn Store) {
    let other = account(OTHER_ACCOUNT);
    create_key(store, &account(ACCOUNT), key_id(0x42)).await;

    assert_eq!(store.key(&other, key_id(0x42)).await.unwrap(), None);
    assert_eq!(
        store.key_version(&other, key_id(0x42), 1).await.unwrap(),
        None
    );
    assert_eq!(store.list_keys(&other, None, 10).await.unwrap(), []);
}

pub(super) async fn creating_a_key_twice_fails_and_keeps_the_first(store: &dyn Store) {
    let account = account(ACCOUNT);
    let first = create_key(store, &account, key_id(0x42)).await;
    let second = KeyRecord {
        description: "impostor".to_owned(),
        state: KeyState::Enabled,
        ..first.clone()
    };
    let second_version = KeyVersion {
        wrapped_material: vec![0xaa; 6],
        ..first_version(key_id(0x42))
    };

    let result = store.create_key(&second, &second_version).await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "got {result:?}"
    );
    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.key_version(&account, key_id(0x42), 1).await.unwrap(),
        Some(first_version(key_id(0x42)))
    );
}

pub(super) async fn a_key_is_not_stored_when_its_first_version_cannot_be(store: &dyn Store) {
    let account = account(ACCOUNT);
    let key = key_record(&account, key_id(0x42));
    // The version names a key that does not exist, so only the second insert fails.
    let stray_version = first_version(key_id(0x43));

    let result = store.create_key(&key, &stray_version).await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "got {result:?}"
    );
    assert_eq!(store.key(&account, key_id(0x42)).await.unwrap(), None);
    assert_eq!(store.list_keys(&account, None, 10).await.unwrap(), []);
}

pub(super) async fn a_key_version_reads_back_and_a_missing_version_is_none(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;

    assert_eq!(
        store.key_version(&account, key_id(0x42), 1).await.unwrap(),
        Some(first_version(key_id(0x42)))
    );
    assert_eq!(
        store.key_version(&account, key_id(0x42), 2).await.unwrap(),
        None
    );
    assert_eq!(
        store.key_version(&account, key_id(0x43), 1).await.unwrap(),
        None
    );
}

pub(super) async fn listing_keys_pages_in_text_order_without_duplicates(store: &dyn Store) {
    let account = account(ACCOUNT);
    for byte in [0x5a, 0x01, 0xf0, 0x33, 0xa7, 0x10, 0xcc] {
        create_key(store, &account, key_id(byte)).await;
    }
    create_key(store, &self::account(OTHER_ACCOUNT), key_id(0x02)).await;

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_keys(&account, after, 3).await.unwrap();
        let Some(&last) = page.last() else { break };
        after = Some(last);
        pages.push(page);
    }
    let expected = [vec![0x01, 0x10, 0x33], vec![0x5a, 0xa7, 0xcc], vec![0xf0]];
    assert_eq!(
        pages,
        expected.map(|page| page.into_iter().map(key_id).collect::<Vec<_>>())
    );

    // `after` need not be a stored id.
    let from_gap = store
        .list_keys(&account, Some(key_id(0x40)), 2)
        .await
        .unwrap();
    assert_eq!(from_gap, [key_id(0x5a), key_id(0xa7)]);
    assert_eq!(store.list_keys(&account, None, 0).await.unwrap(), []);
}

pub(super) async fn setting_a_key_state_reads_back_and_an_unknown_key_returns_false(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    let key = create_key(store, &account, key_id(0x42)).await;

    let set = store
        .set_key_state(&account, key_id(0x42), KeyState::Enabled, None)
        .await
        .unwrap();
    assert!(set);
    let enabled = KeyRecord {
        state: KeyState::Enabled,
        deletion_date: None,
        ..key
    };
    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(enabled.clone())
    );

    for (account, key_id) in [(&account, key_id(0x43)), (&other, key_id(0x42))] {
        let set = store
            .set_key_state(account, key_id, KeyState::Disabled, Some(CREATED_AT))
            .await
            .unwrap();
        assert!(!set, "{account} {key_id}");
    }
    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(enabled)
    );
    assert_eq!(store.key(&other, key_id(0x42)).await.unwrap(), None);
}

pub(super) async fn versions_not_wrapped_under_a_root_key_page_across_accounts_in_order(
    store: &dyn Store,
) {
    let (first, second) = (account(ACCOUNT), account(OTHER_ACCOUNT));
    for byte in [0x42, 0x10, 0x77] {
        create_key(store, &first, key_id(byte)).await;
    }
    for byte in [0x55, 0x01] {
        create_key(store, &second, key_id(byte)).await;
    }
    let rewrapped = rewrapped_version(key_id(0x77), "root-2025", 0x11);
    let replaced = store
        .rewrap_version(&first, key_id(0x77), 1, "root-2024", &rewrapped)
        .await
        .unwrap();
    assert!(replaced);
    let old = |account: &AccountId, byte| AccountKeyVersion {
        account: account.clone(),
        version: first_version(key_id(byte)),
    };

    let page = store
        .versions_not_wrapped_under("root-2025", None, 2)
        .await
        .unwrap();
    assert_eq!(page, [old(&first, 0x10), old(&first, 0x42)]);
    let page = store
        .versions_not_wrapped_under("root-2025", Some((&first, key_id(0x42), 1)), 2)
        .await
        .unwrap();
    assert_eq!(page, [old(&second, 0x01), old(&second, 0x55)]);
    let page = store
        .versions_not_wrapped_under("root-2025", Some((&second, key_id(0x55), 1)), 2)
        .await
        .unwrap();
    assert_eq!(page, []);

    // `after` need not be a stored version.
    let page = store
        .versions_not_wrapped_under("root-2025", Some((&first, key_id(0x10), 7)), 1)
        .await
        .unwrap();
    assert_eq!(page, [old(&first, 0x42)]);
    let page = store
        .versions_not_wrapped_under("root-2024", None, 10)
        .await
        .unwrap();
    assert_eq!(
        page,
        [AccountKeyVersion {
            account: first,
            version: rewrapped,
        }]
    );
}

pub(super) async fn rewrapping_a_version_succeeds_once_then_refuses_the_stale_root_key(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let new = rewrapped_version(key_id(0x42), "root-2025", 0x11);
    let late = rewrapped_version(key_id(0x42), "root-2026", 0x22);

    let first = store
        .rewrap_version(&account, key_id(0x42), 1, "root-2024", &new)
        .await
        .unwrap();
    let second = store
        .rewrap_version(&account, key_id(0x42), 1, "root-2024", &late)
        .await
        .unwrap();
    assert_eq!((first, second), (true, false));
    assert_eq!(
        store.key_version(&account, key_id(0x42), 1).await.unwrap(),
        Some(new.clone())
    );

    // Another account, or a version the key lacks, has nothing to replace.
    for (account, version) in [(&other, 1), (&account, 2)] {
        let replaced = store
            .rewrap_version(account, key_id(0x42), version, "root-2025", &late)
            .await
            .unwrap();
        assert!(!replaced, "{account} version {version}");
    }
    assert_eq!(
        store.key_version(&account, key_id(0x42), 1).await.unwrap(),
        Some(new)
    );
}
