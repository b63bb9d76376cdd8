//! TagResource, UntagResource, ListResourceTags and CreateKey's `Tags` (behaviour reference,
//! sections 2 and 5.2).

use aws_sdk_kms::Client;
use aws_sdk_kms::types::Tag;
use serde_json::json;

use crate::harness::Keyshard;
use crate::raw_http::RawRequest;
use crate::support::{Failure, alias_arn, create_key, failure, key_arn};

pub(crate) fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .expect("a complete tag")
}

/// `count` tags `<prefix>-00`, `<prefix>-01`, ... with the value `v<n>`.
fn numbered_tags(prefix: &str, count: usize) -> Vec<Tag> {
    (0..count)
        .map(|i| tag(&format!("{prefix}-{i:02}"), &format!("v{i}")))
        .collect()
}

fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect()
}

fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The key's tags from one ListResourceTags call, which must be the whole list.
async fn listed_tags(client: &Client, key_id: &str) -> Vec<(String, String)> {
    let listed = client
        .list_resource_tags()
        .key_id(key_id)
        .send()
        .await
        .expect("ListResourceTags");
    assert_eq!((listed.truncated(), listed.next_marker()), (false, None));
    pairs(listed.tags())
}

fn tag_exception(message: &str) -> Failure {
    Failure::new(400, "TagException", Some(message))
}

#[tokio::test]
async fn tag_resource_adds_tags_and_retagging_a_key_replaces_its_value() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    assert_eq!(listed_tags(&client, &key_id).await, []);

    client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "payments"))
        .tags(tag("env", "prod"))
        .send()
        .await
        .expect("TagResource by key id");
    client
        .tag_resource()
        .key_id(key_arn(&key_id))
        .tags(tag("team", "billing"))
        .tags(tag("owner", ""))
        .send()
        .await
        .expect("TagResource by key ARN");

    // Listed in tag key order; an empty value is a value.
    let expected = owned(&[("env", "prod"), ("owner", ""), ("team", "billing")]);
    assert_eq!(listed_tags(&client, &key_id).await, expected);
    assert_eq!(listed_tags(&client, &key_arn(&key_id)).await, expected);

    ks.finish();
}

#[tokio::test]
async fn tag_and_untag_answer_with_an_empty_body_and_list_resource_tags_with_aws_members() {
    let ks = Keyshard::start().await;
    let key_id = create_key(&ks.client()).await;

    let tag_body = json!({"KeyId": key_id, "Tags": [{"TagKey": "team", "TagValue": "payments"}]});
    let tagged = ks
        .send_raw(RawRequest::new("TagResource", tag_body.to_string()))
        .await;
    // AWS sends no body for operations without output (reference, section 0).
    assert_eq!((tagged.status, tagged.body.as_slice()), (200, &b""[..]));
    let (status, body) = ks.raw("ListResourceTags", &json!({"KeyId": key_id})).await;
    // Absent, not null, when there is no further page (reference, sections 0 and 5.5).
    assert_eq!(
        (status, body),
        (
            200,
            json!({"Tags": [{"TagKey": "team", "TagValue": "payments"}], "Truncated": false})
        )
    );

    let untag_body = json!({"KeyId": key_id, "TagKeys": ["team"]});
    let untagged = ks
        .send_raw(RawRequest::new("UntagResource", untag_body.to_string()))
        .await;
    assert_eq!((untagged.status, untagged.body.as_slice()), (200, &b""[..]));
    let (status, body) = ks.raw("ListResourceTags", &json!({"KeyId": key_id})).await;
    assert_eq!(
        (status, body),
        (200, json!({"Tags": [], "Truncated": false}))
    );

    ks.finish();
}

#[tokio::test]
async fn untag_resource_removes_the_named_tags_and_ignores_absent_ones() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("env", "prod"))
        .tags(tag("owner", "ops"))
        .tags(tag("team", "payments"))
        .send()
        .await
        .expect("TagResource");

    client
        .untag_resource()
        .key_id(key_arn(&key_id))
        .tag_keys("team")
        .tag_keys("absent")
        .tag_keys("env")
        .tag_keys("Owner")
        .send()
        .await
        .expect("UntagResource");
    assert_eq!(
        listed_tags(&client, &key_id).await,
        owned(&[("owner", "ops")])
    );
    client
        .untag_resource()
        .key_id(&key_id)
        .tag_keys("absent")
        .send()
        .await
        .expect("UntagResource of a tag key the key lacks");

    ks.finish();
}

#[tokio::test]
async fn create_key_with_tags_stores_them_with_the_key() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let created = client
        .create_key()
        .description("tagged")
        .tags(tag("team", "payments"))
        .tags(tag("cost-center", "4711"))
        .send()
        .await
        .expect("CreateKey with Tags");
    let key_id = created.key_metadata().expect("KeyMetadata").key_id();

    assert_eq!(
        listed_tags(&client, key_id).await,
        owned(&[("cost-center", "4711"), ("team", "payments")])
    );

    ks.finish();
}

#[tokio::test]
async fn create_key_with_bad_tags_is_a_tag_exception_and_creates_no_key() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    let too_many = client
        .create_key()
        .set_tags(Some(numbered_tags("t", 51)))
        .send()
        .await;
    assert_eq!(failure(too_many), tag_exception("Too many tags"));
    let reserved = client
        .create_key()
        .tags(tag("AWS:owner", "me"))
        .send()
        .await;
    assert_eq!(
        failure(reserved),
        tag_exception("Tags beginning with aws: are reserved")
    );
    let duplicate = client
        .create_key()
        .tags(tag("team", "a"))
        .tags(tag("team", "b"))
        .send()
        .await;
    assert_eq!(failure(duplicate), tag_exception("Duplicate tag keys"));
    let listed = client.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys(), []);

    let fifty = client
        .create_key()
        .set_tags(Some(numbered_tags("t", 50)))
        .send()
        .await
        .expect("CreateKey with 50 tags");
    let key_id = fifty.key_metadata().expect("KeyMetadata").key_id();
    assert_eq!(listed_tags(&client, key_id).await.len(), 50);

    ks.finish();
}

#[tokio::test]
async fn a_key_carries_fifty_tags_and_refuses_the_fifty_first() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .tag_resource()
        .key_id(&key_id)
        .set_tags(Some(numbered_tags("t", 49)))
        .send()
        .await
        .expect("TagResource with 49 tags");
    client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("fiftieth", "50"))
        .send()
        .await
        .expect("the fiftieth tag");

    let over = client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("t-00", "changed"))
        .tags(tag("fifty-first", "51"))
        .send()
        .await;
    assert_eq!(failure(over), tag_exception("Too many tags"));
    let tags = listed_tags(&client, &key_id).await;
    assert_eq!(tags.len(), 50);
    assert!(
        tags.contains(&("t-00".to_owned(), "v0".to_owned())),
        "{tags:?}"
    );

    // New values for tag keys the key has add no tag.
    client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("t-00", "changed"))
        .send()
        .await
        .expect("retagging at the limit");
    let tags = listed_tags(&client, &key_id).await;
    assert_eq!(tags.len(), 50);
    assert!(tags.contains(&("t-00".to_owned(), "changed".to_owned())));

    // Over the limit within one request, on a key with no tags.
    let fresh = create_key(&client).await;
    let over = client
        .tag_resource()
        .key_id(&fresh)
        .set_tags(Some(numbered_tags("t", 51)))
        .send()
        .await;
    assert_eq!(failure(over), tag_exception("Too many tags"));
    assert_eq!(listed_tags(&client, &fresh).await, []);

    ks.finish();
}

#[tokio::test]
async fn list_resource_tags_pages_fifty_tags_twenty_at_a_time() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let tags = numbered_tags("page", 50);
    client
        .tag_resource()
        .key_id(&key_id)
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .expect("TagResource");

    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_resource_tags()
            .key_id(&key_id)
            .limit(20)
            .set_marker(marker.take())
            .send()
            .await
            .expect("ListResourceTags page");
        assert_eq!(page.truncated(), page.next_marker().is_some());
        sizes.push(page.tags().len());
        seen.extend(pairs(page.tags()));
        match page.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, [20, 20, 10]);
    assert_eq!(seen, pairs(&tags));

    // Fifty is the default page size, and the most a page may hold.
    let all = client
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListResourceTags");
    assert_eq!((all.tags().len(), all.truncated()), (50, false));

    ks.finish();
}

#[tokio::test]
async fn list_resource_tags_refuses_limits_outside_1_to_50_and_foreign_markers() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let other_key = create_key(&client).await;

    let over = client
        .list_resource_tags()
        .key_id(&key_id)
        .limit(51)
        .send()
        .await;
    assert_eq!(
        failure(over),
        Failure::new(
            400,
            "ValidationException",
            Some(
                "1 validation error detected: Value '51' at 'limit' failed to satisfy \
                 constraint: Member must have value less than or equal to 50"
            )
        )
    );
    let (status, body) = ks
        .raw("ListResourceTags", &json!({"KeyId": key_id, "Limit": 0}))
        .await;
    assert_eq!(
        (status, &body["__type"]),
        (400, &json!("ValidationException"))
    );

    let keys_page = client.list_keys().limit(1).send().await.expect("ListKeys");
    let keys_marker = keys_page.next_marker().expect("a second page of keys");
    for marker in ["garbage", keys_marker] {
        let listed = client
            .list_resource_tags()
            .key_id(&other_key)
            .marker(marker)
            .send()
            .await;
        assert_eq!(
            failure(listed).kind(),
            (400, "InvalidMarkerException"),
            "{marker}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn tag_keys_beginning_with_aws_are_reserved_in_any_case() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let reserved = tag_exception("Tags beginning with aws: are reserved");

    for key in ["aws:team", "AWS:team", "Aws:"] {
        let tagged = client
            .tag_resource()
            .key_id(&key_id)
            .tags(tag("team", "payments"))
            .tags(tag(key, "x"))
            .send()
            .await;
        assert_eq!(failure(tagged), reserved, "{key}");
        let untagged = client
            .untag_resource()
            .key_id(&key_id)
            .tag_keys(key)
            .send()
            .await;
        assert_eq!(failure(untagged), reserved, "{key}");
    }
    assert_eq!(listed_tags(&client, &key_id).await, []);

    // Only the key's prefix is reserved.
    client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("awsome", "aws:value"))
        .send()
        .await
        .expect("TagResource");

    ks.finish();
}

#[tokio::test]
async fn one_tag_key_twice_in_a_request_is_duplicate_tag_keys() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let tagged = client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "a"))
        .tags(tag("env", "prod"))
        .tags(tag("team", "a"))
        .send()
        .await;
    assert_eq!(failure(tagged), tag_exception("Duplicate tag keys"));
    assert_eq!(listed_tags(&client, &key_id).await, []);

    // Tag keys are case-sensitive.
    client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "a"))
        .tags(tag("Team", "b"))
        .send()
        .await
        .expect("TagResource");
    assert_eq!(
        listed_tags(&client, &key_id).await,
        owned(&[("Team", "b"), ("team", "a")])
    );

    ks.finish();
}

#[tokio::test]
async fn tag_keys_and_values_beyond_the_model_lengths_are_validation_errors() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);

    let tagged = client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag(&long_key, "x"))
        .send()
        .await;
    let message = format!(
        "1 validation error detected: Value '{long_key}' at 'tags.1.member.tagKey' failed to \
         satisfy constraint: Member must have length less than or equal to 128"
    );
    assert_eq!(
        failure(tagged),
        Failure::new(400, "ValidationException", Some(&message))
    );
    let tagged = client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "x"))
        .tags(tag("env", &long_value))
        .send()
        .await;
    let message = format!(
        "1 validation error detected: Value '{long_value}' at 'tags.2.member.tagValue' failed \
         to satisfy constraint: Member must have length less than or equal to 256"
    );
    assert_eq!(
        failure(tagged),
        Failure::new(400, "ValidationException", Some(&message))
    );
    let created = client.create_key().tags(tag(&long_key, "x")).send().await;
    let message = format!(
        "1 validation error detected: Value '{long_key}' at 'tags.1.member.tagKey' failed to \
         satisfy constraint: Member must have length less than or equal to 128"
    );
    assert_eq!(
        failure(created),
        Failure::new(400, "ValidationException", Some(&message))
    );
    let untagged = client
        .untag_resource()
        .key_id(&key_id)
        .tag_keys(&long_key)
        .send()
        .await;
    let message = format!(
        "1 validation error detected: Value '{long_key}' at 'tagKeys.1.member' failed to \
         satisfy constraint: Member must have length less than or equal to 128"
    );
    assert_eq!(
        failure(untagged),
        Failure::new(400, "ValidationException", Some(&message))
    );

    // Minimums and required members, which SDKs may check themselves, over raw HTTP.
    let (status, body) = ks
        .raw(
            "TagResource",
            &json!({"KeyId": key_id, "Tags": [{"TagKey": "", "TagValue": "x"}, {"TagKey": "env"}]}),
        )
        .await;
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &json!(
                "2 validation errors detected: Value '' at 'tags.1.member.tagKey' failed to \
                 satisfy constraint: Member must have length greater than or equal to 1; Value \
                 null at 'tags.2.member.tagValue' failed to satisfy constraint: Member must not \
                 be null"
            )
        )
    );
    let (status, body) = ks.raw("TagResource", &json!({"KeyId": key_id})).await;
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &json!(
                "1 validation error detected: Value null at 'tags' failed to satisfy \
                 constraint: Member must not be null"
            )
        )
    );
    let (status, body) = ks.raw("UntagResource", &json!({"KeyId": key_id})).await;
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &json!(
                "1 validation error detected: Value null at 'tagKeys' failed to satisfy \
                 constraint: Member must not be null"
            )
        )
    );
    assert_eq!(listed_tags(&client, &key_id).await, []);

    ks.finish();
}

#[tokio::test]
async fn tags_can_be_changed_and_listed_while_the_key_is_disabled() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");

    client
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "payments"))
        .tags(tag("env", "prod"))
        .send()
        .await
        .expect("TagResource on a disabled key");
    client
        .untag_resource()
        .key_id(&key_id)
        .tag_keys("env")
        .send()
        .await
        .expect("UntagResource on a disabled key");
    assert_eq!(
        listed_tags(&client, &key_id).await,
        owned(&[("team", "payments")])
    );

    ks.finish();
}

#[tokio::test]
async fn tag_operations_take_a_key_id_or_key_arn_and_nothing_else() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/tagged")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let cases = [
        (
            "alias/tagged".to_owned(),
            "Invalid keyId 'alias/tagged'".to_owned(),
        ),
        (
            alias_arn("alias/tagged"),
            format!("Invalid arn {}", alias_arn("alias/tagged")),
        ),
        (
            unknown.to_owned(),
            format!("Key '{}' does not exist", key_arn(unknown)),
        ),
    ];

    for (input, message) in cases {
        let not_found = Failure::new(400, "NotFoundException", Some(&message));
        let tagged = client
            .tag_resource()
            .key_id(&input)
            .tags(tag("team", "x"))
            .send()
            .await;
        assert_eq!(failure(tagged), not_found, "{input}");
        let untagged = client
            .untag_resource()
            .key_id(&input)
            .tag_keys("team")
            .send()
            .await;
        assert_eq!(failure(untagged), not_found, "{input}");
        let listed = client.list_resource_tags().key_id(&input).send().await;
        assert_eq!(failure(listed), not_found, "{input}");
    }
    assert_eq!(listed_tags(&client, &key_id).await, []);

    ks.finish();
}
