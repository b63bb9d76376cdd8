//! The store conformance suite: what every [`Store`] backend must do, written once over
//! `&dyn Store` and stamped out per backend by [`conformance!`].

use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::spec::{KeySpec, KeyState, KeyUsage, Origin};
use tempfile::TempDir;

use crate::{AliasRecord, KeyRecord, KeyVersion, SqliteStore, Store, StoreError};

/// Runs every conformance test against one backend. `$open` names an async fn in this module
/// that returns the store and a guard it must not outlive (a temporary directory, a database).
macro_rules! conformance {
    ($backend:ident, $open:ident) => {
        mod $backend {
            conformance!(@tests $open;
                a_created_key_reads_back_with_every_field,
                keys_are_invisible_from_another_account,
                creating_a_key_twice_fails_and_keeps_the_first,
                a_key_is_not_stored_when_its_first_version_cannot_be,
                a_key_version_reads_back_and_a_missing_version_is_none,
                listing_keys_pages_in_text_order_without_duplicates,
                a_created_alias_reads_back_with_every_field,
                creating_an_alias_with_a_taken_name_is_already_exists,
                creating_an_alias_beyond_the_per_key_limit_is_limit_exceeded,
                racing_alias_creations_stop_at_the_per_key_limit,
                an_alias_for_a_key_the_account_lacks_is_not_found,
                updating_an_alias_moves_its_target_and_updated_at,
                updating_an_unknown_alias_returns_false,
                deleting_an_alias_returns_true_then_false,
                aliases_are_invisible_from_another_account,
                listing_aliases_filters_by_target_and_pages_in_name_order,
            );
        }
    };
    (@tests $open:ident; $($test:ident,)+) => {
        $(
            #[tokio::test]
            async fn $test() {
                let (store, _guard) = super::$open().await;
                super::$test(&store).await;
            }
        )+
    };
}

conformance!(sqlite, open_sqlite);

pub(crate) const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";

/// Creation time of every fixture, chosen so that no two timestamp columns hold the same value.
const CREATED_AT: i64 = 1_700_000_000_123;

pub(crate) async fn open_sqlite() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("the temp directory is writable");
    let store = SqliteStore::open(&dir.path().join("keyshard.db"))
        .await
        .unwrap();
    (store, dir)
}

pub(crate) fn account(id: &str) -> AccountId {
    id.parse().expect("test account ids are 12 digits")
}

/// A key id whose text form is the hex of `byte` repeated, so tests know the order of ids.
pub(crate) fn key_id(byte: u8) -> KeyId {
    KeyId::from_bytes([byte; 16])
}

/// A key whose fields all differ from the usual defaults, so a swapped column shows.
pub(crate) fn key_record(account: &AccountId, key_id: KeyId) -> KeyRecord {
    KeyRecord {
        account: account.clone(),
        key_id,
        description: "payroll signing".to_owned(),
        key_spec: KeySpec::Hmac384,
        key_usage: KeyUsage::GenerateVerifyMac,
        origin: Origin::External,
        state: KeyState::PendingDeletion,
        created_at: CREATED_AT,
        deletion_date: Some(CREATED_AT + 7 * 86_400_000),
        current_version: 1,
    }
}

pub(crate) fn first_version(key_id: KeyId) -> KeyVersion {
    KeyVersion {
        key_id,
        version: 1,
        root_key_id: "root-2024".to_owned(),
        wrapped_material: vec![0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff],
        created_at: CREATED_AT + 1,
    }
}

pub(crate) fn alias_record(account: &AccountId, name: &str, target: KeyId) -> AliasRecord {
    AliasRecord {
        account: account.clone(),
        name: alias_name(name),
        target_key_id: target,
        created_at: CREATED_AT + 2,
        updated_at: CREATED_AT + 3,
    }
}

fn alias_name(name: &str) -> AliasName {
    AliasName::parse(name).expect("test alias names start with `alias/`")
}

pub(crate) async fn create_key(store: &dyn Store, account: &AccountId, key_id: KeyId) -> KeyRecord {
    let key = key_record(account, key_id);
    store
        .create_key(&key, &first_version(key_id))
        .await
        .unwrap();
    key
}

async fn create_alias(
    store: &dyn Store,
    account: &AccountId,
    name: &str,
    target: KeyId,
) -> AliasRecord {
    let alias = alias_record(account, name, target);
    store.create_alias(&alias, 100).await.unwrap();
    alias
}

async fn a_created_key_reads_back_with_every_field(store: &dyn Store) {
    let account = account(ACCOUNT);
    let key = create_key(store, &account, key_id(0x42)).await;

    assert_eq!(store.key(&account, key_id(0x42)).await.unwrap(), Some(key));
    assert_eq!(store.key(&account, key_id(0x43)).await.unwrap(), None);
}

async fn keys_are_invisible_from_another_account(store: &dyn Store) {
    let other = account(OTHER_ACCOUNT);
    create_key(store, &account(ACCOUNT), key_id(0x42)).await;

    assert_eq!(store.key(&other, key_id(0x42)).await.unwrap(), None);
    assert_eq!(
        store.key_version(&other, key_id(0x42), 1).await.unwrap(),
        None
    );
    assert_eq!(store.list_keys(&other, None, 10).await.unwrap(), []);
}

async fn creating_a_key_twice_fails_and_keeps_the_first(store: &dyn Store) {
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

async fn a_key_is_not_stored_when_its_first_version_cannot_be(store: &dyn Store) {
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

async fn a_key_version_reads_back_and_a_missing_version_is_none(store: &dyn Store) {
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

async fn listing_keys_pages_in_text_order_without_duplicates(store: &dyn Store) {
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

async fn a_created_alias_reads_back_with_every_field(store: &dyn Store) {
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

async fn creating_an_alias_with_a_taken_name_is_already_exists(store: &dyn Store) {
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

async fn creating_an_alias_beyond_the_per_key_limit_is_limit_exceeded(store: &dyn Store) {
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

async fn racing_alias_creations_stop_at_the_per_key_limit(store: &dyn Store) {
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

async fn an_alias_for_a_key_the_account_lacks_is_not_found(store: &dyn Store) {
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

async fn updating_an_alias_moves_its_target_and_updated_at(store: &dyn Store) {
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

async fn updating_an_unknown_alias_returns_false(store: &dyn Store) {
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

async fn deleting_an_alias_returns_true_then_false(store: &dyn Store) {
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

async fn aliases_are_invisible_from_another_account(store: &dyn Store) {
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

async fn listing_aliases_filters_by_target_and_pages_in_name_order(store: &dyn Store) {
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
