//! Durability: keys, aliases and ciphertexts outlive a restart of `keyshard dev` on the same
//! data directory.

use std::time::Duration;

use aws_sdk_kms::types::DataKeySpec;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::Keyshard;
use crate::raw_http::{RawRequest, parse_response};
use crate::support::{blob, context, create_key, key_arn};

#[tokio::test]
async fn a_key_and_its_alias_survive_a_restart_and_old_ciphertexts_still_decrypt() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/durable")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let encrypted = client
        .encrypt()
        .key_id("alias/durable")
        .plaintext(blob("written before the restart"))
        .encryption_context("stage", "before")
        .send()
        .await
        .expect("Encrypt");
    let ciphertext = encrypted.ciphertext_blob().expect("CiphertextBlob").clone();
    let data_key = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    let described = client.describe_key().key_id(&key_id).send().await;
    let metadata_before = described.expect("DescribeKey").key_metadata().cloned();
    let aliases = client.list_aliases().send().await;
    let aliases_before = aliases.expect("ListAliases").aliases().to_vec();

    let ks = ks.restart().await;
    let client = ks.client();

    let described = client.describe_key().key_id("alias/durable").send().await;
    assert_eq!(
        described.expect("DescribeKey").key_metadata().cloned(),
        metadata_before
    );
    let aliases = client.list_aliases().send().await;
    assert_eq!(aliases.expect("ListAliases").aliases(), aliases_before);
    let listed = client.list_keys().send().await.expect("ListKeys");
    let ids: Vec<&str> = listed.keys().iter().filter_map(|k| k.key_id()).collect();
    assert_eq!(ids, [key_id.as_str()]);

    let decrypted = client
        .decrypt()
        .ciphertext_blob(ciphertext)
        .set_encryption_context(Some(context(&[("stage", "before")])))
        .send()
        .await
        .expect("Decrypt after the restart");
    assert_eq!(
        (decrypted.key_id(), decrypted.plaintext()),
        (
            Some(key_arn(&key_id).as_str()),
            Some(&blob("written before the restart"))
        )
    );
    let data_key_blob = data_key.ciphertext_blob().expect("CiphertextBlob").clone();
    let decrypted = client.decrypt().ciphertext_blob(data_key_blob).send().await;
    assert_eq!(
        decrypted.expect("Decrypt after the restart").plaintext(),
        data_key.plaintext()
    );
    let encrypted = client
        .encrypt()
        .key_id("alias/durable")
        .plaintext(blob("written after the restart"))
        .send()
        .await
        .expect("Encrypt after the restart");
    assert_eq!(encrypted.key_id(), Some(key_arn(&key_id).as_str()));

    ks.finish();
}

#[tokio::test]
async fn start_in_an_existing_data_directory_reuses_its_keys() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let first = Keyshard::start_in(dir.path()).await;
    let key_id = create_key(&first.client()).await;
    first.finish();

    let second = Keyshard::start_in(dir.path()).await;
    let described = second.client().describe_key().key_id(&key_id).send().await;
    let metadata = described.expect("DescribeKey after the restart");
    assert_eq!(
        metadata.key_metadata().and_then(|m| m.arn()),
        Some(key_arn(&key_id).as_str())
    );

    second.finish();
}

// On SIGTERM the process stops taking connections, answers the request in flight, and exits
// within its grace period (README, Configuration: --shutdown-grace-seconds).
#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_then_the_process_exits() {
    let mut ks = Keyshard::start_with_args(&["--shutdown-grace-seconds", "10"]).await;
    let address = ks.address().to_owned();
    let request = RawRequest::new("GenerateRandom", json!({"NumberOfBytes": 32}).to_string());
    let (first, rest) = request.body.split_at(request.body.len() / 2);

    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("keyshard accepts");
    stream
        .write_all(request.head(&address).as_bytes())
        .await
        .expect("headers sent");
    stream.write_all(first).await.expect("half the body sent");
    tokio::time::sleep(Duration::from_millis(200)).await;

    ks.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = tokio::net::TcpStream::connect(&address).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after SIGTERM"
    );

    stream
        .write_all(rest)
        .await
        .expect("the rest of the body sent");
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the answer comes in time")
        .expect("the answer is read");
    let response = parse_response(&received).expect("a whole HTTP response");
    assert_eq!(response.status, 200);
    let plaintext = response.json()["Plaintext"]
        .as_str()
        .map(|b64| STANDARD.decode(b64).expect("base64").len());
    assert_eq!(plaintext, Some(32));
    assert!(
        ks.exited_within(Duration::from_secs(5)).await,
        "keyshard did not exit cleanly after its last connection closed"
    );

    ks.finish();
}
