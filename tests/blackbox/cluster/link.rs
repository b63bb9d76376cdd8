//! The link between a gateway and a shard cut while both processes live: a relay in between is
//! reset, then blackholed, under load, and restored without restarting anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::FAILOVER_WARNING;
use super::nodes::Cluster;
use super::relay::{Link, Relay};
use super::tally::{OK, Tally, UNAVAILABLE, WRONG_PLAINTEXT};
use crate::support::{create_key, encrypt_text};

/// How long a restored link may take to carry calls again: a connection the gateway gave up on
/// is replaced within its keep-alive and call timeouts (10 s each).
const RECOVERY: Duration = Duration::from_secs(30);

#[tokio::test]
async fn calls_fail_over_while_a_shard_link_is_cut_and_reach_the_shard_once_it_is_restored() {
    let mut cluster = Cluster::start(2, 0).await;
    let relay = Relay::start(&cluster.shards[0].address).await;
    let addresses = [relay.address.clone(), cluster.shards[1].address.clone()];
    let gateway = cluster.add_gateway_over(&addresses).await;
    let client = cluster.client(gateway);
    // With 16 keys, the chance that the relayed shard owns none of them is (1/2)^16.
    let mut sealed = Vec::new();
    for i in 0..16 {
        let key_id = create_key(&client).await;
        let plaintext = format!("sealed before the link was cut {i}");
        let ciphertext = encrypt_text(&client, &key_id, &plaintext, &[]).await;
        sealed.push((key_id, plaintext, ciphertext));
    }
    let keys: Arc<Vec<String>> = Arc::new(sealed.iter().map(|(k, ..)| k.clone()).collect());
    let tally = Arc::new(Tally::default());

    for (cut, length) in [
        (Link::Reset, Duration::from_secs(3)),
        (Link::Blackhole, Duration::from_secs(12)),
    ] {
        let failovers_before = failovers(&cluster, gateway).await;
        let running = Arc::new(AtomicBool::new(true));
        let workers: Vec<JoinHandle<()>> = (0..6)
            .map(|worker| {
                tokio::spawn(load(
                    worker,
                    client.clone(),
                    Arc::clone(&keys),
                    Arc::clone(&tally),
                    Arc::clone(&running),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        relay.set(cut);
        tokio::time::sleep(length).await;
        let served_before = served(&cluster).await;
        relay.set(Link::Up);

        // The shard behind the relay serves calls again: its own cache counters move.
        let restored = Instant::now();
        while served(&cluster).await == served_before {
            assert!(
                restored.elapsed() < RECOVERY,
                "no call reached the shard within {RECOVERY:?} of restoring the link ({cut:?})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        running.store(false, Ordering::Relaxed);
        for worker in workers {
            worker.await.expect("a load worker does not panic");
        }
        assert!(
            failovers(&cluster, gateway).await > failovers_before,
            "no call failed over while the link was cut ({cut:?})"
        );
    }

    println!("{}", tally.summary());
    assert_eq!(tally.other_than(&[OK, UNAVAILABLE]), Vec::<String>::new());
    assert_eq!(tally.total(WRONG_PLAINTEXT), 0);
    assert!(tally.total(OK) > 100, "{}", tally.summary());
    for (_, plaintext, ciphertext) in sealed {
        let decrypted = client
            .decrypt()
            .ciphertext_blob(ciphertext)
            .send()
            .await
            .expect("Decrypt after the link is restored");
        assert_eq!(
            decrypted.plaintext().map(|p| p.as_ref().to_vec()),
            Some(plaintext.into_bytes())
        );
    }

    drop(relay);
    cluster.expect_unavailable();
    cluster.finish(&[FAILOVER_WARNING]);
}

async fn failovers(cluster: &Cluster, gateway: usize) -> u64 {
    cluster
        .gateway_metric(gateway, "keyshard_shard_failovers_total")
        .await
}

/// The key calls shard 0 answered: its cache lookups, hits and misses.
async fn served(cluster: &Cluster) -> u64 {
    cluster.metric(0, "keyshard_cache_hits_total").await
        + cluster.metric(0, "keyshard_cache_misses_total").await
}

/// A load worker: GenerateDataKey, then Decrypt of its blob, over every key in turn, until
/// `running` is cleared.
async fn load(
    worker: usize,
    client: Client,
    keys: Arc<Vec<String>>,
    tally: Arc<Tally>,
    running: Arc<AtomicBool>,
) {
    let mut i = worker;
    while running.load(Ordering::Relaxed) {
        let key_id = &keys[i % keys.len()];
        i += 1;
        let generated = client
            .generate_data_key()
            .key_id(key_id)
            .number_of_bytes(32)
            .send()
            .await;
        let Some(generated) = tally.record("GenerateDataKey", generated) else {
            continue;
        };
        let blob: Blob = generated.ciphertext_blob().expect("CiphertextBlob").clone();
        let decrypted = client.decrypt().ciphertext_blob(blob).send().await;
        if let Some(decrypted) = tally.record("Decrypt", decrypted)
            && decrypted.plaintext() != generated.plaintext()
        {
            tally.count("Decrypt", WRONG_PLAINTEXT);
        }
    }
}
