//! Using another account's key: a key policy statement for the other account's root lets every
//! principal of that account use the key by key ARN or alias ARN, never by an alias name,
//! which resolves in the caller's account (behaviour reference, sections 1 and 5.4).

use aws_sdk_kms::types::{DataKeySpec, KeyState};

use super::{
    OTHER_ACCOUNT, allow, client_of, create_key_with_policy, no_such_alias, no_such_key,
    not_allowed, policy, root, user,
};
use crate::cluster::nodes::Cluster;
use crate::harness::ACCOUNT;
use crate::support::{
    Failure, alias_arn, blob, context, create_alias, create_key, encrypt_text, failure, key_arn,
};

/// What the other account may do with the shared key.
const SHARED_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
];

#[tokio::test]
async fn a_policy_for_another_account_lets_it_use_the_key_by_key_arn_or_alias_arn() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let carol = client_of(&cluster, 0, &user(OTHER_ACCOUNT, "carol"));
    let shared_policy = policy(&[
        allow(&root(ACCOUNT), &["kms:*"]),
        allow(&root(OTHER_ACCOUNT), SHARED_ACTIONS),
    ]);
    let key_id = create_key_with_policy(&owner, &shared_policy).await;
    create_alias(&owner, "alias/shared", &key_id).await;
    let arn = key_arn(&key_id);
    let pairs = [("tenant", "b")];

    for form in [arn.clone(), alias_arn("alias/shared")] {
        let generated = carol
            .generate_data_key()
            .key_id(&form)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context(&pairs)))
            .send()
            .await
            .expect("GenerateDataKey with another account's key");
        assert_eq!(generated.key_id(), Some(arn.as_str()), "{form}");
        let decrypted = carol
            .decrypt()
            .key_id(&arn)
            .ciphertext_blob(generated.ciphertext_blob().expect("CiphertextBlob").clone())
            .set_encryption_context(Some(context(&pairs)))
            .send()
            .await
            .expect("Decrypt with another account's key");
        assert_eq!(decrypted.key_id(), Some(arn.as_str()), "{form}");
        assert_eq!(decrypted.plaintext(), generated.plaintext(), "{form}");

        let described = carol
            .describe_key()
            .key_id(&form)
            .send()
            .await
            .expect("DescribeKey of another account's key");
        let metadata = described.key_metadata().expect("KeyMetadata");
        assert_eq!(metadata.arn(), Some(arn.as_str()), "{form}");
        assert_eq!(metadata.aws_account_id(), Some(ACCOUNT), "{form}");
    }

    // Only the actions the statement names.
    let without_plaintext = carol
        .generate_data_key_without_plaintext()
        .key_id(&arn)
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(
        failure(without_plaintext),
        not_allowed(
            &user(OTHER_ACCOUNT, "carol"),
            "kms:GenerateDataKeyWithoutPlaintext",
            &arn
        )
    );

    // An alias name or a bare key id is looked up in the caller's own account.
    let by_name = carol
        .generate_data_key()
        .key_id("alias/shared")
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(
        failure(by_name),
        no_such_alias(OTHER_ACCOUNT, "alias/shared")
    );
    let by_id = carol.describe_key().key_id(&key_id).send().await;
    assert_eq!(failure(by_id), no_such_key(OTHER_ACCOUNT, &key_id));

    let described = owner.describe_key().key_id(&key_id).send().await;
    let metadata = described.expect("DescribeKey by the owner");
    assert_eq!(
        metadata.key_metadata().and_then(|m| m.key_state()),
        Some(&KeyState::Enabled)
    );

    cluster.finish(&[]);
}

// A symmetric ciphertext names its key, so Decrypt needs no KeyId, across accounts too (AWS KMS
// API Reference, Decrypt: KeyId).
#[tokio::test]
async fn the_owners_ciphertext_opens_for_an_allowed_account_without_a_key_id() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let carol = client_of(&cluster, 0, &user(OTHER_ACCOUNT, "carol"));
    let shared_policy = policy(&[
        allow(&root(ACCOUNT), &["kms:*"]),
        allow(&root(OTHER_ACCOUNT), SHARED_ACTIONS),
    ]);
    let key_id = create_key_with_policy(&owner, &shared_policy).await;
    let pairs = [("tenant", "b")];

    let sealed = encrypt_text(&owner, &key_id, "sealed by the owner", &pairs).await;
    let opened = carol
        .decrypt()
        .ciphertext_blob(sealed)
        .set_encryption_context(Some(context(&pairs)))
        .send()
        .await
        .expect("Decrypt of the owner's ciphertext");
    assert_eq!(opened.key_id(), Some(key_arn(&key_id).as_str()));
    assert_eq!(
        opened.plaintext().map(|p| p.as_ref().to_vec()),
        Some(b"sealed by the owner".to_vec())
    );

    cluster.finish(&[]);
}

#[tokio::test]
async fn without_a_statement_for_it_another_account_is_denied_naming_its_principal() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let carol_arn = user(OTHER_ACCOUNT, "carol");
    let carol = client_of(&cluster, 0, &carol_arn);
    let key_id = create_key(&owner).await;
    create_alias(&owner, "alias/private", &key_id).await;
    let arn = key_arn(&key_id);
    let denied = |action: &str| not_allowed(&carol_arn, action, &arn);

    for form in [arn.clone(), alias_arn("alias/private")] {
        let generated = carol
            .generate_data_key()
            .key_id(&form)
            .number_of_bytes(32)
            .send()
            .await;
        assert_eq!(failure(generated), denied("kms:GenerateDataKey"), "{form}");
        let encrypted = carol
            .encrypt()
            .key_id(&form)
            .plaintext(blob("not mine to seal"))
            .send()
            .await;
        assert_eq!(failure(encrypted), denied("kms:Encrypt"), "{form}");
        let described = carol.describe_key().key_id(&form).send().await;
        assert_eq!(failure(described), denied("kms:DescribeKey"), "{form}");
    }
    let sealed = encrypt_text(&owner, &key_id, "the owner's secret", &[]).await;
    let decrypted = carol
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(sealed.clone())
        .send()
        .await;
    assert_eq!(failure(decrypted), denied("kms:Decrypt"));
    // Without a KeyId, the refusal does not say whose key it is, nor whether it exists.
    let decrypted = carol.decrypt().ciphertext_blob(sealed).send().await;
    assert_eq!(
        failure(decrypted),
        Failure::new(
            400,
            "AccessDeniedException",
            Some(
                "The ciphertext refers to a customer master key that does not exist, does not \
                 exist in this region, or you are not allowed to access."
            )
        )
    );

    // A statement for another principal of the other account is no statement for this one.
    let for_dave = policy(&[
        allow(&root(ACCOUNT), &["kms:*"]),
        allow(&user(OTHER_ACCOUNT, "dave"), SHARED_ACTIONS),
    ]);
    owner
        .put_key_policy()
        .key_id(&key_id)
        .policy(for_dave)
        .send()
        .await
        .expect("PutKeyPolicy");
    let generated = carol
        .generate_data_key()
        .key_id(&arn)
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(failure(generated), denied("kms:GenerateDataKey"));
    let dave = client_of(&cluster, 0, &user(OTHER_ACCOUNT, "dave"));
    let generated = dave
        .generate_data_key()
        .key_id(&arn)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey by the principal the policy names");
    assert_eq!(generated.key_id(), Some(arn.as_str()));

    cluster.finish(&[]);
}

#[tokio::test]
async fn another_account_the_policy_allows_lists_the_keys_grants_by_key_arn() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let carol = client_of(&cluster, 0, &user(OTHER_ACCOUNT, "carol"));
    let listing_policy = policy(&[
        allow(&root(ACCOUNT), &["kms:*"]),
        allow(&root(OTHER_ACCOUNT), &["kms:ListGrants"]),
    ]);
    let key_id = create_key_with_policy(&owner, &listing_policy).await;
    let arn = key_arn(&key_id);
    let grant_id = owner
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(user(ACCOUNT, "dave"))
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .expect("CreateGrant")
        .grant_id()
        .expect("GrantId")
        .to_owned();

    let listed = carol
        .list_grants()
        .key_id(&arn)
        .send()
        .await
        .expect("ListGrants on another account's key");
    let grants: Vec<(Option<&str>, Option<&str>, Option<&str>)> = listed
        .grants()
        .iter()
        .map(|g| (g.key_id(), g.grant_id(), g.issuing_account()))
        .collect();
    assert_eq!(
        grants,
        [(
            Some(arn.as_str()),
            Some(grant_id.as_str()),
            Some(root(ACCOUNT).as_str())
        )]
    );

    cluster.finish(&[]);
}
