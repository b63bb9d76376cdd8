//! Conformance: aliases and the per-key alias limit.

use super::*;

pub(super) async fn a_created_alias_reads_back_with_every_field(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let alias = create_alias(store, &account, "alias/payroll", key_id(0x42)).await;

    assert_eq!(
        store
            .alias(&account, &alias_name("alias/payroll"))
            .await
            .unwrap(),
        Some(alias)
    );
    assert_eq!(
        store
            .alias(&account, &alias_name("alias/payrol"))
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn creating_an_alias_with_a_taken_name_is_already_exists(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    let first = create_alias(store, &account, "alias/payroll", key_id(0x42)).await;

    let result = store
        .create_alias(&alias_record(&account, "alias/payroll", key_id(0x43)), 100)
        .await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "got {result:?}"
    );
    assert_eq!(
        store.alias(&account, &first.name).await.unwrap(),
        Some(first)
    );
}

pub(super) async fn creating_an_alias_beyond_the_per_key_limit_is_limit_exceeded(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    for name in ["alias/one", "alias/two"] {
        store
            .create_alias(&alias_record(&account, name, key_id(0x42)), 2)
            .await
            .unwrap();
    }

    let result = store
        .create_alias(&alias_record(&account, "alias/three", key_id(0x42)), 2)
        .await;
    assert!(
        matches!(result, Err(StoreError::LimitExceeded)),
        "got {result:?}"
    );
    assert_eq!(
        store
            .alias(&account, &alias_name("alias/three"))
            .await
            .unwrap(),
        None
    );

    // A taken name is reported as such even when the target is full.
    let result = store
        .create_alias(&alias_record(&account, "alias/one", key_id(0x42)), 2)
        .await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "got {result:?}"
    );

    // The limit is per key: another key still takes aliases.
    let other = alias_record(&account, "alias/three", key_id(0x43));
    store.create_alias(&other, 2).await.unwrap();
    assert_eq!(
        store.alias(&account, &other.name).await.unwrap(),
        Some(other)
    );
}

pub(super) async fn racing_alias_creations_stop_at_the_per_key_limit(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let aliases: [AliasRecord; 6] =
        std::array::from_fn(|i| alias_record(&account, &format!("alias/racer-{i}"), key_id(0x42)));

    let results = tokio::join!(
        store.create_alias(&aliases[0], 2),
        store.create_alias(&aliases[1], 2),
        store.create_alias(&aliases[2], 2),
        store.create_alias(&aliases[3], 2),
        store.create_alias(&aliases[4], 2),
        store.create_alias(&aliases[5], 2),
    );
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5,
    ];
    let (mut created, mut refused) = (0, 0);
    for result in results {
        match result {
            Ok(()) => created += 1,
            Err(StoreError::LimitExceeded) => refused += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((created, refused), (2, 4));
    let stored = store
        .list_aliases(&account, Some(key_id(0x42)), None, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
}

pub(super) async fn an_alias_for_a_key_the_account_lacks_is_not_found(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &other, key_id(0x42)).await;

    for target in [key_id(0x42), key_id(0x43)] {
        let result = store
            .create_alias(&alias_record(&account, "alias/payroll", target), 100)
            .await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "got {result:?}"
        );
    }
    assert_eq!(
        store.list_aliases(&account, None, None, 10).await.unwrap(),
        []
    );
}

pub(super) async fn updating_an_alias_moves_its_target_and_updated_at(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    let alias = create_alias(store, &account, "alias/payroll", key_id(0x42)).await;
    let now = CREATED_AT + 60_000;

    let updated = store
        .update_alias(&account, &alias.name, key_id(0x43), now)
        .await
        .unwrap();
    assert!(updated);
    let expected = AliasRecord {
        target_key_id: key_id(0x43),
        updated_at: now,
        ..alias.clone()
    };
    assert_eq!(
        store.alias(&account, &alias.name).await.unwrap(),
        Some(expected.clone())
    );

    // A target the account lacks is refused and changes nothing.
    let result = store
        .update_alias(&account, &alias.name, key_id(0x44), now + 1)
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "got {result:?}"
    );
    assert_eq!(
        store.alias(&account, &alias.name).await.unwrap(),
        Some(expected)
    );
}

pub(super) async fn updating_an_unknown_alias_returns_false(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;

    let name = alias_name("alias/payroll");
    let updated = store
        .update_alias(&account, &name, key_id(0x42), CREATED_AT)
        .await
        .unwrap();
    assert!(!updated);
    assert_eq!(store.alias(&account, &name).await.unwrap(), None);
}

pub(super) async fn deleting_an_alias_returns_true_then_false(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let kept = create_alias(store, &account, "alias/kept", key_id(0x42)).await;
    let gone = create_alias(store, &account, "alias/gone", key_id(0x42)).await;

    assert!(store.delete_alias(&account, &gone.name).await.unwrap());
    assert!(!store.delete_alias(&account, &gone.name).await.unwrap());
    assert_eq!(store.alias(&account, &gone.name).await.unwrap(), None);
    assert_eq!(
        store.list_aliases(&account, None, None, 10).await.unwrap(),
        [kept]
    );
}

pub(super) async fn aliases_are_invisible_from_another_account(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &other, key_id(0x43)).await;
    let alias = create_alias(store, &account, "alias/payroll", key_id(0x42)).await;

    assert_eq!(store.alias(&other, &alias.name).await.unwrap(), None);
    assert!(
        !store
            .update_alias(&other, &alias.name, key_id(0x43), CREATED_AT)
            .await
            .unwrap()
    );
    assert!(!store.delete_alias(&other, &alias.name).await.unwrap());
    assert_eq!(
        store.list_aliases(&other, None, None, 10).await.unwrap(),
        []
    );
    assert_eq!(
        store.alias(&account, &alias.name).await.unwrap(),
        Some(alias)
    );

    // The same name is free in the other account.
    let twin = create_alias(store, &other, "alias/payroll", key_id(0x43)).await;
    assert_eq!(store.alias(&other, &twin.name).await.unwrap(), Some(twin));
}

pub(super) async fn listing_aliases_filters_by_target_and_pages_in_name_order(store: &dyn Store) {
    let account = account(ACCOUNT);
    let (x, y) = (key_id(0x11), key_id(0x22));
    create_key(store, &account, x).await;
    create_key(store, &account, y).await;
    let mut stored = Vec::new();
    for (name, target) in [
        ("alias/e", x),
        ("alias/a", y),
        ("alias/d", x),
        ("alias/c", y),
        ("alias/b", x),
    ] {
        stored.push(create_alias(store, &account, name, target).await);
    }
    stored.sort_by(|a, b| a.name.cmp(&b.name));
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &other, key_id(0x33)).await;
    create_alias(store, &other, "alias/aa", key_id(0x33)).await;

    assert_eq!(
        store.list_aliases(&account, None, None, 10).await.unwrap(),
        stored
    );

    let names = async |target, after, limit| -> Vec<String> {
        let page = store
            .list_aliases(&account, target, after, limit)
            .await
            .unwrap();
        page.into_iter()
            .map(|alias| alias.name.as_str().to_owned())
            .collect()
    };
    assert_eq!(names(None, None, 2).await, ["alias/a", "alias/b"]);
    assert_eq!(
        names(None, Some("alias/b"), 2).await,
        ["alias/c", "alias/d"]
    );
    assert_eq!(names(None, Some("alias/d"), 2).await, ["alias/e"]);
    assert_eq!(names(None, Some("alias/e"), 2).await, Vec::<String>::new());
    assert_eq!(names(Some(x), None, 2).await, ["alias/b", "alias/d"]);
    assert_eq!(names(Some(x), Some("alias/d"), 2).await, ["alias/e"]);
    assert_eq!(names(Some(y), None, 10).await, ["alias/a", "alias/c"]);
    // `after` need not be a stored name.
    assert_eq!(
        names(Some(x), Some("alias/bb"), 10).await,
        ["alias/d", "alias/e"]
    );
}
