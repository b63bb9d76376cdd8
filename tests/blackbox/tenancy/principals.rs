//! Key policy statements naming single principals within an account: an Allow for one user
//! serves that user alone, and a Deny beats any Allow, including the account's (behaviour
//! reference, section 5.4).

use aws_sdk_kms::Client;

use super::{
    ADMINISTRATION, OTHER_ACCOUNT, allow, client_of, create_key_with_policy, denied_explicitly,
    deny, not_allowed, policy, root, user,
};
use crate::cluster::nodes::Cluster;
use crate::harness::ACCOUNT;
use crate::support::{blob, failure, key_arn};

/// Encrypts a short text under the key ARN and returns the key ARN Encrypt answers with.
async fn encrypt(client: &Client, arn: &str) -> Option<String> {
    let encrypted = client
        .encrypt()
        .key_id(arn)
        .plaintext(blob("a principal's plaintext"))
        .send()
        .await
        .expect("Encrypt");
    encrypted.key_id().map(str::to_owned)
}

#[tokio::test]
async fn a_statement_for_one_user_allows_that_user_and_nobody_else() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let (alice_arn, bob_arn) = (user(ACCOUNT, "alice"), user(ACCOUNT, "bob"));
    let namesake_arn = user(OTHER_ACCOUNT, "alice");
    let alice = client_of(&cluster, 0, &alice_arn);
    let bob = client_of(&cluster, 0, &bob_arn);
    let namesake = client_of(&cluster, 0, &namesake_arn);
    let alice_only = policy(&[
        allow(&root(ACCOUNT), ADMINISTRATION),
        allow(&alice_arn, &["kms:Encrypt"]),
    ]);
    let key_id = create_key_with_policy(&owner, &alice_only).await;
    let arn = key_arn(&key_id);

    assert_eq!(encrypt(&alice, &arn).await, Some(arn.clone()));

    let by_bob = bob
        .encrypt()
        .key_id(&arn)
        .plaintext(blob("bob's plaintext"))
        .send()
        .await;
    assert_eq!(failure(by_bob), not_allowed(&bob_arn, "kms:Encrypt", &arn));
    // The account's root administers the key but was given no use of it.
    let by_root = owner
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("root's plaintext"))
        .send()
        .await;
    assert_eq!(
        failure(by_root),
        not_allowed(&root(ACCOUNT), "kms:Encrypt", &arn)
    );
    // A user of the same name in another account is another principal.
    let by_namesake = namesake
        .encrypt()
        .key_id(&arn)
        .plaintext(blob("the namesake's plaintext"))
        .send()
        .await;
    assert_eq!(
        failure(by_namesake),
        not_allowed(&namesake_arn, "kms:Encrypt", &arn)
    );
    // Alice may encrypt, and nothing else.
    let generated = alice
        .generate_data_key()
        .key_id(&arn)
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(
        failure(generated),
        not_allowed(&alice_arn, "kms:GenerateDataKey", &arn)
    );

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_deny_for_one_user_beats_the_accounts_allow_and_the_users_own() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let (alice_arn, bob_arn) = (user(ACCOUNT, "alice"), user(ACCOUNT, "bob"));
    let alice = client_of(&cluster, 0, &alice_arn);
    let bob = client_of(&cluster, 0, &bob_arn);
    let all_but_bob = policy(&[
        allow(&root(ACCOUNT), &["kms:*"]),
        allow(&bob_arn, &["kms:Encrypt", "kms:GenerateDataKey"]),
        deny(&bob_arn, &["kms:Encrypt"]),
    ]);
    let key_id = create_key_with_policy(&owner, &all_but_bob).await;
    let arn = key_arn(&key_id);

    let by_bob = bob
        .encrypt()
        .key_id(&arn)
        .plaintext(blob("bob's plaintext"))
        .send()
        .await;
    assert_eq!(
        failure(by_bob),
        denied_explicitly(&bob_arn, "kms:Encrypt", &arn)
    );
    // The Deny names Encrypt only.
    let generated = bob
        .generate_data_key()
        .key_id(&arn)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey by bob");
    assert_eq!(generated.key_id(), Some(arn.as_str()));

    assert_eq!(encrypt(&alice, &arn).await, Some(arn.clone()));
    assert_eq!(encrypt(&owner, &arn).await, Some(arn.clone()));

    cluster.finish(&[]);
}
