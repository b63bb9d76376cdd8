//! The public gRPC API (`keyshard.kms.v1`), driven with `keyshard-client` and with the bare
//! generated tonic client: every operation, errors as status codes with their AWS type, blobs
//! that cross between gRPC and JSON 1.1, and the batch methods.

mod batch;
mod errors;
mod kms_plugin;
mod probes;

use std::collections::HashMap;

use aws_credential_types::Credentials as SdkCredentials;
use keyshard_client::{Client, Credentials, Error, kms};
use tonic::Code;

use crate::harness::{ACCESS_KEY_ID, Keyshard, REGION, SECRET_ACCESS_KEY};
use crate::support::{blob, context, key_arn};

/// `keyshard dev` with its public gRPC API on a free port.
pub(crate) async fn start() -> Keyshard {
    Keyshard::start_with_args(&["--grpc-listen", "127.0.0.1:0"]).await
}

/// A client of the gRPC API at `address` signing with `credentials`.
pub(crate) async fn client_at(address: &str, credentials: Credentials) -> Client {
    Client::connect(&format!("http://{address}"), REGION, credentials)
        .await
        .expect("the gRPC API accepts connections")
}

/// A client of a `keyshard dev`'s gRPC API signing with the black-box test credentials.
pub(crate) async fn client(keyshard: &Keyshard) -> Client {
    let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None);
    client_at(keyshard.grpc_address(), credentials).await
}

/// The same credentials in the client's terms.
pub(crate) fn credentials_of(sdk: &SdkCredentials) -> Credentials {
    Credentials::new(
        sdk.access_key_id(),
        sdk.secret_access_key(),
        sdk.session_token().map(str::to_owned),
    )
}

/// A new key's bare id.
pub(crate) async fn create_key(client: &Client) -> String {
    let created = client
        .create_key(kms::CreateKeyRequest {
            description: Some("grpc".to_owned()),
            ..Default::default()
        })
        .await
        .expect("CreateKey");
    created.key_metadata.expect("KeyMetadata").key_id
}

/// The error of a call that must fail.
pub(crate) fn failed<T: std::fmt::Debug>(result: Result<T, Error>) -> (Code, String, String) {
    let err = result.expect_err("the call fails");
    let error_type = err.error_type().expect("an AWS error type").to_owned();
    (err.code(), error_type, err.message().to_owned())
}

fn pairs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    context(pairs)
}

#[tokio::test]
async fn every_operation_works_over_grpc() {
    let keyshard = start().await;
    let client = client(&keyshard).await;

    let created = client
        .create_key(kms::CreateKeyRequest {
            description: Some("over gRPC".to_owned()),
            tags: vec![kms::Tag {
                tag_key: "team".to_owned(),
                tag_value: "storage".to_owned(),
            }],
            ..Default::default()
        })
        .await
        .expect("CreateKey");
    let metadata = created.key_metadata.expect("KeyMetadata");
    let key_id = metadata.key_id.clone();
    assert_eq!(metadata.arn, key_arn(&key_id));
    assert_eq!(metadata.aws_account_id, "111122223333");
    assert_eq!(metadata.description, "over gRPC");
    assert_eq!(
        (metadata.key_state.as_str(), metadata.key_spec.as_str()),
        ("Enabled", "SYMMETRIC_DEFAULT")
    );
    assert_eq!(metadata.key_usage, "ENCRYPT_DECRYPT");
    assert_eq!(metadata.encryption_algorithms, vec!["SYMMETRIC_DEFAULT"]);
    assert!(
        metadata
            .creation_date
            .is_some_and(|t| t.seconds > 1_700_000_000)
    );

    let described = client
        .describe_key(kms::DescribeKeyRequest {
            key_id: Some(key_arn(&key_id)),
            ..Default::default()
        })
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(described, metadata);

    let listed = client
        .list_keys(kms::ListKeysRequest::default())
        .await
        .expect("ListKeys");
    assert_eq!(
        listed.keys,
        vec![kms::KeyListEntry {
            key_id: key_id.clone(),
            key_arn: key_arn(&key_id),
        }]
    );
    assert!(!listed.truncated);

    client
        .create_alias(kms::CreateAliasRequest {
            alias_name: Some("alias/grpc".to_owned()),
            target_key_id: Some(key_id.clone()),
        })
        .await
        .expect("CreateAlias");
    let aliases = client
        .list_aliases(kms::ListAliasesRequest {
            key_id: Some(key_id.clone()),
            ..Default::default()
        })
        .await
        .expect("ListAliases");
    assert_eq!(
        aliases
            .aliases
            .iter()
            .map(|a| (a.alias_name.as_str(), a.target_key_id.as_deref()))
            .collect::<Vec<_>>(),
        vec![("alias/grpc", Some(key_id.as_str()))]
    );

    let encrypted = client
        .encrypt(kms::EncryptRequest {
            key_id: Some("alias/grpc".to_owned()),
            plaintext: Some(b"grpc secret 1".to_vec()),
            encryption_context: pairs(&[("purpose", "test")]),
            ..Default::default()
        })
        .await
        .expect("Encrypt");
    assert_eq!(encrypted.key_id, key_arn(&key_id));
    assert_eq!(encrypted.encryption_algorithm, "SYMMETRIC_DEFAULT");
    let decrypted = client
        .decrypt(kms::DecryptRequest {
            ciphertext_blob: Some(encrypted.ciphertext_blob.clone()),
            encryption_context: pairs(&[("purpose", "test")]),
            ..Default::default()
        })
        .await
        .expect("Decrypt");
    assert_eq!(decrypted.plaintext, b"grpc secret 1");
    assert_eq!(decrypted.key_id, key_arn(&key_id));
    assert_eq!(
        decrypted.key_material_id,
        described
            .current_key_material_id
            .clone()
            .expect("a key material id")
    );

    let other_key = create_key(&client).await;
    let reencrypted = client
        .re_encrypt(kms::ReEncryptRequest {
            ciphertext_blob: Some(encrypted.ciphertext_blob.clone()),
            source_encryption_context: pairs(&[("purpose", "test")]),
            destination_key_id: Some(other_key.clone()),
            ..Default::default()
        })
        .await
        .expect("ReEncrypt");
    assert_eq!(reencrypted.source_key_id, key_arn(&key_id));
    assert_eq!(reencrypted.key_id, key_arn(&other_key));
    let reopened = client
        .decrypt(kms::DecryptRequest {
            ciphertext_blob: Some(reencrypted.ciphertext_blob),
            ..Default::default()
        })
        .await
        .expect("Decrypt after ReEncrypt");
    assert_eq!(
        (reopened.plaintext.as_slice(), reopened.key_id.as_str()),
        (b"grpc secret 1".as_slice(), key_arn(&other_key).as_str())
    );

    let data_key = client
        .generate_data_key(kms::GenerateDataKeyRequest {
            key_id: Some(key_id.clone()),
            key_spec: Some("AES_256".to_owned()),
            ..Default::default()
        })
        .await
        .expect("GenerateDataKey");
    keyshard.observe_secret(&data_key.plaintext);
    assert_eq!(data_key.plaintext.len(), 32);
    let opened = client
        .decrypt(kms::DecryptRequest {
            ciphertext_blob: Some(data_key.ciphertext_blob),
            ..Default::default()
        })
        .await
        .expect("Decrypt of a data key");
    assert_eq!(opened.plaintext, data_key.plaintext);

    let sealed_only = client
        .generate_data_key_without_plaintext(kms::GenerateDataKeyWithoutPlaintextRequest {
            key_id: Some(key_id.clone()),
            number_of_bytes: Some(17),
            ..Default::default()
        })
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    let opened = client
        .decrypt(kms::DecryptRequest {
            ciphertext_blob: Some(sealed_only.ciphertext_blob),
            ..Default::default()
        })
        .await
        .expect("Decrypt of a data key made without plaintext");
    assert_eq!(opened.plaintext.len(), 17);
    keyshard.observe_secret(&opened.plaintext);

    let random = client
        .generate_random(kms::GenerateRandomRequest {
            number_of_bytes: Some(48),
            ..Default::default()
        })
        .await
        .expect("GenerateRandom");
    assert_eq!(random.plaintext.len(), 48);

    client
        .delete_alias(kms::DeleteAliasRequest {
            alias_name: Some("alias/grpc".to_owned()),
        })
        .await
        .expect("DeleteAlias");
    let after = client
        .list_aliases(kms::ListAliasesRequest::default())
        .await
        .expect("ListAliases after DeleteAlias");
    assert_eq!(after.aliases, Vec::new());

    keyshard.finish();
}

#[tokio::test]
async fn ciphertexts_cross_between_grpc_and_json() {
    let keyshard = start().await;
    let grpc = client(&keyshard).await;
    let json = keyshard.client();
    let key_id = create_key(&grpc).await;

    let over_grpc = grpc
        .encrypt(kms::EncryptRequest {
            key_id: Some(key_id.clone()),
            plaintext: Some(b"made over gRPC".to_vec()),
            encryption_context: pairs(&[("side", "grpc")]),
            ..Default::default()
        })
        .await
        .expect("Encrypt over gRPC");
    let opened = json
        .decrypt()
        .ciphertext_blob(blob(over_grpc.ciphertext_blob))
        .set_encryption_context(Some(context(&[("side", "grpc")])))
        .send()
        .await
        .expect("Decrypt over JSON");
    assert_eq!(
        opened.plaintext().map(|p| p.as_ref()),
        Some(b"made over gRPC".as_slice())
    );

    let over_json = json
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .set_encryption_context(Some(context(&[("side", "json")])))
        .send()
        .await
        .expect("GenerateDataKey over JSON");
    let plaintext = over_json.plaintext().expect("Plaintext").as_ref().to_vec();
    let opened = grpc
        .decrypt(kms::DecryptRequest {
            ciphertext_blob: Some(
                over_json
                    .ciphertext_blob()
                    .expect("CiphertextBlob")
                    .as_ref()
                    .to_vec(),
            ),
            encryption_context: pairs(&[("side", "json")]),
            ..Default::default()
        })
        .await
        .expect("Decrypt over gRPC");
    assert_eq!(opened.plaintext, plaintext);
    assert_eq!(opened.key_id, key_arn(&key_id));

    keyshard.finish();
}
