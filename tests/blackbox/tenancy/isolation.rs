//! One account cannot see or change another's keys: a bare key id or an alias name resolves in
//! the caller's own account, listings show only its own keys and aliases, and another
//! account's key ARN reaches no operation AWS keeps within an account (behaviour reference,
//! section 1, "Cross-account use needs an ARN").

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyState, Tag};

use super::{
    OTHER_ACCOUNT, allow, client_of, create_key_with_policy, no_such_alias, no_such_key,
    not_allowed, policy, root, user,
};
use crate::cluster::nodes::Cluster;
use crate::harness::ACCOUNT;
use crate::support::{
    alias_arn_in, blob, create_alias, create_key, customer_aliases, failure, key_arn, key_arn_in,
    key_metadata,
};
use crate::tags::tag;

/// The ids ListKeys returns for the caller's account, sorted.
async fn listed_key_ids(client: &Client) -> Vec<String> {
    let listed = client.list_keys().send().await.expect("ListKeys");
    assert!(!listed.truncated());
    let mut ids: Vec<String> = listed
        .keys()
        .iter()
        .map(|k| k.key_id().unwrap_or_default().to_owned())
        .collect();
    ids.sort_unstable();
    ids
}

/// The customer aliases of the caller's account as (name, ARN, target key id).
async fn listed_aliases(client: &Client) -> Vec<(String, String, String)> {
    let mut aliases: Vec<(String, String, String)> = customer_aliases(client)
        .await
        .iter()
        .map(|a| {
            (
                a.alias_name().unwrap_or_default().to_owned(),
                a.alias_arn().unwrap_or_default().to_owned(),
                a.target_key_id().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    aliases.sort_unstable();
    aliases
}

async fn tags_of(client: &Client, key_id: &str) -> Vec<Tag> {
    let listed = client
        .list_resource_tags()
        .key_id(key_id)
        .send()
        .await
        .expect("ListResourceTags");
    listed.tags().to_vec()
}

#[tokio::test]
async fn another_account_finds_no_key_of_the_first_by_id_alias_or_listing() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let carol = client_of(&cluster, 0, &user(OTHER_ACCOUNT, "carol"));

    let mut owned = Vec::new();
    for _ in 0..3 {
        owned.push(create_key(&owner).await);
    }
    let mut theirs = Vec::new();
    for _ in 0..2 {
        theirs.push(create_key(&carol).await);
    }
    let (key_id, their_key_id) = (owned[0].clone(), theirs[0].clone());
    create_alias(&owner, "alias/shared", &key_id).await;
    create_alias(&owner, "alias/owner-only", &key_id).await;
    // Alias names are unique per account, so the other account may take the same name.
    create_alias(&carol, "alias/shared", &their_key_id).await;
    owner
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("owner", "a"))
        .send()
        .await
        .expect("TagResource");

    let not_found = no_such_key(OTHER_ACCOUNT, &key_id);
    let described = carol.describe_key().key_id(&key_id).send().await;
    assert_eq!(failure(described), not_found);
    let encrypted = carol
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("for someone else's key"))
        .send()
        .await;
    assert_eq!(failure(encrypted), not_found);
    let generated = carol
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await;
    assert_eq!(failure(generated), not_found);
    let aliased = carol
        .create_alias()
        .alias_name("alias/borrowed")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(aliased), not_found);
    let tagged = carol
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("owner", "b"))
        .send()
        .await;
    assert_eq!(failure(tagged), not_found);
    let tags = carol.list_resource_tags().key_id(&key_id).send().await;
    assert_eq!(failure(tags), not_found);
    let grants = carol.list_grants().key_id(&key_id).send().await;
    assert_eq!(failure(grants), not_found);
    let disabled = carol.disable_key().key_id(&key_id).send().await;
    assert_eq!(failure(disabled), not_found);
    let scheduled = carol
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await;
    assert_eq!(failure(scheduled), not_found);

    // An alias name is looked up in the caller's account.
    let described = carol.describe_key().key_id("alias/owner-only").send().await;
    assert_eq!(
        failure(described),
        no_such_alias(OTHER_ACCOUNT, "alias/owner-only")
    );
    let encrypted = carol
        .encrypt()
        .key_id("alias/shared")
        .plaintext(blob("under my own alias"))
        .send()
        .await
        .expect("Encrypt under the caller's own alias/shared");
    assert_eq!(
        encrypted.key_id(),
        Some(key_arn_in(OTHER_ACCOUNT, &their_key_id).as_str())
    );

    owned.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(listed_key_ids(&owner).await, owned);
    assert_eq!(listed_key_ids(&carol).await, theirs);
    let alias = |account: &str, name: &str, target: &str| {
        (
            name.to_owned(),
            alias_arn_in(account, name),
            target.to_owned(),
        )
    };
    assert_eq!(
        listed_aliases(&owner).await,
        vec![
            alias(ACCOUNT, "alias/owner-only", &key_id),
            alias(ACCOUNT, "alias/shared", &key_id),
        ]
    );
    assert_eq!(
        listed_aliases(&carol).await,
        vec![alias(OTHER_ACCOUNT, "alias/shared", &their_key_id)]
    );

    let metadata = key_metadata(&owner, &key_id).await;
    assert_eq!(metadata.key_state(), Some(&KeyState::Enabled));
    assert_eq!(tags_of(&owner, &key_id).await, vec![tag("owner", "a")]);

    cluster.finish(&[]);
}

// AWS allows these operations within the key's account only (AWS KMS API Reference,
// "Cross-account use: No"): another account's key ARN reaches none of them, even through a key
// policy that allows that account everything.
#[tokio::test]
async fn another_accounts_key_arn_reaches_no_operation_kept_within_an_account() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let carol_arn = user(OTHER_ACCOUNT, "carol");
    let carol = client_of(&cluster, 0, &carol_arn);
    let open_to_all = policy(&[
        allow(&root(ACCOUNT), &["kms:*"]),
        allow(&root(OTHER_ACCOUNT), &["kms:*"]),
    ]);
    let shared = create_key_with_policy(&owner, &open_to_all).await;
    let private = create_key(&owner).await;

    for key_id in [&shared, &private] {
        let arn = key_arn(key_id);
        let denied = |action: &str| not_allowed(&carol_arn, action, &arn);
        let tagged = carol
            .tag_resource()
            .key_id(&arn)
            .tags(tag("owner", "b"))
            .send()
            .await;
        assert_eq!(failure(tagged), denied("kms:TagResource"), "{arn}");
        let untagged = carol
            .untag_resource()
            .key_id(&arn)
            .tag_keys("owner")
            .send()
            .await;
        assert_eq!(failure(untagged), denied("kms:UntagResource"), "{arn}");
        let aliased = carol
            .create_alias()
            .alias_name("alias/borrowed")
            .target_key_id(&arn)
            .send()
            .await;
        assert_eq!(failure(aliased), denied("kms:CreateAlias"), "{arn}");
        let disabled = carol.disable_key().key_id(&arn).send().await;
        assert_eq!(failure(disabled), denied("kms:DisableKey"), "{arn}");
        let scheduled = carol
            .schedule_key_deletion()
            .key_id(&arn)
            .pending_window_in_days(7)
            .send()
            .await;
        assert_eq!(
            failure(scheduled),
            denied("kms:ScheduleKeyDeletion"),
            "{arn}"
        );
        let policy_read = carol.get_key_policy().key_id(&arn).send().await;
        assert_eq!(failure(policy_read), denied("kms:GetKeyPolicy"), "{arn}");
        let policy_put = carol
            .put_key_policy()
            .key_id(&arn)
            .policy(policy(&[allow(&root(OTHER_ACCOUNT), &["kms:*"])]))
            .send()
            .await;
        assert_eq!(failure(policy_put), denied("kms:PutKeyPolicy"), "{arn}");
        let described = carol
            .update_key_description()
            .key_id(&arn)
            .description("taken over")
            .send()
            .await;
        assert_eq!(
            failure(described),
            denied("kms:UpdateKeyDescription"),
            "{arn}"
        );
    }

    for key_id in [&shared, &private] {
        let metadata = key_metadata(&owner, key_id).await;
        assert_eq!(metadata.key_state(), Some(&KeyState::Enabled));
        assert_eq!(metadata.description(), Some(""));
        assert_eq!(tags_of(&owner, key_id).await, Vec::<Tag>::new());
    }
    assert_eq!(listed_aliases(&carol).await, Vec::new());
    assert_eq!(
        failure(carol.describe_key().key_id("alias/borrowed").send().await),
        no_such_alias(OTHER_ACCOUNT, "alias/borrowed")
    );

    cluster.finish(&[]);
}
