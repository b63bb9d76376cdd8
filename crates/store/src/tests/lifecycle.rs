//! Conformance: guarded state changes, descriptions, and the deletion of keys whose waiting
//! period is over.

use super::*;

/// The `now` of the deletion tests: a week after the fixtures were created.
const NOW: i64 = CREATED_AT + 7 * 86_400_000;

/// A key pending deletion on `deletion_date`, or a disabled key without one.
async fn key_deleted_on(
    store: &dyn Store,
    account: &AccountId,
    byte: u8,
    deletion_date: Option<i64>,
) -> KeyRecord {
    let key = KeyRecord {
        state: if deletion_date.is_some() {
            KeyState::PendingDeletion
        } else {
            KeyState::Disabled
        },
        deletion_date,
        ..key_record(account, key_id(byte))
    };
    store
        .create_key(&key, &first_version(key_id(byte)))
        .await
        .unwrap();
    key
}

/// CancelKeyDeletion's change: a key pending deletion becomes disabled. Whether it did.
async fn cancel(store: &dyn Store, account: &AccountId, byte: u8) -> bool {
    store
        .set_key_state_if(
            account,
            key_id(byte),
            KeyState::PendingDeletion,
            KeyState::Disabled,
            None,
        )
        .await
        .unwrap()
}

async fn aliases_of(store: &dyn Store, account: &AccountId, byte: u8) -> Vec<AliasRecord> {
    store
        .list_aliases(account, Some(key_id(byte)), None, 100)
        .await
        .unwrap()
}

pub(super) async fn a_guarded_state_change_happens_only_from_the_expected_state(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    let key = create_key(store, &account, key_id(0x42)).await;

    let from_enabled = store
        .set_key_state_if(
            &account,
            key_id(0x42),
            KeyState::Enabled,
            KeyState::Disabled,
            None,
        )
        .await
        .unwrap();
    assert!(!from_enabled);
    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(key.clone())
    );

    let cancelled = cancel(store, &account, 0x42).await;
    assert!(cancelled);
    let disabled = KeyRecord {
        state: KeyState::Disabled,
        deletion_date: None,
        ..key
    };
    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(disabled.clone())
    );

    for (account, key_id) in [(&account, key_id(0x43)), (&other, key_id(0x42))] {
        let set = store
            .set_key_state_if(
                account,
                key_id,
                KeyState::Disabled,
                KeyState::PendingDeletion,
                Some(NOW),
            )
            .await
            .unwrap();
        assert!(!set, "{account} {key_id}");
    }
    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(disabled)
    );
}

pub(super) async fn a_description_changes_only_from_the_expected_state(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    let key = create_key(store, &account, key_id(0x42)).await;

    let refused = store
        .update_key_description(&account, key_id(0x42), KeyState::Enabled, "new")
        .await
        .unwrap();
    assert!(!refused);
    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(key.clone())
    );

    for description in ["quarterly payroll, 2025 – ünïcode", ""] {
        let updated = store
            .update_key_description(&account, key_id(0x42), key.state, description)
            .await
            .unwrap();
        assert!(updated);
        assert_eq!(
            store.key(&account, key_id(0x42)).await.unwrap(),
            Some(KeyRecord {
                description: description.to_owned(),
                ..key.clone()
            })
        );
    }

    for (account, key_id) in [(&account, key_id(0x43)), (&other, key_id(0x42))] {
        let updated = store
            .update_key_description(account, key_id, key.state, "stray")
            .await
            .unwrap();
        assert!(!updated, "{account} {key_id}");
    }
    assert_eq!(
        store.key(&other, key_id(0x42)).await.unwrap(),
        None,
        "no key appears in another account"
    );
}

pub(super) async fn due_keys_are_deleted_with_their_versions_and_aliases(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    key_deleted_on(store, &account, 0x01, Some(NOW)).await;
    key_deleted_on(store, &account, 0x02, Some(NOW - 1)).await;
    let later = key_deleted_on(store, &account, 0x03, Some(NOW + 1)).await;
    let disabled = key_deleted_on(store, &account, 0x04, None).await;
    key_deleted_on(store, &other, 0x05, Some(NOW - 2)).await;
    for (name, byte) in [("alias/a", 0x01), ("alias/b", 0x01), ("alias/c", 0x03)] {
        create_alias(store, &account, name, key_id(byte)).await;
    }
    create_alias(store, &other, "alias/a", key_id(0x05)).await;

    let deleted = store.delete_due_keys(NOW, 10).await.unwrap();
    assert_eq!(
        deleted,
        [
            (other.clone(), key_id(0x05)),
            (account.clone(), key_id(0x02)),
            (account.clone(), key_id(0x01)),
        ]
    );
    for (account, byte) in [(&account, 0x01), (&account, 0x02), (&other, 0x05)] {
        assert_eq!(store.key(account, key_id(byte)).await.unwrap(), None);
        assert_eq!(
            store.key_version(account, key_id(byte), 1).await.unwrap(),
            None
        );
        assert_eq!(aliases_of(store, account, byte).await, []);
    }

    // Keys not yet due, or not pending deletion, stay whole.
    assert_eq!(
        store.key(&account, key_id(0x03)).await.unwrap(),
        Some(later)
    );
    assert_eq!(
        store.key(&account, key_id(0x04)).await.unwrap(),
        Some(disabled)
    );
    assert_eq!(
        store.key_version(&account, key_id(0x03), 1).await.unwrap(),
        Some(first_version(key_id(0x03)))
    );
    assert_eq!(
        aliases_of(store, &account, 0x03).await,
        [alias_record(&account, "alias/c", key_id(0x03))]
    );
    assert_eq!(store.delete_due_keys(NOW, 10).await.unwrap(), []);
    assert_eq!(
        store.delete_due_keys(NOW + 1, 10).await.unwrap(),
        [(account.clone(), key_id(0x03))]
    );
}

pub(super) async fn due_keys_are_deleted_earliest_first_up_to_the_limit(store: &dyn Store) {
    let account = account(ACCOUNT);
    for (byte, days_ago) in [(0x01, 1), (0x02, 3), (0x03, 2)] {
        key_deleted_on(store, &account, byte, Some(NOW - days_ago * 86_400_000)).await;
    }

    let first = store.delete_due_keys(NOW, 2).await.unwrap();
    assert_eq!(
        first,
        [
            (account.clone(), key_id(0x02)),
            (account.clone(), key_id(0x03))
        ]
    );
    let rest = store.delete_due_keys(NOW, 2).await.unwrap();
    assert_eq!(rest, [(account.clone(), key_id(0x01))]);
    assert_eq!(store.list_keys(&account, None, 10).await.unwrap(), []);
}

pub(super) async fn racing_deletions_delete_each_key_once(store: &dyn Store) {
    let account = account(ACCOUNT);
    let bytes: Vec<u8> = (1..=12).collect();
    for &byte in &bytes {
        key_deleted_on(store, &account, byte, Some(NOW - i64::from(byte))).await;
        create_alias(store, &account, &format!("alias/k{byte}"), key_id(byte)).await;
    }

    let results = tokio::join!(
        store.delete_due_keys(NOW, 5),
        store.delete_due_keys(NOW, 5),
        store.delete_due_keys(NOW, 100),
        store.delete_due_keys(NOW, 100),
    );
    let mut deleted: Vec<KeyId> = [results.0, results.1, results.2, results.3]
        .into_iter()
        .flat_map(|result| result.unwrap())
        .map(|(account, key_id)| {
            assert_eq!(account.as_str(), ACCOUNT);
            key_id
        })
        .collect();
    deleted.sort_unstable();
    assert_eq!(deleted, bytes.into_iter().map(key_id).collect::<Vec<_>>());
    assert_eq!(store.list_keys(&account, None, 100).await.unwrap(), []);
    assert_eq!(
        store.list_aliases(&account, None, None, 100).await.unwrap(),
        []
    );
}

pub(super) async fn a_deletion_racing_a_cancellation_leaves_one_outcome(store: &dyn Store) {
    let account = account(ACCOUNT);
    let key = key_deleted_on(store, &account, 0x42, Some(NOW)).await;

    let (deleted, cancelled) = tokio::join!(
        store.delete_due_keys(NOW, 10),
        cancel(store, &account, 0x42),
    );
    let stored = store.key(&account, key_id(0x42)).await.unwrap();
    match (deleted.unwrap().as_slice(), cancelled) {
        ([], true) => assert_eq!(
            stored,
            Some(KeyRecord {
                state: KeyState::Disabled,
                deletion_date: None,
                ..key
            })
        ),
        ([(_, id)], false) => {
            assert_eq!(*id, key_id(0x42));
            assert_eq!(stored, None);
        }
        other => panic!("both or neither happened: {other:?}"),
    }

    // Once cancelled, a key is not deleted however late it gets.
    key_deleted_on(store, &account, 0x43, Some(NOW)).await;
    let cancelled = cancel(store, &account, 0x43).await;
    assert!(cancelled);
    assert_eq!(store.delete_due_keys(i64::MAX, 10).await.unwrap(), []);
}

pub(super) async fn deleted_keys_and_their_aliases_are_announced(store: &dyn Store) {
    let account = account(ACCOUNT);
    key_deleted_on(store, &account, 0x01, Some(NOW)).await;
    key_deleted_on(store, &account, 0x02, Some(NOW + 1)).await;
    // Subscribed first: on Postgres the creations' notices may still be on their way.
    let mut changes = store.changes();
    for name in ["alias/a", "alias/b"] {
        create_alias(store, &account, name, key_id(0x01)).await;
    }

    // Nothing changes, so nothing is announced.
    assert_eq!(store.delete_due_keys(NOW - 1, 10).await.unwrap(), []);
    let refused = store
        .update_key_description(&account, key_id(0x02), KeyState::Enabled, "x")
        .await
        .unwrap();
    assert!(!refused);

    store
        .update_key_description(&account, key_id(0x02), KeyState::PendingDeletion, "x")
        .await
        .unwrap();
    cancel(store, &account, 0x02).await;
    store.delete_due_keys(NOW, 10).await.unwrap();

    let key = |byte| StoreChange::Key {
        account: account.clone(),
        key_id: key_id(byte),
    };
    let alias = |name| StoreChange::Alias {
        account: account.clone(),
        name: alias_name(name),
    };
    for expected in [
        alias("alias/a"),
        alias("alias/b"),
        key(0x02),
        key(0x02),
        key(0x01),
    ] {
        assert_eq!(next_change(&mut changes).await, expected);
    }
    let mut aliases = Vec::new();
    for _ in 0..2 {
        match next_change(&mut changes).await {
            StoreChange::Alias { account: a, name } if a == account => {
                aliases.push(name.as_str().to_owned());
            }
            other => panic!("expected an alias of the deleted key, got {other:?}"),
        }
    }
    aliases.sort();
    assert_eq!(aliases, ["alias/a", "alias/b"]);
    assert_eq!(
        changes.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    );
}
