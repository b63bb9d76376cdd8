//! Grants in use: a grant lets its grantee do its operations on its key within its
//! constraints, with or without its grant token, until it is revoked, which every shard honours
//! (behaviour reference, sections 3.8 and 5.3).

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use tokio::time::Instant;

use super::{ADMINISTRATION, allow, create_key_with_policy, not_allowed, policy, root, user};
use crate::cluster::nodes::Cluster;
use crate::harness::ACCOUNT;
use crate::support::{Failure, blob, context, failure, key_arn};

/// The one encryption context the grant allows.
const PURPOSE: [(&str, &str); 1] = [("purpose", "test")];

/// Encrypt under `arn` with the encryption context `pairs` (none when empty) and the grant
/// tokens `tokens`.
async fn encrypt_with(
    client: &Client,
    arn: &str,
    pairs: &[(&str, &str)],
    tokens: &[&str],
) -> Result<Blob, Failure> {
    let answer = client
        .encrypt()
        .key_id(arn)
        .plaintext(blob("granted plaintext"))
        .set_encryption_context(Some(context(pairs)).filter(|c| !c.is_empty()))
        .set_grant_tokens(
            Some(tokens.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
                .filter(|t| !t.is_empty()),
        )
        .send()
        .await;
    match answer {
        Ok(encrypted) => {
            assert_eq!(encrypted.key_id(), Some(arn));
            Ok(encrypted.ciphertext_blob().expect("CiphertextBlob").clone())
        }
        Err(err) => Err(failure::<(), _>(Err(err))),
    }
}

#[tokio::test]
async fn a_grant_with_an_encryption_context_constraint_allows_only_that_context() {
    let mut cluster = Cluster::start(2, 1).await;
    let per_shard = [
        cluster.add_gateway(&[0]).await,
        cluster.add_gateway(&[1]).await,
    ];
    let owner = cluster.client(0);
    let bob_arn = user(ACCOUNT, "bob");
    let bob_key = cluster.create_access_key(ACCOUNT, Some(&bob_arn), None);
    let bob = cluster.client_as(0, bob_key.clone());
    let administered = policy(&[allow(&root(ACCOUNT), ADMINISTRATION)]);
    let key_id = create_key_with_policy(&owner, &administered).await;
    let arn = key_arn(&key_id);
    let denied = |action: &str| not_allowed(&bob_arn, action, &arn);

    assert_eq!(
        encrypt_with(&bob, &arn, &PURPOSE, &[]).await,
        Err(denied("kms:Encrypt"))
    );

    let grant = owner
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(&bob_arn)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_equals("purpose", "test")
                .build(),
        )
        .send()
        .await
        .expect("CreateGrant");
    let token = grant.grant_token().expect("GrantToken");
    let grant_id = grant.grant_id().expect("GrantId");

    let sealed = encrypt_with(&bob, &arn, &PURPOSE, &[token])
        .await
        .expect("Encrypt with the grant token");
    for gateway in per_shard {
        let client = cluster.client_as(gateway, bob_key.clone());
        let sealed = encrypt_with(&client, &arn, &PURPOSE, &[]).await;
        assert_eq!(sealed.map(|_| ()), Ok(()), "through gateway {gateway}");
    }
    let opened = bob
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(sealed.clone())
        .set_encryption_context(Some(context(&PURPOSE)))
        .send()
        .await
        .expect("Decrypt within the grant");
    assert_eq!(
        opened.plaintext().map(|p| p.as_ref().to_vec()),
        Some(b"granted plaintext".to_vec())
    );

    // In a grant constraint the keys are not case sensitive, the values are (AWS KMS API
    // Reference, GrantConstraints).
    let recased = encrypt_with(&bob, &arn, &[("PURPOSE", "test")], &[]).await;
    assert_eq!(recased.map(|_| ()), Ok(()));
    // EncryptionContextEquals: exactly these pairs, no fewer and no more.
    let other_contexts: [&[(&str, &str)]; 4] = [
        &[("purpose", "other")],
        &[],
        &[("purpose", "test"), ("extra", "pair")],
        &[("purpose", "Test")],
    ];
    for pairs in other_contexts {
        for tokens in [&[][..], &[token][..]] {
            assert_eq!(
                encrypt_with(&bob, &arn, pairs, tokens).await,
                Err(denied("kms:Encrypt")),
                "{pairs:?} with {} tokens",
                tokens.len()
            );
        }
    }
    let opened = bob
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(sealed)
        .set_encryption_context(Some(context(&[("purpose", "other")])))
        .send()
        .await;
    assert_eq!(failure(opened), denied("kms:Decrypt"));
    // Only the granted operations.
    let generated = bob
        .generate_data_key()
        .key_id(&arn)
        .number_of_bytes(32)
        .set_encryption_context(Some(context(&PURPOSE)))
        .send()
        .await;
    assert_eq!(failure(generated), denied("kms:GenerateDataKey"));

    owner
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(grant_id)
        .send()
        .await
        .expect("RevokeGrant");
    let revoked_at = Instant::now();
    for gateway in [0, per_shard[0], per_shard[1]] {
        let client = cluster.client_as(gateway, bob_key.clone());
        loop {
            match encrypt_with(&client, &arn, &PURPOSE, &[]).await {
                Err(refused) => {
                    assert_eq!(refused, denied("kms:Encrypt"), "gateway {gateway}");
                    break;
                }
                Ok(_) => assert!(
                    revoked_at.elapsed() < Duration::from_secs(1),
                    "gateway {gateway} still serves the revoked grant"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    cluster.finish(&[]);
}
