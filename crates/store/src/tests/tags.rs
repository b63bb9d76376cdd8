//! Conformance: tags, the per-key tag limit, and the key state a tag change is checked against.

use keyshard_core::tags::Tag;

use super::*;

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

/// The state of every fixture key (see `key_record`), which tag changes must name.
const STATE: KeyState = KeyState::PendingDeletion;

async fn all_tags(store: &dyn Store, account: &AccountId, key: KeyId) -> Vec<Tag> {
    store.tags(account, key, None, 100).await.unwrap()
}

pub(super) async fn a_key_created_with_tags_lists_them_in_tag_key_order_page_by_page(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let key = key_record(&account, key_id(0x42));
    let tags = [
        tag("team", "payments"),
        tag("Team", ""),
        tag("cost-center", "4711"),
        tag("a", "é and ü"),
    ];
    store
        .create_key_with_policy_and_tags(&key, &first_version(key_id(0x42)), "{}", &tags)
        .await
        .unwrap();

    // Byte order: upper case before lower case.
    let expected = [
        tag("Team", ""),
        tag("a", "é and ü"),
        tag("cost-center", "4711"),
        tag("team", "payments"),
    ];
    assert_eq!(all_tags(store, &account, key_id(0x42)).await, expected);
    let first = store.tags(&account, key_id(0x42), None, 2).await.unwrap();
    assert_eq!(first, expected[..2]);
    let second = store
        .tags(&account, key_id(0x42), Some("a"), 2)
        .await
        .unwrap();
    assert_eq!(second, expected[2..]);
    // `after` need not be a stored tag key.
    let from_gap = store
        .tags(&account, key_id(0x42), Some("d"), 2)
        .await
        .unwrap();
    assert_eq!(from_gap, expected[3..]);
    assert_eq!(store.key(&account, key_id(0x42)).await.unwrap(), Some(key));
}

pub(super) async fn tags_are_invisible_from_and_untouchable_by_another_account(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let tags = [tag("team", "payments")];
    assert!(
        store
            .tag_key(&account, key_id(0x42), STATE, &tags, 50)
            .await
            .unwrap()
    );

    assert_eq!(all_tags(store, &other, key_id(0x42)).await, []);
    let intruding = [tag("team", "intruder")];
    assert!(
        !store
            .tag_key(&other, key_id(0x42), STATE, &intruding, 50)
            .await
            .unwrap()
    );
    assert!(
        !store
            .untag_key(&other, key_id(0x42), STATE, &["team".to_owned()])
            .await
            .unwrap()
    );
    assert_eq!(all_tags(store, &account, key_id(0x42)).await, tags);
}

pub(super) async fn tagging_adds_tags_and_replaces_the_values_of_existing_tag_keys(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    let first = [tag("team", "payments"), tag("env", "prod")];
    store
        .tag_key(&account, key_id(0x42), STATE, &first, 50)
        .await
        .unwrap();

    let second = [tag("team", "billing"), tag("owner", "")];
    assert!(
        store
            .tag_key(&account, key_id(0x42), STATE, &second, 50)
            .await
            .unwrap()
    );
    assert_eq!(
        all_tags(store, &account, key_id(0x42)).await,
        [tag("env", "prod"), tag("owner", ""), tag("team", "billing")]
    );
    assert_eq!(all_tags(store, &account, key_id(0x43)).await, []);
}

pub(super) async fn tagging_beyond_the_per_key_limit_is_limit_exceeded_and_changes_nothing(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let existing = [tag("one", "1"), tag("two", "2")];
    store
        .tag_key(&account, key_id(0x42), STATE, &existing, 3)
        .await
        .unwrap();

    let over = [tag("one", "changed"), tag("three", "3"), tag("four", "4")];
    let result = store.tag_key(&account, key_id(0x42), STATE, &over, 3).await;
    assert!(
        matches!(result, Err(StoreError::LimitExceeded)),
        "got {result:?}"
    );
    assert_eq!(all_tags(store, &account, key_id(0x42)).await, existing);

    // Replacing values adds no tag, so it fits even at the limit.
    let at_limit = [tag("three", "3"), tag("one", "uno"), tag("two", "dos")];
    store
        .tag_key(&account, key_id(0x42), STATE, &at_limit, 3)
        .await
        .unwrap();
    let revalued = [tag("one", "eins"), tag("three", "drei"), tag("two", "zwei")];
    store
        .tag_key(&account, key_id(0x42), STATE, &revalued, 3)
        .await
        .unwrap();
    assert_eq!(all_tags(store, &account, key_id(0x42)).await, revalued);
}

pub(super) async fn racing_tag_changes_stop_at_the_per_key_limit(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let batches: [[Tag; 2]; 4] = std::array::from_fn(|i| {
        [
            tag(&format!("racer-{i}-a"), "a"),
            tag(&format!("racer-{i}-b"), "b"),
        ]
    });

    let results = tokio::join!(
        store.tag_key(&account, key_id(0x42), STATE, &batches[0], 4),
        store.tag_key(&account, key_id(0x42), STATE, &batches[1], 4),
        store.tag_key(&account, key_id(0x42), STATE, &batches[2], 4),
        store.tag_key(&account, key_id(0x42), STATE, &batches[3], 4),
    );
    let (mut applied, mut refused) = (0, 0);
    for result in [results.0, results.1, results.2, results.3] {
        match result {
            Ok(true) => applied += 1,
            Err(StoreError::LimitExceeded) => refused += 1,
            other => panic!("unexpected result: {other:?}"),
        }
    }
    assert_eq!((applied, refused), (2, 2));
    assert_eq!(all_tags(store, &account, key_id(0x42)).await.len(), 4);
}

pub(super) async fn tag_changes_on_a_key_in_another_state_or_no_key_return_false(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let mut changes = store.changes();
    let tags = [tag("team", "payments")];
    store
        .tag_key(&account, key_id(0x42), STATE, &tags, 50)
        .await
        .unwrap();
    let key = StoreChange::Key {
        account: account.clone(),
        key_id: key_id(0x42),
    };
    assert_eq!(next_change(&mut changes).await, key);

    let other_tags = [tag("env", "prod")];
    let team = ["team".to_owned()];
    for (key, state) in [
        (key_id(0x42), KeyState::Enabled),
        (key_id(0x42), KeyState::Disabled),
        (key_id(0x43), STATE),
    ] {
        assert!(
            !store
                .tag_key(&account, key, state, &other_tags, 50)
                .await
                .unwrap()
        );
        assert!(!store.untag_key(&account, key, state, &team).await.unwrap());
    }
    assert_eq!(all_tags(store, &account, key_id(0x42)).await, tags);
    // Nothing changed, so nothing was announced.
    assert_eq!(
        changes.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    );
}

pub(super) async fn untagging_removes_the_named_tag_keys_and_ignores_absent_ones(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let tags = [tag("env", "prod"), tag("owner", "ops"), tag("team", "x")];
    store
        .tag_key(&account, key_id(0x42), STATE, &tags, 50)
        .await
        .unwrap();

    let removed = ["team", "absent", "env", "team", "Owner"].map(str::to_owned);
    assert!(
        store
            .untag_key(&account, key_id(0x42), STATE, &removed)
            .await
            .unwrap()
    );
    assert_eq!(
        all_tags(store, &account, key_id(0x42)).await,
        [tag("owner", "ops")]
    );
    assert!(
        store
            .untag_key(&account, key_id(0x42), STATE, &removed)
            .await
            .unwrap()
    );
}

pub(super) async fn tag_changes_are_announced_as_key_changes(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let mut changes = store.changes();

    store
        .tag_key(&account, key_id(0x42), STATE, &[tag("team", "x")], 50)
        .await
        .unwrap();
    let full = store
        .tag_key(&account, key_id(0x42), STATE, &[tag("env", "prod")], 1)
        .await;
    assert!(
        matches!(full, Err(StoreError::LimitExceeded)),
        "got {full:?}"
    );
    store
        .untag_key(&account, key_id(0x42), STATE, &["team".to_owned()])
        .await
        .unwrap();

    let key = StoreChange::Key {
        account: account.clone(),
        key_id: key_id(0x42),
    };
    assert_eq!(next_change(&mut changes).await, key);
    assert_eq!(next_change(&mut changes).await, key);
    assert_eq!(
        changes.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    );
}

pub(super) async fn a_key_with_tags_is_not_stored_when_its_first_version_cannot_be(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let key = key_record(&account, key_id(0x42));
    let stray_version = first_version(key_id(0x43));

    let result = store
        .create_key_with_policy_and_tags(&key, &stray_version, "{}", &[tag("team", "x")])
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "got {result:?}"
    );
    assert_eq!(store.key(&account, key_id(0x42)).await.unwrap(), None);
    assert_eq!(all_tags(store, &account, key_id(0x42)).await, []);
    assert_eq!(
        store
            .key_policy(&account, key_id(0x42), "default")
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn creating_a_key_twice_keeps_the_first_tags_and_policy(store: &dyn Store) {
    let account = account(ACCOUNT);
    let key = key_record(&account, key_id(0x42));
    let version = first_version(key_id(0x42));
    let first = [tag("team", "payments")];
    store
        .create_key_with_policy_and_tags(&key, &version, "{\"first\": 1}", &first)
        .await
        .unwrap();

    let result = store
        .create_key_with_policy_and_tags(&key, &version, "{}", &[tag("team", "impostor")])
        .await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "got {result:?}"
    );
    assert_eq!(all_tags(store, &account, key_id(0x42)).await, first);
    assert_eq!(
        store
            .key_policy(&account, key_id(0x42), "default")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"first\": 1}")
    );
}
