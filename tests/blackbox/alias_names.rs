//! Alias names: the `alias/` prefix, the model's pattern and length, the reserved `alias/aws/`
//! prefix, case sensitivity, and the aliases-per-key quota (behaviour reference, sections 1,
//! 5.1 and 8).

use crate::harness::Keyshard;
use crate::support::{Failure, alias_arn, create_key, customer_aliases, failure, key_arn};

const PREFIX_MESSAGE: &str = "Alias must start with the prefix \"alias/\". Please see \
                              https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html";

#[tokio::test]
async fn alias_names_without_the_alias_prefix_are_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let expected = Failure::new(400, "ValidationException", Some(PREFIX_MESSAGE));

    let created = client
        .create_alias()
        .alias_name("no-prefix")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(created), expected);
    let updated = client
        .update_alias()
        .alias_name("no-prefix")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(updated), expected);
    let deleted = client.delete_alias().alias_name("no-prefix").send().await;
    assert_eq!(failure(deleted), expected);

    ks.finish();
}

#[tokio::test]
async fn alias_names_breaking_the_model_pattern_or_length_are_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let too_long = format!("alias/{}", "a".repeat(251));
    for name in ["alias/has space", "alias/star*", too_long.as_str()] {
        let created = client
            .create_alias()
            .alias_name(name)
            .target_key_id(&key_id)
            .send()
            .await;
        assert_eq!(
            failure(created).kind(),
            (400, "ValidationException"),
            "{name}"
        );
    }
    // The prefix alone fits the model's pattern; AWS's answer is unrecorded, so only refusal
    // is asserted.
    let bare_prefix = client
        .create_alias()
        .alias_name("alias/")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(bare_prefix).status, 400);
    assert_eq!(customer_aliases(&client).await, []);

    ks.finish();
}

#[tokio::test]
async fn alias_names_under_the_reserved_aws_prefix_are_refused() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let created = client
        .create_alias()
        .alias_name("alias/aws/s3")
        .target_key_id(&key_id)
        .send()
        .await;
    // The reference leaves the error type open (section 1); it must be a client error.
    assert_eq!(failure(created).status, 400);
    let updated = client
        .update_alias()
        .alias_name("alias/aws/s3")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(updated).status, 400);
    let deleted = client
        .delete_alias()
        .alias_name("alias/aws/s3")
        .send()
        .await;
    assert_eq!(failure(deleted).status, 400);
    assert_eq!(customer_aliases(&client).await, []);

    ks.finish();
}

// Alias names are case-sensitive (reference, section 1).
#[tokio::test]
async fn alias_names_differing_only_in_case_are_different_aliases() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let lower = create_key(&client).await;
    let upper = create_key(&client).await;

    for (name, target) in [("alias/case", &lower), ("alias/CASE", &upper)] {
        client
            .create_alias()
            .alias_name(name)
            .target_key_id(target)
            .send()
            .await
            .expect("CreateAlias");
    }

    for (name, target) in [("alias/case", &lower), ("alias/CASE", &upper)] {
        let described = client.describe_key().key_id(name).send().await;
        let described = described.expect("DescribeKey");
        assert_eq!(
            described.key_metadata().and_then(|m| m.arn()),
            Some(key_arn(target).as_str()),
            "{name}"
        );
    }
    let described = client.describe_key().key_id("alias/Case").send().await;
    let message = format!("Alias {} is not found.", alias_arn("alias/Case"));
    assert_eq!(
        failure(described),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}

// At most 50 aliases per key (reference, sections 5.1 and 8).
#[tokio::test]
async fn a_key_takes_50_aliases_and_refuses_the_51st() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    for i in 0..50 {
        client
            .create_alias()
            .alias_name(format!("alias/quota-{i:02}"))
            .target_key_id(&key_id)
            .send()
            .await
            .expect("CreateAlias within the quota");
    }
    let over = client
        .create_alias()
        .alias_name("alias/quota-50")
        .target_key_id(&key_id)
        .send()
        .await;
    assert_eq!(failure(over).kind(), (400, "LimitExceededException"));
    assert_eq!(customer_aliases(&client).await.len(), 50);

    ks.finish();
}

#[tokio::test]
async fn a_name_freed_by_delete_alias_can_point_at_another_key() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let first = create_key(&client).await;
    let second = create_key(&client).await;

    let before = client.describe_key().key_id("alias/reused").send().await;
    assert_eq!(failure(before).kind(), (400, "NotFoundException"));
    for target in [&first, &second] {
        client
            .create_alias()
            .alias_name("alias/reused")
            .target_key_id(target)
            .send()
            .await
            .expect("CreateAlias");
        let described = client.describe_key().key_id("alias/reused").send().await;
        let described = described.expect("DescribeKey");
        assert_eq!(
            described.key_metadata().and_then(|m| m.arn()),
            Some(key_arn(target).as_str())
        );
        client
            .delete_alias()
            .alias_name("alias/reused")
            .send()
            .await
            .expect("DeleteAlias");
    }

    ks.finish();
}
