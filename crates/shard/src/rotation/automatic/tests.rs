//! The automatic rotation pass, with explicit times, on an SQLite store; the task loop on
//! tokio's paused clock.

use std::sync::Mutex;

use keyshard_core::authz::{Caller, Requester};
use keyshard_core::id::{KeyId, Scope};
use keyshard_core::rotation::{RotationType, period_millis};
use keyshard_crypto::{RootKey, RootKeyRing, SecretBytes};
use keyshard_proto::v1;
use keyshard_store::{KeyRotation, SqliteStore, Store};
use tempfile::TempDir;
use tokio::time::Instant;

use super::*;
use crate::CacheConfig;
use crate::keys::NewKey;

/// When the keys of these tests have rotation enabled.
const ENABLED_AT: Millis = 1_700_000_000_000;

fn scope() -> Requester {
    Requester {
        scope: Scope {
            account: "111122223333".parse().expect("12 digits"),
            region: "us-east-1".parse().expect("a region"),
        },
        caller: Caller::account_root("111122223333".parse().expect("12 digits")),
    }
}

fn ring() -> RootKeyRing {
    RootKeyRing::new(
        RootKey::new(SecretBytes::new(vec![7; 32])).unwrap(),
        Vec::new(),
    )
}

async fn open_store() -> (Arc<SqliteStore>, TempDir) {
    let dir = tempfile::tempdir().expect("the temp directory is writable");
    let store = SqliteStore::open(&dir.path().join("keyshard.db"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

fn shard_on(store: &Arc<SqliteStore>) -> Shard {
    Shard::new(
        Arc::clone(store) as Arc<dyn Store>,
        ring(),
        CacheConfig::default(),
    )
}

/// A symmetric key whose automatic rotation, every 90 days, was enabled at `ENABLED_AT`.
async fn key_with_rotation(shard: &Shard, store: &SqliteStore) -> KeyId {
    let key_id = KeyId::generate();
    let request = v1::CreateKeyRequest {
        caller: None,
        key_id: key_id.to_string(),
        description: String::new(),
        key_spec: "SYMMETRIC_DEFAULT".to_owned(),
        key_usage: "ENCRYPT_DECRYPT".to_owned(),
        origin: "AWS_KMS".to_owned(),
        tags: Vec::new(),
        policy: None,
        bypass_policy_lockout_safety_check: false,
    };
    let new = NewKey::try_from(request).expect("a well-formed CreateKey request");
    shard.create_key(&scope(), new).await.unwrap();
    store
        .enable_key_rotation(&scope().scope.account, key_id, 90, ENABLED_AT)
        .await
        .unwrap();
    key_id
}

async fn versions(store: &SqliteStore, key_id: KeyId) -> Vec<KeyRotation> {
    store
        .list_key_rotations(&scope().scope.account, key_id, None, true, 100)
        .await
        .unwrap()
}

fn pass(rotated: u64, skipped: u64) -> RotationPass {
    RotationPass { rotated, skipped }
}

#[tokio::test]
async fn a_due_key_gets_a_new_current_version_that_unwraps_and_is_due_again_a_period_later() {
    let (store, _dir) = open_store().await;
    let shard = shard_on(&store);
    let key_id = key_with_rotation(&shard, &store).await;
    let region = scope().scope.region;
    let due = ENABLED_AT + period_millis(90);

    assert_eq!(
        shard.rotate_due_keys(&region, due - 1).await.unwrap(),
        pass(0, 0)
    );
    assert_eq!(
        shard.rotate_due_keys(&region, due).await.unwrap(),
        pass(1, 0)
    );
    assert_eq!(
        shard.rotate_due_keys(&region, due).await.unwrap(),
        pass(0, 0)
    );

    let key = shard.key_by_id(&scope(), key_id).await.unwrap().unwrap();
    assert_eq!(key.record.current_version, 2);
    let backing = shard.backing_key(&key, 2).await.unwrap();
    assert!(backing.is_some(), "the new version unwraps under its ARN");
    let listed = versions(&store, key_id).await;
    assert_eq!(
        listed.last(),
        Some(&KeyRotation {
            version: 2,
            created_at: due,
            rotation_type: Some(RotationType::Automatic),
        })
    );

    let next = due + period_millis(90);
    assert_eq!(
        shard.rotate_due_keys(&region, next).await.unwrap(),
        pass(1, 0)
    );
    assert_eq!(versions(&store, key_id).await.len(), 3);
}

#[tokio::test]
async fn a_disabled_key_waits_and_rotates_once_it_is_enabled_again() {
    let (store, _dir) = open_store().await;
    let shard = shard_on(&store);
    let key_id = key_with_rotation(&shard, &store).await;
    let (account, region) = (scope().scope.account, scope().scope.region);
    let late = ENABLED_AT + period_millis(400);

    store
        .set_key_state(&account, key_id, KeyState::Disabled, None)
        .await
        .unwrap();
    assert_eq!(
        shard.rotate_due_keys(&region, late).await.unwrap(),
        pass(0, 0)
    );
    assert_eq!(versions(&store, key_id).await.len(), 1);

    store
        .set_key_state(&account, key_id, KeyState::Enabled, None)
        .await
        .unwrap();
    assert_eq!(
        shard.rotate_due_keys(&region, late).await.unwrap(),
        pass(1, 0)
    );
    assert_eq!(
        store.rotation_schedule(&account, key_id).await.unwrap(),
        Some(keyshard_core::rotation::RotationSchedule {
            period_days: 90,
            next_rotation_at: late + period_millis(90),
        })
    );
}

#[tokio::test]
async fn shards_passing_at_once_rotate_each_due_key_once() {
    let (store, _dir) = open_store().await;
    let shards = [shard_on(&store), shard_on(&store), shard_on(&store)];
    let mut keys = Vec::new();
    for _ in 0..5 {
        keys.push(key_with_rotation(&shards[0], &store).await);
    }
    let region = scope().scope.region;
    let due = ENABLED_AT + period_millis(90);

    let passes = tokio::join!(
        shards[0].rotate_due_keys(&region, due),
        shards[1].rotate_due_keys(&region, due),
        shards[2].rotate_due_keys(&region, due),
    );
    let rotated: u64 = [passes.0, passes.1, passes.2]
        .into_iter()
        .map(|pass| pass.unwrap().rotated)
        .sum();
    assert_eq!(rotated, 5);
    for key_id in keys {
        let types: Vec<_> = versions(&store, key_id)
            .await
            .into_iter()
            .map(|r| r.rotation_type)
            .collect();
        assert_eq!(types, [None, Some(RotationType::Automatic)], "{key_id}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_task_steps_at_once_then_once_per_interval_until_told_to_stop() {
    let start = Instant::now();
    let times = Mutex::new(Vec::new());
    run_every(Duration::from_secs(60), || {
        let mut times = times.lock().unwrap();
        times.push(start.elapsed());
        let tick = if times.len() == 3 {
            Tick::Stop
        } else {
            Tick::Continue
        };
        std::future::ready(tick)
    })
    .await;
    assert_eq!(
        times.into_inner().unwrap(),
        [0, 60, 120].map(Duration::from_secs)
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_that_overruns_the_interval_delays_the_next_instead_of_bursting() {
    let start = Instant::now();
    let times = Mutex::new(Vec::new());
    run_every(Duration::from_secs(60), || {
        let count = {
            let mut times = times.lock().unwrap();
            times.push(start.elapsed());
            times.len()
        };
        async move {
            if count == 1 {
                tokio::time::sleep(Duration::from_secs(150)).await;
            }
            if count == 3 {
                Tick::Stop
            } else {
                Tick::Continue
            }
        }
    })
    .await;
    assert_eq!(
        times.into_inner().unwrap(),
        [0, 150, 210].map(Duration::from_secs)
    );
}

#[tokio::test]
async fn the_task_stops_once_its_shard_is_dropped() {
    let (store, _dir) = open_store().await;
    // Paused only now: the store's pool measures its timeouts on tokio's clock.
    tokio::time::pause();
    let shard = Arc::new(shard_on(&store));
    let task = shard.spawn_automatic_rotation(scope().scope.region, Duration::from_secs(60));
    drop(shard);

    let ended = tokio::time::timeout(Duration::from_secs(3600), task).await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the task did not end: {ended:?}"
    );
}
