//! GenerateDataKeyBatch, DecryptBatch and GenerateDataKeyStream: per-item results and errors.

use keyshard_client::kms;
use kms::decrypt_result::Result as Decrypted;
use kms::generate_data_key_result::Result as Generated;
use tonic::Code;

use super::{client, client_at, create_key, credentials_of, failed, pairs, start};
use crate::cluster::FAILOVER_WARNING;
use crate::cluster::nodes::{Cluster, metric_in, scrape};
use crate::support::key_arn;

fn item(key_id: &str, n: usize) -> kms::GenerateDataKeyRequest {
    kms::GenerateDataKeyRequest {
        key_id: Some(key_id.to_owned()),
        key_spec: Some("AES_256".to_owned()),
        encryption_context: pairs(&[("item", &n.to_string())]),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_batch_of_a_thousand_data_keys_all_decrypt() {
    let keyshard = start().await;
    let client = client(&keyshard).await;
    let keys = [create_key(&client).await, create_key(&client).await];

    let items = (0..1000).map(|n| item(&keys[n % 2], n)).collect();
    let generated = client
        .generate_data_key_batch(kms::GenerateDataKeyBatchRequest { items })
        .await
        .expect("GenerateDataKeyBatch")
        .results;
    assert_eq!(generated.len(), 1000);
    let mut data_keys = Vec::new();
    for (n, result) in generated.into_iter().enumerate() {
        assert_eq!(result.index as usize, n);
        match result.result {
            Some(Generated::DataKey(key)) => {
                assert_eq!(key.key_id, key_arn(&keys[n % 2]));
                assert_eq!(key.plaintext.len(), 32);
                data_keys.push(key);
            }
            other => panic!("item {n} failed: {other:?}"),
        }
    }
    for key in data_keys.iter().step_by(97) {
        keyshard.observe_secret(&key.plaintext);
    }

    let items = data_keys
        .iter()
        .enumerate()
        .map(|(n, key)| kms::DecryptRequest {
            ciphertext_blob: Some(key.ciphertext_blob.clone()),
            encryption_context: pairs(&[("item", &n.to_string())]),
            ..Default::default()
        })
        .collect();
    let decrypted = client
        .decrypt_batch(kms::DecryptBatchRequest { items })
        .await
        .expect("DecryptBatch")
        .results;
    assert_eq!(decrypted.len(), 1000);
    for (n, (result, key)) in decrypted.into_iter().zip(&data_keys).enumerate() {
        match result.result {
            Some(Decrypted::Decrypted(opened)) => {
                assert_eq!(opened.plaintext, key.plaintext, "item {n}");
            }
            other => panic!("item {n} did not decrypt: {other:?}"),
        }
    }

    keyshard.finish();
}

#[tokio::test]
async fn each_item_of_a_batch_fails_on_its_own() {
    let keyshard = start().await;
    let client = client(&keyshard).await;
    let key_id = create_key(&client).await;

    let items = vec![
        item(&key_id, 0),
        item("alias/missing", 1),
        kms::GenerateDataKeyRequest {
            key_id: Some(key_id.clone()),
            ..Default::default()
        },
    ];
    let results = client
        .generate_data_key_batch(kms::GenerateDataKeyBatchRequest { items })
        .await
        .expect("GenerateDataKeyBatch")
        .results;
    assert!(matches!(results[0].result, Some(Generated::DataKey(_))));
    assert_eq!(
        results[1].result,
        Some(Generated::Error(kms::Error {
            code: Code::NotFound as i32,
            error_type: "NotFoundException".to_owned(),
            message: "Alias arn:aws:kms:us-east-1:111122223333:alias/missing is not found."
                .to_owned(),
        }))
    );
    assert_eq!(
        results[2].result,
        Some(Generated::Error(kms::Error {
            code: Code::InvalidArgument as i32,
            error_type: "ValidationException".to_owned(),
            message: "Please specify either number of bytes or key spec.".to_owned(),
        }))
    );

    let too_many = (0..1001).map(|n| item(&key_id, n)).collect();
    let refused = client
        .generate_data_key_batch(kms::GenerateDataKeyBatchRequest { items: too_many })
        .await;
    assert_eq!(
        failed(refused),
        (
            Code::InvalidArgument,
            "ValidationException".to_owned(),
            "1 validation error detected: Value at 'items' failed to satisfy constraint: \
             Member must have length less than or equal to 1000"
                .to_owned()
        )
    );

    let bad_blob = client
        .decrypt_batch(kms::DecryptBatchRequest {
            items: vec![kms::DecryptRequest {
                ciphertext_blob: Some(vec![1; 40]),
                ..Default::default()
            }],
        })
        .await
        .expect("DecryptBatch")
        .results;
    assert_eq!(
        bad_blob[0].result,
        Some(Decrypted::Error(kms::Error {
            code: Code::InvalidArgument as i32,
            error_type: "InvalidCiphertextException".to_owned(),
            message: "InvalidCiphertextException".to_owned(),
        }))
    );

    keyshard.finish();
}

#[tokio::test]
async fn a_streamed_batch_answers_every_item_once() {
    let keyshard = start().await;
    let client = client(&keyshard).await;
    let key_id = create_key(&client).await;

    let items = (0..200).map(|n| item(&key_id, n)).collect();
    let mut stream = client
        .generate_data_key_stream(kms::GenerateDataKeyBatchRequest { items })
        .await
        .expect("GenerateDataKeyStream");
    let mut seen = [false; 200];
    while let Some(result) = stream.message().await.expect("the stream continues") {
        let index = result.index as usize;
        assert!(!seen[index], "item {index} answered twice");
        seen[index] = true;
        assert!(
            matches!(&result.result, Some(Generated::DataKey(k)) if k.plaintext.len() == 32),
            "item {index}: {:?}",
            result.result
        );
    }
    assert_eq!(seen.iter().filter(|s| **s).count(), 200);

    keyshard.finish();
}

/// The calls a cluster's gateway has sent to each of its shards.
async fn shard_calls(cluster: &Cluster) -> Vec<u64> {
    let metrics = scrape(&cluster.gateways[0]).await;
    cluster
        .shards
        .iter()
        .map(|shard| {
            let labels = format!("keyshard_shard_calls_total{{shard=\"{}\"}}", shard.address);
            metric_in(&metrics, &labels)
        })
        .collect()
}

fn changed(before: &[u64], after: &[u64]) -> Vec<u64> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

#[tokio::test]
async fn a_batch_over_many_keys_makes_one_call_to_each_shard_that_owns_one() {
    let mut cluster = Cluster::start(2, 1).await;
    let address = cluster.gateways[0]
        .grpc
        .clone()
        .expect("the gateway serves gRPC");
    let client = client_at(&address, credentials_of(&cluster.root_credentials())).await;
    let mut keys = Vec::new();
    for _ in 0..8 {
        keys.push(create_key(&client).await);
    }
    // Which shard each key routes to: the one whose count a single call on it moves.
    let mut owners = [0u64; 2];
    for key_id in &keys {
        let before = shard_calls(&cluster).await;
        client
            .generate_data_key(item(key_id, 0))
            .await
            .expect("GenerateDataKey");
        let moved = changed(&before, &shard_calls(&cluster).await);
        let owner = moved
            .iter()
            .position(|&n| n == 1)
            .expect("one shard called");
        owners[owner] = 1;
    }

    let items = (0..400).map(|n| item(&keys[n % keys.len()], n)).collect();
    let before = shard_calls(&cluster).await;
    let generated = client
        .generate_data_key_batch(kms::GenerateDataKeyBatchRequest { items })
        .await
        .expect("GenerateDataKeyBatch")
        .results;
    assert_eq!(changed(&before, &shard_calls(&cluster).await), owners);
    let data_keys: Vec<kms::GenerateDataKeyResponse> = generated
        .into_iter()
        .map(|result| match result.result {
            Some(Generated::DataKey(key)) => key,
            other => panic!("item {} failed: {other:?}", result.index),
        })
        .collect();
    assert_eq!(data_keys.len(), 400);

    let decrypt_items = || {
        data_keys
            .iter()
            .enumerate()
            .map(|(n, key)| kms::DecryptRequest {
                ciphertext_blob: Some(key.ciphertext_blob.clone()),
                encryption_context: pairs(&[("item", &n.to_string())]),
                ..Default::default()
            })
            .collect()
    };
    let before = shard_calls(&cluster).await;
    let decrypted = client
        .decrypt_batch(kms::DecryptBatchRequest {
            items: decrypt_items(),
        })
        .await
        .expect("DecryptBatch")
        .results;
    assert_eq!(changed(&before, &shard_calls(&cluster).await), owners);
    for (result, key) in decrypted.iter().zip(&data_keys) {
        assert!(
            matches!(&result.result, Some(Decrypted::Decrypted(d)) if d.plaintext == key.plaintext),
            "item {}: {:?}",
            result.index,
            result.result
        );
    }

    // With one shard gone, its part of the batch goes to the other one, as a single call would.
    cluster.shards[1].kill();
    let decrypted = client
        .decrypt_batch(kms::DecryptBatchRequest {
            items: decrypt_items(),
        })
        .await
        .expect("DecryptBatch with one shard down")
        .results;
    let opened = decrypted
        .iter()
        .zip(&data_keys)
        .filter(|(result, key)| {
            matches!(&result.result, Some(Decrypted::Decrypted(d)) if d.plaintext == key.plaintext)
        })
        .count();
    assert_eq!(opened, 400);

    cluster.finish(&[FAILOVER_WARNING]);
}
