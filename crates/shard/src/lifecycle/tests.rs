//! The lifecycle operations on a shard over an embedded store, and the deletion task's timing
//! on tokio's paused clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use keyshard_core::authz::{Caller, Requester};
use keyshard_core::id::{KeyId, Scope};
use keyshard_crypto::{RootKey, RootKeyRing, SecretBytes};
use keyshard_proto::v1::shard_server::Shard as _;
use keyshard_store::SqliteStore;
use tempfile::TempDir;
use tokio::time::Instant;

use super::*;
use crate::CacheConfig;
use crate::keys::NewKey;
use crate::service::ShardService;

async fn shard() -> (Arc<Shard>, Requester, TempDir) {
    let dir = tempfile::tempdir().expect("the temp directory is writable");
    let store = SqliteStore::open(&dir.path().join("keyshard.db"))
        .await
        .expect("the store opens");
    let root_key =
        RootKey::new(SecretBytes::random(32).expect("randomness")).expect("a 32-byte root key");
    let shard = Shard::new(
        Arc::new(store),
        RootKeyRing::new(root_key, Vec::new()),
        CacheConfig::default(),
    );
    let scope = Requester {
        scope: Scope {
            account: "111122223333".parse().expect("12 digits"),
            region: "us-east-1".parse().expect("a region"),
        },
        caller: Caller::account_root("111122223333".parse().expect("12 digits")),
    };
    (Arc::new(shard), scope, dir)
}

fn caller(scope: &Requester) -> Option<v1::Caller> {
    Some(v1::Caller::from(scope))
}

async fn create_key(shard: &Shard, scope: &Requester) -> KeyId {
    let key_id = KeyId::generate();
    let request = v1::CreateKeyRequest {
        caller: caller(scope),
        key_id: key_id.to_string(),
        description: "before".to_owned(),
        key_spec: "SYMMETRIC_DEFAULT".to_owned(),
        key_usage: "ENCRYPT_DECRYPT".to_owned(),
        origin: "AWS_KMS".to_owned(),
        tags: Vec::new(),
        policy: None,
        bypass_policy_lockout_safety_check: false,
    };
    let new = NewKey::try_from(request).expect("a well-formed CreateKey");
    shard.create_key(scope, new).await.expect("CreateKey");
    key_id
}

async fn encrypt(shard: &Shard, scope: &Requester, key_id: KeyId) -> Vec<u8> {
    let request = v1::EncryptRequest {
        caller: caller(scope),
        key_id: key_id.to_string(),
        plaintext: b"payroll".to_vec(),
        encryption_context: HashMap::new(),
        dry_run: false,
        grant_tokens: Vec::new(),
    };
    shard
        .encrypt(scope, request)
        .await
        .expect("Encrypt")
        .ciphertext_blob
}

async fn schedule(shard: &Shard, scope: &Requester, key_id: KeyId, days: u32) -> Millis {
    let request = v1::ScheduleKeyDeletionRequest {
        caller: caller(scope),
        key_id: key_id.to_string(),
        pending_window_in_days: days,
    };
    shard
        .schedule_key_deletion(scope, request)
        .await
        .expect("ScheduleKeyDeletion")
        .deletion_date_millis
}

async fn record(shard: &Shard, scope: &Requester, key_id: KeyId) -> Option<KeyRecord> {
    shard
        .key_by_id(scope, key_id)
        .await
        .expect("the store answers")
        .map(|key| key.record)
}

#[tokio::test]
async fn scheduling_sets_the_deletion_date_the_window_ends_on() {
    let (shard, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;

    let before = now_millis();
    let deletion_date = schedule(&shard, &scope, key_id, 7).await;
    let after = now_millis();
    assert!(
        (before + 7 * MILLIS_PER_DAY..=after + 7 * MILLIS_PER_DAY).contains(&deletion_date),
        "{deletion_date} is not 7 days after {before}..{after}"
    );
    let stored = record(&shard, &scope, key_id).await.expect("the key");
    assert_eq!(
        (stored.state, stored.deletion_date),
        (KeyState::PendingDeletion, Some(deletion_date))
    );
}

#[tokio::test]
async fn the_service_refuses_a_waiting_period_the_gateway_would_have_refused() {
    let (shard, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    let service = ShardService::new(Arc::clone(&shard));

    for days in [0, 6, 31] {
        let request = v1::ScheduleKeyDeletionRequest {
            caller: caller(&scope),
            key_id: key_id.to_string(),
            pending_window_in_days: days,
        };
        let status = service
            .schedule_key_deletion(tonic::Request::new(request))
            .await
            .expect_err("the window is refused");
        assert_eq!(
            (status.code(), status.message()),
            (
                tonic::Code::InvalidArgument,
                "pending_window_in_days must be 7 to 30"
            ),
            "{days} days"
        );
    }
    let stored = record(&shard, &scope, key_id).await.expect("the key");
    assert_eq!(stored.state, KeyState::Enabled);
}

#[tokio::test]
async fn a_key_is_deleted_only_once_its_deletion_date_has_come() {
    let (shard, scope, _dir) = shard().await;
    let doomed = create_key(&shard, &scope).await;
    let kept = create_key(&shard, &scope).await;
    let blob = encrypt(&shard, &scope, doomed).await;
    let deletion_date = schedule(&shard, &scope, doomed, 7).await;
    schedule(&shard, &scope, kept, 30).await;

    assert_eq!(shard.delete_due_keys(deletion_date - 1).await, Ok(0));
    assert_eq!(
        record(&shard, &scope, doomed).await.map(|r| r.state),
        Some(KeyState::PendingDeletion)
    );
    assert_eq!(shard.delete_due_keys(deletion_date).await, Ok(1));
    assert_eq!(shard.delete_due_keys(deletion_date).await, Ok(0));

    let arn = scope.key_arn(doomed);
    let described = shard
        .resolve(&scope, &doomed.to_string(), KeyRefForms::All)
        .await;
    assert_eq!(
        described.err(),
        Some(KmsError::NotFound(format!("Key '{arn}' does not exist")))
    );
    let request = v1::DecryptRequest {
        caller: caller(&scope),
        ciphertext_blob: blob,
        encryption_context: HashMap::new(),
        key_id: None,
        dry_run: false,
        ignore_ciphertext: false,
        grant_tokens: Vec::new(),
    };
    let decrypted = shard.decrypt(&scope, request).await;
    assert!(
        matches!(decrypted, Err(KmsError::AccessDenied(_))),
        "got {:?}",
        decrypted.err()
    );
    assert_eq!(
        record(&shard, &scope, kept).await.map(|r| r.state),
        Some(KeyState::PendingDeletion)
    );
}

#[tokio::test]
async fn a_deleted_key_is_not_served_from_the_cache() {
    let (shard, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    let deletion_date = schedule(&shard, &scope, key_id, 7).await;
    // Cached while pending deletion.
    assert!(record(&shard, &scope, key_id).await.is_some());

    assert_eq!(shard.delete_due_keys(deletion_date).await, Ok(1));
    assert_eq!(record(&shard, &scope, key_id).await, None);
}

#[tokio::test]
async fn cancelling_leaves_the_key_disabled_and_safe_from_the_deletion_task() {
    let (shard, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    let deletion_date = schedule(&shard, &scope, key_id, 7).await;

    let request = v1::KeyRequest {
        caller: caller(&scope),
        key_id: scope.key_arn(key_id).to_string(),
    };
    let cancelled = shard.cancel_key_deletion(&scope, request.clone()).await;
    assert_eq!(
        cancelled.map(|r| r.key_id),
        Ok(scope.key_arn(key_id).to_string())
    );
    assert_eq!(shard.delete_due_keys(deletion_date).await, Ok(0));
    let stored = record(&shard, &scope, key_id).await.expect("the key");
    assert_eq!(
        (stored.state, stored.deletion_date),
        (KeyState::Disabled, None)
    );
    assert_eq!(
        shard.cancel_key_deletion(&scope, request).await.err(),
        Some(KmsError::InvalidState(format!(
            "{} is not pending deletion.",
            scope.key_arn(key_id)
        )))
    );
}

#[tokio::test]
async fn a_description_changes_unless_the_key_is_pending_deletion() {
    let (shard, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    let update = |description: &str| v1::UpdateKeyDescriptionRequest {
        caller: caller(&scope),
        key_id: key_id.to_string(),
        description: description.to_owned(),
    };

    shard
        .update_key_description(&scope, update("after"))
        .await
        .expect("UpdateKeyDescription");
    let stored = record(&shard, &scope, key_id).await.expect("the key");
    assert_eq!(stored.description, "after");

    schedule(&shard, &scope, key_id, 7).await;
    assert_eq!(
        shard
            .update_key_description(&scope, update("too late"))
            .await
            .err(),
        Some(KmsError::InvalidState(format!(
            "{} is pending deletion.",
            scope.key_arn(key_id)
        )))
    );
    let stored = record(&shard, &scope, key_id).await.expect("the key");
    assert_eq!(stored.description, "after");
}

#[tokio::test(start_paused = true)]
async fn the_deletion_task_runs_at_once_then_every_interval_until_its_step_says_stop() {
    let runs = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let task = tokio::spawn(every(Duration::from_secs(60), {
        let runs = Arc::clone(&runs);
        move || {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move { run < 4 }
        }
    }));

    // Half-way between ticks, so no check races a tick.
    for (at, expected) in [(30, 1), (90, 2), (150, 3)] {
        tokio::time::sleep_until(start + Duration::from_secs(at)).await;
        assert_eq!(runs.load(Ordering::SeqCst), expected, "at {at} s");
    }
    task.await.expect("the task ends without panicking");
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), Duration::from_secs(180));
}

#[tokio::test(start_paused = true)]
async fn a_slow_step_delays_the_next_instead_of_bunching_them() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let origin = Instant::now();
    let task = tokio::spawn(every(Duration::from_secs(60), {
        let starts = Arc::clone(&starts);
        move || {
            let starts = Arc::clone(&starts);
            async move {
                let runs = {
                    let mut seen = starts.lock().expect("not poisoned");
                    seen.push(origin.elapsed().as_secs());
                    seen.len()
                };
                // The first step overruns two intervals.
                if runs == 1 {
                    tokio::time::sleep(Duration::from_secs(150)).await;
                }
                runs < 3
            }
        }
    }));

    task.await.expect("the task ends without panicking");
    assert_eq!(*starts.lock().expect("not poisoned"), [0, 150, 210]);
}
