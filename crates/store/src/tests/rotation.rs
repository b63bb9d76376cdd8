//! Conformance: rotation schedules, new backing versions on demand and on schedule, the
//! listing of a key's versions and the walk over keys due for rotation.

use keyshard_core::rotation::{RotationSchedule, RotationType};

use super::*;
use crate::{DueRotation, KeyRotation, Millis, RotationTrigger};

const DAY: i64 = 86_400_000;

/// Version `version` of `key_id` as a rotation at `at` would store it.
fn rotated_version(key_id: KeyId, version: u32, at: Millis) -> KeyVersion {
    KeyVersion {
        key_id,
        version,
        root_key_id: "root-2024".to_owned(),
        wrapped_material: vec![u8::try_from(version).unwrap_or(0xff); 6],
        created_at: at,
    }
}

fn on_demand(limit: u32) -> RotationTrigger {
    RotationTrigger::OnDemand { limit }
}

/// A key of the fixture's shape, but Enabled, as rotation and its walk expect.
async fn create_enabled_key(store: &dyn Store, account: &AccountId, key_id: KeyId) -> KeyRecord {
    let key = KeyRecord {
        state: KeyState::Enabled,
        deletion_date: None,
        ..key_record(account, key_id)
    };
    store
        .create_key(&key, &first_version(key_id))
        .await
        .unwrap();
    key
}

pub(super) async fn enabling_rotation_starts_a_schedule_and_a_new_period_keeps_its_start(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    assert_eq!(
        store
            .rotation_schedule(&account, key_id(0x42))
            .await
            .unwrap(),
        None
    );

    store
        .enable_key_rotation(&account, key_id(0x42), 365, CREATED_AT)
        .await
        .unwrap();
    let schedule = |period_days, next_rotation_at| {
        Some(RotationSchedule {
            period_days,
            next_rotation_at,
        })
    };
    assert_eq!(
        store
            .rotation_schedule(&account, key_id(0x42))
            .await
            .unwrap(),
        schedule(365, CREATED_AT + 365 * DAY)
    );

    // Enabling again changes the period of the schedule begun at CREATED_AT, longer or shorter.
    for period in [2560, 90] {
        store
            .enable_key_rotation(&account, key_id(0x42), period, CREATED_AT + 10 * DAY)
            .await
            .unwrap();
        assert_eq!(
            store
                .rotation_schedule(&account, key_id(0x42))
                .await
                .unwrap(),
            schedule(period, CREATED_AT + i64::from(period) * DAY)
        );
    }
    assert_eq!(
        store.rotation_schedule(&other, key_id(0x42)).await.unwrap(),
        None
    );

    assert!(
        store
            .disable_key_rotation(&account, key_id(0x42))
            .await
            .unwrap()
    );
    assert!(
        !store
            .disable_key_rotation(&account, key_id(0x42))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .rotation_schedule(&account, key_id(0x42))
            .await
            .unwrap(),
        None
    );

    // Off, then on again: a new schedule from the new enabling.
    store
        .enable_key_rotation(&account, key_id(0x42), 180, CREATED_AT + 20 * DAY)
        .await
        .unwrap();
    assert_eq!(
        store
            .rotation_schedule(&account, key_id(0x42))
            .await
            .unwrap(),
        schedule(180, CREATED_AT + 200 * DAY)
    );
}

pub(super) async fn enabling_rotation_of_a_key_the_account_lacks_is_not_found(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &other, key_id(0x42)).await;

    for key_id in [key_id(0x42), key_id(0x43)] {
        let result = store
            .enable_key_rotation(&account, key_id, 365, CREATED_AT)
            .await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{key_id}: got {result:?}"
        );
        assert!(!store.disable_key_rotation(&account, key_id).await.unwrap());
    }
    assert_eq!(
        store.rotation_schedule(&other, key_id(0x42)).await.unwrap(),
        None
    );
}

pub(super) async fn rotating_on_demand_adds_a_current_version_once_and_announces_it(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    let key = create_key(store, &account, key_id(0x42)).await;
    let mut changes = store.changes();
    let second = rotated_version(key_id(0x42), 2, CREATED_AT + DAY);

    // Another account, another state, or a version that does not follow the current one.
    let refused = [
        (&other, &second, key.state),
        (&account, &second, KeyState::Enabled),
        (
            &account,
            &rotated_version(key_id(0x42), 3, CREATED_AT + DAY),
            key.state,
        ),
    ];
    for (account, version, state) in refused {
        let rotated = store
            .rotate_key(account, version, state, on_demand(25))
            .await
            .unwrap();
        assert!(!rotated, "{account} version {} {state}", version.version);
    }

    let rotated = store
        .rotate_key(&account, &second, key.state, on_demand(25))
        .await
        .unwrap();
    assert!(rotated);
    let again = store
        .rotate_key(&account, &second, key.state, on_demand(25))
        .await
        .unwrap();
    assert!(!again);

    assert_eq!(
        store.key(&account, key_id(0x42)).await.unwrap(),
        Some(KeyRecord {
            current_version: 2,
            ..key
        })
    );
    assert_eq!(
        store.key_version(&account, key_id(0x42), 2).await.unwrap(),
        Some(second)
    );
    assert_eq!(
        store.key_version(&account, key_id(0x42), 1).await.unwrap(),
        Some(first_version(key_id(0x42)))
    );
    assert_eq!(
        next_change(&mut changes).await,
        StoreChange::Key {
            account,
            key_id: key_id(0x42),
        }
    );
    assert!(
        changes.try_recv().is_err(),
        "only the rotation is announced"
    );
}

pub(super) async fn on_demand_rotations_stop_at_the_limit_and_automatic_ones_do_not_count(
    store: &dyn Store,
) {
    let owner = account(ACCOUNT);
    let account = &owner;
    let key = create_enabled_key(store, account, key_id(0x42)).await;
    store
        .enable_key_rotation(account, key_id(0x42), 90, CREATED_AT)
        .await
        .unwrap();
    let due = CREATED_AT + 90 * DAY;
    let rotate = |version, trigger| {
        let version = rotated_version(key_id(0x42), version, due);
        async move {
            store
                .rotate_key(account, &version, KeyState::Enabled, trigger)
                .await
        }
    };

    assert!(rotate(2, RotationTrigger::Automatic).await.unwrap());
    assert!(rotate(3, on_demand(2)).await.unwrap());
    assert!(rotate(4, on_demand(2)).await.unwrap());
    let over = rotate(5, on_demand(2)).await;
    assert!(
        matches!(over, Err(StoreError::LimitExceeded)),
        "got {over:?}"
    );
    assert_eq!(
        store.key(account, key_id(0x42)).await.unwrap(),
        Some(KeyRecord {
            current_version: 4,
            ..key
        })
    );
    assert_eq!(
        store.key_version(account, key_id(0x42), 5).await.unwrap(),
        None
    );
    // A higher limit lets the same rotation through.
    assert!(rotate(5, on_demand(3)).await.unwrap());
}

pub(super) async fn automatic_rotation_happens_only_when_due_and_moves_the_schedule(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_enabled_key(store, &account, key_id(0x42)).await;
    create_enabled_key(store, &account, key_id(0x43)).await;
    store
        .enable_key_rotation(&account, key_id(0x42), 90, CREATED_AT)
        .await
        .unwrap();
    let due = CREATED_AT + 90 * DAY;
    let automatic = |key_id, version, at| {
        let version = rotated_version(key_id, version, at);
        let account = &account;
        async move {
            store
                .rotate_key(
                    account,
                    &version,
                    KeyState::Enabled,
                    RotationTrigger::Automatic,
                )
                .await
                .unwrap()
        }
    };

    assert!(!automatic(key_id(0x42), 2, due - 1).await, "not yet due");
    assert!(
        !automatic(key_id(0x43), 2, due).await,
        "a key without a schedule"
    );
    assert!(automatic(key_id(0x42), 2, due + 5).await);
    assert_eq!(
        store
            .rotation_schedule(&account, key_id(0x42))
            .await
            .unwrap(),
        Some(RotationSchedule {
            period_days: 90,
            next_rotation_at: due + 5 + 90 * DAY,
        })
    );
    assert!(
        !automatic(key_id(0x42), 3, due + 5).await,
        "due again only a period later"
    );
    assert!(automatic(key_id(0x42), 3, due + 5 + 90 * DAY).await);
    assert_eq!(
        store
            .key(&account, key_id(0x42))
            .await
            .unwrap()
            .map(|key| key.current_version),
        Some(3)
    );

    // A disabled key is not rotated, even when due.
    store
        .set_key_state(&account, key_id(0x42), KeyState::Disabled, None)
        .await
        .unwrap();
    assert!(!automatic(key_id(0x42), 4, due + 365 * DAY).await);
}

pub(super) async fn racing_rotations_of_one_key_add_exactly_one_version(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_enabled_key(store, &account, key_id(0x42)).await;
    store
        .enable_key_rotation(&account, key_id(0x42), 90, CREATED_AT)
        .await
        .unwrap();
    let at = CREATED_AT + 90 * DAY;
    let versions: [KeyVersion; 4] = std::array::from_fn(|_| rotated_version(key_id(0x42), 2, at));
    let rotate = |version, trigger| store.rotate_key(&account, version, KeyState::Enabled, trigger);

    let results = tokio::join!(
        rotate(&versions[0], RotationTrigger::Automatic),
        rotate(&versions[1], RotationTrigger::Automatic),
        rotate(&versions[2], on_demand(25)),
        rotate(&versions[3], on_demand(25)),
    );
    let rotated = [results.0, results.1, results.2, results.3]
        .into_iter()
        .map(|result| result.unwrap())
        .filter(|rotated| *rotated)
        .count();
    assert_eq!(rotated, 1);
    let listed = store
        .list_key_rotations(&account, key_id(0x42), None, true, 10)
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|r| r.version).collect::<Vec<_>>(), [1, 2]);
}

pub(super) async fn listing_key_rotations_pages_in_version_order_with_or_without_the_first(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_enabled_key(store, &account, key_id(0x42)).await;
    create_enabled_key(store, &account, key_id(0x43)).await;
    store
        .enable_key_rotation(&account, key_id(0x42), 90, CREATED_AT)
        .await
        .unwrap();
    let automatic_at = CREATED_AT + 90 * DAY;
    let triggers = [
        (2, on_demand(25), CREATED_AT + DAY),
        (3, RotationTrigger::Automatic, automatic_at),
        (4, on_demand(25), automatic_at + DAY),
    ];
    for (version, trigger, at) in triggers {
        let version = rotated_version(key_id(0x42), version, at);
        assert!(
            store
                .rotate_key(&account, &version, KeyState::Enabled, trigger)
                .await
                .unwrap()
        );
    }
    let entry = |version, created_at, rotation_type| KeyRotation {
        version,
        created_at,
        rotation_type,
    };
    let first = entry(1, CREATED_AT + 1, None);
    let second = entry(2, CREATED_AT + DAY, Some(RotationType::OnDemand));
    let third = entry(3, automatic_at, Some(RotationType::Automatic));
    let fourth = entry(4, automatic_at + DAY, Some(RotationType::OnDemand));
    let list = |after, include_first, limit| {
        store.list_key_rotations(&account, key_id(0x42), after, include_first, limit)
    };

    assert_eq!(
        list(None, true, 10).await.unwrap(),
        [first.clone(), second.clone(), third.clone(), fourth.clone()]
    );
    assert_eq!(
        list(None, false, 2).await.unwrap(),
        [second.clone(), third.clone()]
    );
    assert_eq!(list(Some(3), false, 2).await.unwrap(), [fourth]);
    assert_eq!(list(None, true, 1).await.unwrap(), [first]);
    assert_eq!(list(Some(1), true, 1).await.unwrap(), [second]);
    assert_eq!(list(Some(4), true, 10).await.unwrap(), []);
    assert_eq!(list(None, true, 0).await.unwrap(), []);

    // A key never rotated has only its first version; another account sees nothing.
    assert_eq!(
        store
            .list_key_rotations(&account, key_id(0x43), None, false, 10)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        store
            .list_key_rotations(&other, key_id(0x42), None, true, 10)
            .await
            .unwrap(),
        []
    );
}

pub(super) async fn due_key_rotations_walk_enabled_keys_of_every_account_earliest_first(
    store: &dyn Store,
) {
    let (first, second) = (account(ACCOUNT), account(OTHER_ACCOUNT));
    // (account, key, period in days, enabled at, key state)
    let keys = [
        (&first, 0x10, 90, CREATED_AT, KeyState::Enabled),
        (&first, 0x20, 180, CREATED_AT, KeyState::Enabled),
        (&second, 0x30, 90, CREATED_AT - DAY, KeyState::Enabled),
        (&second, 0x40, 90, CREATED_AT - 2 * DAY, KeyState::Disabled),
        (&first, 0x50, 100, CREATED_AT, KeyState::PendingDeletion),
    ];
    for (account, byte, period, enabled_at, state) in keys {
        create_enabled_key(store, account, key_id(byte)).await;
        store
            .enable_key_rotation(account, key_id(byte), period, enabled_at)
            .await
            .unwrap();
        store
            .set_key_state(account, key_id(byte), state, None)
            .await
            .unwrap();
    }
    create_enabled_key(store, &first, key_id(0x60)).await;
    let due = |account: &AccountId, byte, next_rotation_at| DueRotation {
        account: account.clone(),
        key_id: key_id(byte),
        next_rotation_at,
    };

    let at = |days| CREATED_AT + days * DAY;
    assert_eq!(store.due_key_rotations(at(89) - 1, 10).await.unwrap(), []);
    assert_eq!(
        store.due_key_rotations(at(90), 10).await.unwrap(),
        [due(&second, 0x30, at(89)), due(&first, 0x10, at(90))]
    );
    assert_eq!(
        store.due_key_rotations(at(1000), 2).await.unwrap(),
        [due(&second, 0x30, at(89)), due(&first, 0x10, at(90))]
    );
    assert_eq!(
        store.due_key_rotations(at(1000), 10).await.unwrap(),
        [
            due(&second, 0x30, at(89)),
            due(&first, 0x10, at(90)),
            due(&first, 0x20, at(180)),
        ]
    );

    // Once rotated, a key is due again only a period later.
    let version = rotated_version(key_id(0x30), 2, at(95));
    assert!(
        store
            .rotate_key(
                &second,
                &version,
                KeyState::Enabled,
                RotationTrigger::Automatic
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.due_key_rotations(at(100), 10).await.unwrap(),
        [due(&first, 0x10, at(90))]
    );
}
