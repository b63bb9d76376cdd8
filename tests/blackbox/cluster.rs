//! The production topology: gateways and shards as separate processes on one Postgres
//! database (DESIGN.md, "Routing, caching, consistency").

mod deletion;
mod link;
mod metrics;
pub(crate) mod nodes;
mod relay;
mod soak;
mod tally;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata as _;
use aws_sdk_kms::types::KeyState;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sqlx::Row as _;
use tokio::time::Instant;

use crate::support::{Failure, blob, context, create_key, failure, key_arn};
use nodes::Cluster;

/// The warning a gateway logs when a shard call fails at the transport and it tries the next.
pub(crate) const FAILOVER_WARNING: &str = "shard call failed";

#[tokio::test]
async fn every_operation_works_through_either_gateway_of_a_cluster() {
    let cluster = Cluster::start(3, 2).await;
    let (one, two) = (cluster.client(0), cluster.client(1));

    let key_id = create_key(&one).await;
    two.create_alias()
        .alias_name("alias/cluster")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let generated = one
        .generate_data_key()
        .key_id("alias/cluster")
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .set_encryption_context(Some(context(&[("tenant", "a")])))
        .send()
        .await
        .expect("GenerateDataKey");
    let decrypted = two
        .decrypt()
        .ciphertext_blob(generated.ciphertext_blob().expect("CiphertextBlob").clone())
        .set_encryption_context(Some(context(&[("tenant", "a")])))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(decrypted.plaintext(), generated.plaintext());
    assert_eq!(decrypted.key_id(), Some(key_arn(&key_id).as_str()));

    let listed = two.list_keys().send().await.expect("ListKeys");
    assert_eq!(
        listed
            .keys()
            .iter()
            .map(|k| k.key_id().unwrap_or_default())
            .collect::<Vec<_>>(),
        vec![key_id.as_str()]
    );
    let aliases = one.list_aliases().send().await.expect("ListAliases");
    assert_eq!(aliases.aliases()[0].target_key_id(), Some(key_id.as_str()));
    let random = two
        .generate_random()
        .number_of_bytes(64)
        .send()
        .await
        .expect("GenerateRandom");
    assert_eq!(random.plaintext().map(|p| p.as_ref().len()), Some(64));

    one.disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");
    // The shard behind the alias may have the key cached; the change reaches it within a
    // second, once its announcement arrives.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let described = two
            .describe_key()
            .key_id("alias/cluster")
            .send()
            .await
            .expect("DescribeKey");
        let state = described
            .key_metadata()
            .and_then(|m| m.key_state())
            .cloned();
        if state == Some(KeyState::Disabled) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {state:?} a second after DisableKey"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    two.enable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKey");
    // Likewise for the enabling: the shard behind the alias may still hold the disabled key for
    // the moment its announcement takes.
    let deadline = Instant::now() + Duration::from_secs(1);
    let encrypted = loop {
        let encrypted = one
            .encrypt()
            .key_id("alias/cluster")
            .plaintext(blob("x"))
            .send()
            .await;
        let disabled = encrypted
            .as_ref()
            .is_err_and(|err| err.code() == Some("DisabledException"));
        if !disabled || Instant::now() >= deadline {
            break encrypted.expect("Encrypt within a second of EnableKey");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(encrypted.key_id(), Some(key_arn(&key_id).as_str()));

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_warm_generate_data_key_or_decrypt_sends_no_query() {
    let mut cluster = Cluster::start(1, 0).await;
    let gateway = cluster.add_gateway(&[0]).await;
    let client = cluster.client(gateway);
    let key_id = create_key(&client).await;
    let warm = client
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .expect("warm-up");
    let blob = warm.ciphertext_blob().expect("CiphertextBlob").clone();
    client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .expect("warm-up Decrypt");

    let before = cluster.metric(0, "keyshard_store_queries_total").await;
    for _ in 0..20 {
        client
            .generate_data_key()
            .key_id(&key_id)
            .number_of_bytes(32)
            .send()
            .await
            .expect("GenerateDataKey");
        client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .expect("Decrypt");
    }
    let after = cluster.metric(0, "keyshard_store_queries_total").await;
    assert_eq!(
        after,
        before,
        "warm calls sent {} SQL statements",
        after - before
    );
    assert!(cluster.metric(0, "keyshard_cache_hits_total").await >= 80);

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_disabled_key_is_refused_by_every_shard_within_a_second() {
    let mut cluster = Cluster::start(3, 1).await;
    let mut probes = Vec::new();
    for shard in 0..3 {
        probes.push(cluster.add_gateway(&[shard]).await);
    }
    let key_id = create_key(&cluster.client(0)).await;
    // Every shard caches the key as enabled.
    for &probe in &probes {
        let client = cluster.client(probe);
        client
            .generate_data_key()
            .key_id(&key_id)
            .number_of_bytes(16)
            .send()
            .await
            .expect("warm-up");
    }

    cluster
        .client(0)
        .disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");
    let disabled_at = Instant::now();
    let refused = Failure::new(
        400,
        "DisabledException",
        Some(&format!("{} is disabled.", key_arn(&key_id))),
    );
    for &probe in &probes {
        let client = cluster.client(probe);
        loop {
            let answer = client
                .generate_data_key()
                .key_id(&key_id)
                .number_of_bytes(16)
                .send()
                .await;
            if answer.is_err() {
                assert_eq!(failure(answer), refused);
                break;
            }
            assert!(
                disabled_at.elapsed() < Duration::from_secs(1),
                "shard behind gateway {probe} still serves the key"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(disabled_at.elapsed() < Duration::from_secs(1));

    cluster.finish(&[]);
}

#[tokio::test]
async fn requests_keep_succeeding_when_a_shard_is_killed_mid_load() {
    let mut cluster = Cluster::start(3, 2).await;
    let client = cluster.client(0);
    let mut keys = Vec::new();
    // With 24 keys, the chance that the killed shard owns none of them is (2/3)^24, under 1 in
    // 10,000.
    for _ in 0..24 {
        keys.push(create_key(&client).await);
    }
    let keys = Arc::new(keys);
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut workers = Vec::new();
    for worker in 0..8usize {
        let client = cluster.client(worker % 2);
        let (keys, ok, failed) = (Arc::clone(&keys), Arc::clone(&ok), Arc::clone(&failed));
        workers.push(tokio::spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline {
                let key_id = &keys[i % keys.len()];
                i += 1;
                let generated = client
                    .generate_data_key()
                    .key_id(key_id)
                    .number_of_bytes(32)
                    .send()
                    .await;
                let Ok(generated) = generated else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let blob = generated.ciphertext_blob().expect("CiphertextBlob").clone();
                match client.decrypt().ciphertext_blob(blob).send().await {
                    Ok(d) if d.plaintext() == generated.plaintext() => {
                        ok.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.shards[1].kill();
    for worker in workers {
        worker.await.expect("a load worker does not panic");
    }

    // Every call in the load is idempotent, so a gateway that loses a shard mid-call sends it to
    // the next shard in rendezvous order: no call may fail.
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "only {} round trips",
        ok.load(Ordering::Relaxed)
    );
    // The killed shard owned some of the keys: their calls went on to the next shard.
    let failovers = cluster
        .gateway_metric(0, "keyshard_shard_failovers_total")
        .await
        + cluster
            .gateway_metric(1, "keyshard_shard_failovers_total")
            .await;
    assert!(failovers > 0, "no call failed over");
    cluster.finish(&[FAILOVER_WARNING]);
}

// A shard that hangs instead of dying (SIGSTOP): its calls time out and go on to the other
// shard, every call succeeds, and after SIGCONT everything made before decrypts.
#[tokio::test]
async fn calls_to_a_paused_shard_time_out_and_fail_over() {
    let cluster = Cluster::start(2, 1).await;
    let client = cluster.client(0);
    let mut sealed = Vec::new();
    for _ in 0..8 {
        let key_id = create_key(&client).await;
        let encrypted = client
            .encrypt()
            .key_id(&key_id)
            .plaintext(blob("before the pause"))
            .send()
            .await
            .expect("Encrypt");
        let ciphertext = encrypted.ciphertext_blob().expect("CiphertextBlob").clone();
        sealed.push((key_id, ciphertext));
    }

    cluster.shards[0].signal("STOP");
    let started = Instant::now();
    let mut calls = Vec::new();
    for (key_id, _) in &sealed {
        let client = client.clone();
        let key_id = key_id.clone();
        calls.push(tokio::spawn(async move {
            client
                .generate_data_key()
                .key_id(&key_id)
                .number_of_bytes(32)
                .send()
                .await
                .map(|generated| generated.key_id().map(str::to_owned))
        }));
    }
    for (call, (key_id, _)) in calls.into_iter().zip(&sealed) {
        let generated = call.await.expect("the call does not panic");
        assert_eq!(
            generated.expect("GenerateDataKey while a shard is paused"),
            Some(key_arn(key_id))
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "calls took {:?}",
        started.elapsed()
    );

    cluster.shards[0].signal("CONT");
    for (_, ciphertext) in sealed {
        let decrypted = client
            .decrypt()
            .ciphertext_blob(ciphertext)
            .send()
            .await
            .expect("Decrypt after the pause");
        assert_eq!(
            decrypted.plaintext().map(|p| p.as_ref().to_vec()),
            Some(b"before the pause".to_vec())
        );
    }
    cluster.finish(&[FAILOVER_WARNING]);
}

#[tokio::test]
async fn a_shard_killed_during_create_key_leaves_each_key_whole_or_absent() {
    let mut cluster = Cluster::start(2, 1).await;
    let victim_gateway = cluster.add_gateway(&[0]).await;
    let client = cluster.client(victim_gateway);
    let mut creations = Vec::new();
    for _ in 0..40 {
        let client = client.clone();
        creations.push(tokio::spawn(async move {
            client.create_key().send().await.ok()
        }));
    }
    tokio::time::sleep(Duration::from_millis(15)).await;
    cluster.shards[0].kill();
    // Calls still queued for the killed shard find no shard to go to.
    cluster.expect_unavailable();
    let mut acknowledged = Vec::new();
    for creation in creations {
        if let Some(created) = creation.await.expect("a creation task does not panic") {
            acknowledged.push(
                created
                    .key_metadata()
                    .expect("KeyMetadata")
                    .key_id()
                    .to_owned(),
            );
        }
    }

    let mut db = cluster.database().await;
    let orphans: i64 = sqlx::query("SELECT count(*) FROM keys k WHERE NOT EXISTS (SELECT 1 FROM key_versions v WHERE v.account = k.account AND v.key_id = k.key_id)")
        .fetch_one(&mut db)
        .await
        .expect("count keys without versions")
        .get(0);
    assert_eq!(orphans, 0);

    let survivor = cluster.client(0);
    let listed = survivor
        .list_keys()
        .limit(1000)
        .send()
        .await
        .expect("ListKeys");
    let stored: Vec<String> = listed
        .keys()
        .iter()
        .map(|k| k.key_id().unwrap_or_default().to_owned())
        .collect();
    for key_id in &acknowledged {
        assert!(
            stored.contains(key_id),
            "acknowledged key {key_id} is missing"
        );
    }
    for key_id in &stored {
        survivor
            .encrypt()
            .key_id(key_id)
            .plaintext(blob("whole"))
            .send()
            .await
            .expect("every stored key encrypts");
    }

    cluster.finish(&[FAILOVER_WARNING, "request failed"]);
}

#[tokio::test]
async fn the_database_holds_no_unwrapped_key_material() {
    let cluster = Cluster::start(1, 1).await;
    let client = cluster.client(0);
    for _ in 0..3 {
        let key_id = create_key(&client).await;
        client
            .generate_data_key()
            .key_id(&key_id)
            .number_of_bytes(32)
            .send()
            .await
            .expect("GenerateDataKey");
        client
            .encrypt()
            .key_id(&key_id)
            .plaintext(blob("a plaintext the database must not hold"))
            .send()
            .await
            .expect("Encrypt");
    }

    let mut db = cluster.database().await;
    let mut stored = Vec::new();
    for table in ["keys", "key_versions", "aliases"] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT row_to_json(t)::text FROM {table} t"
        )))
        .fetch_all(&mut db)
        .await
        .expect("read every row");
        for row in rows {
            stored.push(row.get::<String, _>(0));
        }
    }
    let wrapped: Vec<Vec<u8>> = sqlx::query("SELECT wrapped_material FROM key_versions")
        .fetch_all(&mut db)
        .await
        .expect("read wrapped material")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(wrapped.len(), 3);
    assert!(
        wrapped.iter().all(|w| w.len() == 12 + 32 + 16),
        "wrapped keys are nonce, ciphertext and tag"
    );

    let dump = stored.join("\n");
    for secret in cluster.secrets().iter().filter(|s| s.len() >= 8) {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            !dump.contains(&hex) && !dump.contains(&STANDARD.encode(secret)),
            "a data key or plaintext is stored"
        );
        assert!(
            !wrapped
                .iter()
                .any(|w| w.windows(secret.len()).any(|x| x == secret.as_slice()))
        );
    }

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_new_root_key_rewraps_every_version_while_shards_serve() {
    let mut cluster = Cluster::start(1, 0).await;
    let gateway = cluster.add_gateway(&[0]).await;
    let client = cluster.client(gateway);
    let mut blobs = Vec::new();
    for _ in 0..5 {
        let key_id = create_key(&client).await;
        let encrypted = client
            .encrypt()
            .key_id(&key_id)
            .plaintext(blob("before"))
            .send()
            .await
            .expect("Encrypt");
        blobs.push(encrypted.ciphertext_blob().expect("CiphertextBlob").clone());
    }

    // Shards first learn the new key, keeping the old one to unwrap.
    let new_key = cluster.path("root-key-2");
    std::fs::write(&new_key, format!("{}\n", "c3".repeat(32))).expect("new root key");
    let (old, new) = (cluster.root_key_file.clone(), new_key.clone());
    let rolled = cluster
        .start_shard(&[
            "--root-key-file",
            new.to_str().expect("utf-8 path"),
            "--previous-root-key-file",
            old.to_str().expect("utf-8 path"),
        ])
        .await;
    cluster.shards[0].kill();
    cluster.shards[0] = rolled;
    let gateway = cluster.add_gateway(&[0]).await;
    let client = cluster.client(gateway);

    let rewrap = std::process::Command::new(env!("CARGO_BIN_EXE_keyshard"))
        .args([
            "rewrap-root-key",
            "--database-url",
            &cluster.database_url,
            "--batch-size",
            "2",
        ])
        .arg("--root-key-file")
        .arg(&new)
        .arg("--previous-root-key-file")
        .arg(&old)
        .env("KEYSHARD_LOG", "info")
        .output()
        .expect("keyshard rewrap-root-key runs");
    let log = String::from_utf8_lossy(&rewrap.stderr);
    assert!(rewrap.status.success(), "rewrap failed:\n{log}");
    assert!(log.contains("rewrapped=5"), "{log}");

    // The old root key can now go.
    let only_new = cluster
        .start_shard(&["--root-key-file", new.to_str().expect("utf-8 path")])
        .await;
    cluster.shards[0].kill();
    cluster.shards[0] = only_new;
    let gateway = cluster.add_gateway(&[0]).await;
    let client_after = cluster.client(gateway);
    for blob in blobs {
        let decrypted = client_after
            .decrypt()
            .ciphertext_blob(blob)
            .send()
            .await
            .expect("Decrypt after re-wrap");
        assert_eq!(
            decrypted.plaintext().map(|p| p.as_ref().to_vec()),
            Some(b"before".to_vec())
        );
    }
    drop(client);

    cluster.finish(&[FAILOVER_WARNING]);
}

#[tokio::test]
async fn calls_fail_cleanly_while_postgres_is_down_and_recover_when_it_returns() {
    let mut cluster = Cluster::start_exclusive(2, 1).await;
    let client = cluster.client(0);
    let warm_key = create_key(&client).await;
    let warm = client
        .encrypt()
        .key_id(&warm_key)
        .plaintext(blob("kept"))
        .send()
        .await
        .expect("Encrypt");
    let warm_blob = warm.ciphertext_blob().expect("CiphertextBlob").clone();
    let mut committed = vec![warm_key.clone()];
    assert_eq!(Cluster::readiness(&cluster.shards[0]).await, 200);
    assert_eq!(Cluster::readiness(&cluster.gateways[0]).await, 200);

    cluster.postgres_ctl("stop");
    // Shards are not ready while their store is down, nor is a gateway with no ready shard;
    // both stay alive.
    assert_eq!(Cluster::readiness(&cluster.shards[0]).await, 503);
    assert_eq!(Cluster::readiness(&cluster.gateways[0]).await, 503);
    // While the database is down, calls that need it fail with the retryable 503 AWS SDKs back
    // off on; none hangs and none gets another error.
    let unavailable = (503, "DependencyTimeoutException");
    for _ in 0..3 {
        let started = Instant::now();
        let created = failure(client.create_key().send().await);
        assert_eq!(created.kind(), unavailable);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "CreateKey took {:?}",
            started.elapsed()
        );
        let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let described = failure(client.describe_key().key_id(unknown).send().await);
        assert_eq!(described.kind(), unavailable);
    }
    cluster.expect_unavailable();

    cluster.postgres_ctl("start");
    let recovered_at = Instant::now();
    while Cluster::readiness(&cluster.shards[0]).await != 200 {
        assert!(
            recovered_at.elapsed() < Duration::from_secs(15),
            "the shard did not become ready again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(Cluster::readiness(&cluster.gateways[0]).await, 200);
    let created = loop {
        match client.create_key().send().await {
            Ok(created) => break created,
            Err(_) if recovered_at.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("CreateKey did not recover: {err:?}"),
        }
    };
    committed.push(
        created
            .key_metadata()
            .expect("KeyMetadata")
            .key_id()
            .to_owned(),
    );

    // Nothing committed before the outage is lost, and Keyshard was never restarted.
    let listed = client.list_keys().send().await.expect("ListKeys");
    let mut stored: Vec<&str> = listed.keys().iter().filter_map(|k| k.key_id()).collect();
    stored.sort_unstable();
    committed.sort_unstable();
    assert_eq!(stored, committed);
    let decrypted = client
        .decrypt()
        .ciphertext_blob(warm_blob)
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(
        decrypted.plaintext().map(|p| p.as_ref().to_vec()),
        Some(b"kept".to_vec())
    );

    cluster.finish(&[
        "request failed",
        "key store unavailable",
        "listener",
        "change feed",
    ]);
}
