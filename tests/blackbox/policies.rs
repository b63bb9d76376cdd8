//! GetKeyPolicy, PutKeyPolicy, ListKeyPolicies and CreateKey's `Policy` (behaviour reference,
//! sections 2, 4.1 and 5.4). Policies are stored and returned, not yet enforced.

use aws_sdk_kms::Client;
use aws_sdk_kms::types::Tag;
use serde_json::json;

use crate::harness::{ACCOUNT, Keyshard};
use crate::raw_http::RawRequest;
use crate::support::{Failure, alias_arn, blob, create_key, failure, key_arn};

/// The default key policy exactly as AWS KMS returns it (reference, section 4.1).
fn default_policy() -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : \
         [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \
         \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{ACCOUNT}:root\"\n    }},\n    \
         \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// A valid policy laid out unusually, with a tab, a carriage return and Latin-1 letters, so
/// that any reformatting shows. It leaves every principal of the account in charge of the key,
/// as the lockout check requires.
fn custom_policy(sid: &str) -> String {
    format!(
        "{{\"Version\":\"2012-10-17\",\r\n\t\"Statement\":[{{\"Sid\":\"{sid} für café\",\
         \"Effect\":\"Allow\",\"Principal\":{{\"AWS\":[\"{ACCOUNT}\",\
         \"arn:aws:iam::{ACCOUNT}:role/admin\"]}},\"Action\":[\"kms:*\",\"kms:Decrypt\"],\
         \"Resource\":\"*\"}}]}}  "
    )
}

async fn policy_of(client: &Client, key_id: &str) -> String {
    let got = client
        .get_key_policy()
        .key_id(key_id)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(got.policy_name(), Some("default"));
    got.policy().expect("Policy").to_owned()
}

#[tokio::test]
async fn create_key_attaches_the_default_key_policy_byte_for_byte() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    assert_eq!(policy_of(&client, &key_id).await, default_policy());
    let named = client
        .get_key_policy()
        .key_id(key_arn(&key_id))
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy by ARN and name");
    assert_eq!(
        (named.policy(), named.policy_name()),
        (Some(default_policy().as_str()), Some("default"))
    );
    let (status, body) = ks.raw("GetKeyPolicy", &json!({"KeyId": key_id})).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"Policy": default_policy(), "PolicyName": "default"})
        )
    );

    ks.finish();
}

#[tokio::test]
async fn create_key_with_a_policy_and_tags_stores_both_exactly_as_given() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let policy = custom_policy("created");

    let created = client
        .create_key()
        .policy(&policy)
        .bypass_policy_lockout_safety_check(true)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("payments")
                .build()
                .expect("a complete tag"),
        )
        .send()
        .await
        .expect("CreateKey with Policy and Tags");
    let key_id = created.key_metadata().expect("KeyMetadata").key_id();

    assert_eq!(policy_of(&client, key_id).await, policy);
    let tags = client
        .list_resource_tags()
        .key_id(key_id)
        .send()
        .await
        .expect("ListResourceTags");
    let tags: Vec<(&str, &str)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key(), t.tag_value()))
        .collect();
    assert_eq!(tags, [("team", "payments")]);

    ks.finish();
}

#[tokio::test]
async fn put_key_policy_replaces_the_policy_with_exactly_the_given_text() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let first = custom_policy("first");
    client
        .put_key_policy()
        .key_id(&key_id)
        .policy(&first)
        .send()
        .await
        .expect("PutKeyPolicy without a name");
    assert_eq!(policy_of(&client, &key_id).await, first);

    let second = custom_policy("second");
    client
        .put_key_policy()
        .key_id(key_arn(&key_id))
        .policy_name("default")
        .policy(&second)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("PutKeyPolicy by ARN with the bypass flag");
    assert_eq!(policy_of(&client, &key_id).await, second);

    let answer = ks
        .send_raw(RawRequest::new(
            "PutKeyPolicy",
            json!({"KeyId": key_id, "Policy": default_policy()}).to_string(),
        ))
        .await;
    // AWS sends no body for operations without output (reference, section 0).
    assert_eq!((answer.status, answer.body.as_slice()), (200, &b""[..]));
    assert_eq!(policy_of(&client, &key_id).await, default_policy());

    ks.finish();
}

#[tokio::test]
async fn list_key_policies_names_only_the_default_policy() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let listed = client
        .list_key_policies()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListKeyPolicies");
    assert_eq!(
        (
            listed.policy_names(),
            listed.truncated(),
            listed.next_marker()
        ),
        (&["default".to_owned()][..], false, None)
    );
    let (status, body) = ks
        .raw(
            "ListKeyPolicies",
            &json!({"KeyId": key_arn(&key_id), "Limit": 1}),
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"PolicyNames": ["default"], "Truncated": false}))
    );

    for limit in [0, 1001] {
        let listed = client
            .list_key_policies()
            .key_id(&key_id)
            .limit(limit)
            .send()
            .await;
        assert_eq!(
            failure(listed).kind(),
            (400, "ValidationException"),
            "{limit}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn policy_names_other_than_default_are_not_found_and_aws_ram_cannot_be_put() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);

    for name in ["AWS_RAM", "other"] {
        let got = client
            .get_key_policy()
            .key_id(&key_id)
            .policy_name(name)
            .send()
            .await;
        let message = format!("Key '{arn}' has no key policy named {name}.");
        assert_eq!(
            failure(got),
            Failure::new(400, "NotFoundException", Some(&message))
        );
    }
    let put = client
        .put_key_policy()
        .key_id(&key_id)
        .policy_name("other")
        .policy(custom_policy("other"))
        .send()
        .await;
    assert_eq!(failure(put).kind(), (400, "NotFoundException"));
    let put = client
        .put_key_policy()
        .key_id(&key_id)
        .policy_name("AWS_RAM")
        .policy(custom_policy("ram"))
        .send()
        .await;
    assert_eq!(
        failure(put),
        Failure::new(
            400,
            "ValidationException",
            Some("The AWS_RAM policy can only be managed by the RAM service.")
        )
    );

    let got = client
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("not-a-word")
        .send()
        .await;
    assert_eq!(
        failure(got),
        Failure::new(
            400,
            "ValidationException",
            Some(
                "1 validation error detected: Value 'not-a-word' at 'policyName' failed to \
                 satisfy constraint: Member must satisfy regular expression pattern: [\\w]+"
            )
        )
    );
    assert_eq!(policy_of(&client, &key_id).await, default_policy());

    ks.finish();
}

#[tokio::test]
async fn malformed_policies_are_refused_by_put_key_policy_and_create_key() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let statement = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#);
    let malformed = [
        "not json".to_owned(),
        "[]".to_owned(),
        r#"{"Version":"2012-10-17"}"#.to_owned(),
        statement(r#""Principal":"*","Action":"kms:*","Resource":"*""#),
        statement(r#""Effect":"Allow","Principal":"*","Resource":"*""#),
        statement(r#""Effect":"Allow","Principal":"*","Action":"kms:*""#),
        statement(r#""Effect":"Allow","Action":"kms:*","Resource":"*""#),
        statement(
            r#""Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:*","Resource":"*""#,
        ),
        statement(r#""Effect":"Allow","Principal":{"Human":"x"},"Action":"kms:*","Resource":"*""#),
    ];

    for policy in &malformed {
        let put = client
            .put_key_policy()
            .key_id(&key_id)
            .policy(policy)
            .send()
            .await;
        // The messages are Keyshard's own (reference, section 5.4), so only the type is asserted.
        assert_eq!(
            failure(put).kind(),
            (400, "MalformedPolicyDocumentException"),
            "{policy}"
        );
        let created = client.create_key().policy(policy).send().await;
        assert_eq!(
            failure(created).kind(),
            (400, "MalformedPolicyDocumentException"),
            "{policy}"
        );
    }
    assert_eq!(policy_of(&client, &key_id).await, default_policy());
    let listed = client.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys().len(), 1);

    ks.finish();
}

#[tokio::test]
async fn a_policy_over_32_kib_exceeds_the_limit() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let policy = custom_policy("big");
    // Leading whitespace keeps the document valid while it grows to the quota.
    let at_limit = format!("{}{policy}", " ".repeat(32_768 - policy.len()));
    assert_eq!(at_limit.len(), 32_768);
    let over = format!(" {at_limit}");

    client
        .put_key_policy()
        .key_id(&key_id)
        .policy(&at_limit)
        .send()
        .await
        .expect("a policy of exactly 32768 bytes");
    assert_eq!(policy_of(&client, &key_id).await, at_limit);
    let put = client
        .put_key_policy()
        .key_id(&key_id)
        .policy(&over)
        .send()
        .await;
    // The message is Keyshard's own (reference, section 5.4).
    assert_eq!(failure(put).kind(), (400, "LimitExceededException"));
    let created = client.create_key().policy(&over).send().await;
    assert_eq!(failure(created).kind(), (400, "LimitExceededException"));
    assert_eq!(policy_of(&client, &key_id).await, at_limit);

    ks.finish();
}

#[tokio::test]
async fn policies_outside_the_model_pattern_or_missing_are_validation_errors() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let euro = statement_with_sid("price in €");
    let put = client
        .put_key_policy()
        .key_id(&key_id)
        .policy(&euro)
        .send()
        .await;
    let message = format!(
        "1 validation error detected: Value '{euro}' at 'policy' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
    );
    assert_eq!(
        failure(put),
        Failure::new(400, "ValidationException", Some(&message))
    );
    let created = client.create_key().policy(&euro).send().await;
    assert_eq!(
        failure(created),
        Failure::new(400, "ValidationException", Some(&message))
    );

    let (status, body) = ks.raw("PutKeyPolicy", &json!({"KeyId": key_id})).await;
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &json!(
                "1 validation error detected: Value null at 'policy' failed to satisfy \
                 constraint: Member must not be null"
            )
        )
    );
    let (status, body) = ks
        .raw("GetKeyPolicy", &json!({"KeyId": key_id, "PolicyName": ""}))
        .await;
    assert_eq!(
        (status, &body["__type"]),
        (400, &json!("ValidationException"))
    );
    let (status, body) = ks.raw("GetKeyPolicy", &json!({})).await;
    assert_eq!(
        (status, &body["message"]),
        (
            400,
            &json!(
                "1 validation error detected: Value null at 'keyId' failed to satisfy \
                 constraint: Member must not be null"
            )
        )
    );
    assert_eq!(policy_of(&client, &key_id).await, default_policy());

    ks.finish();
}

fn statement_with_sid(sid: &str) -> String {
    format!(
        r#"{{"Statement":{{"Sid":"{sid}","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}}}"#
    )
}

#[tokio::test]
async fn policies_can_be_read_and_replaced_while_the_key_is_disabled() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");

    let policy = custom_policy("disabled");
    client
        .put_key_policy()
        .key_id(&key_id)
        .policy(&policy)
        .send()
        .await
        .expect("PutKeyPolicy on a disabled key");
    assert_eq!(policy_of(&client, &key_id).await, policy);
    let listed = client
        .list_key_policies()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListKeyPolicies on a disabled key");
    assert_eq!(listed.policy_names(), ["default"]);

    ks.finish();
}

#[tokio::test]
async fn key_policy_operations_take_a_key_id_or_key_arn_and_nothing_else() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    client
        .create_alias()
        .alias_name("alias/governed")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let cases = [
        (
            "alias/governed".to_owned(),
            "Invalid keyId 'alias/governed'".to_owned(),
        ),
        (
            alias_arn("alias/governed"),
            format!("Invalid arn {}", alias_arn("alias/governed")),
        ),
        (
            unknown.to_owned(),
            format!("Key '{}' does not exist", key_arn(unknown)),
        ),
    ];

    for (input, message) in cases {
        let not_found = Failure::new(400, "NotFoundException", Some(&message));
        let got = client.get_key_policy().key_id(&input).send().await;
        assert_eq!(failure(got), not_found, "{input}");
        let put = client
            .put_key_policy()
            .key_id(&input)
            .policy(custom_policy("x"))
            .send()
            .await;
        assert_eq!(failure(put), not_found, "{input}");
        let listed = client.list_key_policies().key_id(&input).send().await;
        assert_eq!(failure(listed), not_found, "{input}");
    }
    assert_eq!(policy_of(&client, &key_id).await, default_policy());

    ks.finish();
}

// A policy that would lock the caller out is refused unless the lockout check is bypassed
// (AWS KMS API Reference, PutKeyPolicy: BypassPolicyLockoutSafetyCheck); stored, it is enforced.
#[tokio::test]
async fn a_deny_all_policy_needs_the_lockout_bypass_and_then_denies_everything() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let deny_all =
        r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;

    let refused = client
        .put_key_policy()
        .key_id(&key_id)
        .policy(deny_all)
        .send()
        .await;
    assert_eq!(
        failure(refused),
        Failure::new(
            400,
            "MalformedPolicyDocumentException",
            Some("The new key policy will not allow you to update the key policy in the future.")
        )
    );
    assert_eq!(policy_of(&client, &key_id).await, default_policy());

    client
        .put_key_policy()
        .key_id(&key_id)
        .policy(deny_all)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("PutKeyPolicy with the bypass");
    let arn = key_arn(&key_id);
    let denied = |action: &str| {
        format!(
            "User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:{action} on \
             resource: {arn} with an explicit deny in a resource-based policy"
        )
    };
    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(blob("refused"))
        .send()
        .await;
    assert_eq!(
        failure(encrypted),
        Failure::new(400, "AccessDeniedException", Some(&denied("Encrypt")))
    );
    let read = client.get_key_policy().key_id(&key_id).send().await;
    assert_eq!(
        failure(read),
        Failure::new(400, "AccessDeniedException", Some(&denied("GetKeyPolicy")))
    );

    ks.finish();
}
