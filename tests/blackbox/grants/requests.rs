//! Grant requests the service refuses: members that break the model, the rules CreateGrant
//! applies beyond it, and key identifiers that name no key (behaviour reference, sections 1, 5.3
//! and 6).

use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use serde_json::json;

use super::{ROLE, grants_of, is_grant_id};
use crate::harness::Keyshard;
use crate::support::{Failure, alias_arn, create_alias, create_key, failure, key_arn};

fn validation(message: &str) -> (u16, serde_json::Value) {
    (
        400,
        json!({"__type": "ValidationException", "message": message}),
    )
}

#[tokio::test]
async fn grant_requests_are_checked_against_the_model() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let cases = [
        (
            "CreateGrant",
            json!({}),
            "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null; Value null at 'operations' failed to satisfy constraint: \
             Member must not be null",
        ),
        (
            "CreateGrant",
            json!({"KeyId": key_id, "GranteePrincipal": "role app",
                   "Operations": ["Encrypt", "Launch"], "Name": "nightly batch"}),
            "3 validation errors detected: Value 'role app' at 'granteePrincipal' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: \
             ^[\\w+=,.@:/-]+$; Value 'Launch' at 'operations.2.member' failed to satisfy \
             constraint: Member must satisfy enum value set: [Decrypt, Encrypt, GenerateDataKey, \
             GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, Sign, Verify, \
             GetPublicKey, CreateGrant, RetireGrant, DescribeKey, GenerateDataKeyPair, \
             GenerateDataKeyPairWithoutPlaintext, GenerateMac, VerifyMac, DeriveSharedSecret, \
             Encapsulate, Decapsulate]; Value 'nightly batch' at 'name' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ),
        (
            "CreateGrant",
            json!({"KeyId": key_id, "GranteePrincipal": ROLE, "Operations": ["Decrypt"],
                   "Name": "", "Constraints": {"SourceArn": "arn:aws:s3"}}),
            "3 validation errors detected: Value 'arn:aws:s3' at 'constraints.sourceArn' failed \
             to satisfy constraint: Member must have length greater than or equal to 20; Value \
             'arn:aws:s3' at 'constraints.sourceArn' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: \
             ^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$; Value '' at 'name' failed \
             to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        (
            "ListGrants",
            json!({"Limit": 0}),
            "2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1; Value null at 'keyId' failed \
             to satisfy constraint: Member must not be null",
        ),
        (
            "ListRetirableGrants",
            json!({"RetiringPrincipal": "", "Limit": 1001}),
            "2 validation errors detected: Value '1001' at 'limit' failed to satisfy \
             constraint: Member must have value less than or equal to 1000; Value '' at \
             'retiringPrincipal' failed to satisfy constraint: Member must have length greater \
             than or equal to 1",
        ),
        (
            "RetireGrant",
            json!({"GrantToken": "", "GrantId": ""}),
            "2 validation errors detected: Value '' at 'grantToken' failed to satisfy \
             constraint: Member must have length greater than or equal to 1; Value '' at \
             'grantId' failed to satisfy constraint: Member must have length greater than or \
             equal to 1",
        ),
        (
            "RevokeGrant",
            json!({"KeyId": key_id}),
            "1 validation error detected: Value null at 'grantId' failed to satisfy \
             constraint: Member must not be null",
        ),
    ];
    for (target, body, message) in cases {
        assert_eq!(
            ks.raw(target, &body).await,
            validation(message),
            "{target} {body}"
        );
    }
    assert_eq!(grants_of(&client, &key_id).await, []);

    ks.finish();
}

#[tokio::test]
async fn create_grant_needs_exactly_one_grantee_and_at_most_one_retiring_principal() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let request = || {
        client
            .create_grant()
            .key_id(&key_id)
            .operations(GrantOperation::Decrypt)
    };

    let refused = [
        request(),
        request()
            .grantee_principal(ROLE)
            .grantee_service_principal("s3.amazonaws.com"),
        request()
            .grantee_principal(ROLE)
            .retiring_principal(ROLE)
            .retiring_service_principal("s3.amazonaws.com"),
        // A service grantee needs a SourceArn constraint and a retiring principal.
        request().grantee_service_principal("s3.amazonaws.com"),
        request()
            .grantee_service_principal("s3.amazonaws.com")
            .retiring_principal(ROLE),
    ];
    for request in refused {
        let refused = request.send().await;
        assert_eq!(failure(refused).kind(), (400, "ValidationException"));
    }
    assert_eq!(grants_of(&client, &key_id).await, []);

    let source_arn = "arn:aws:sqs:us-east-1:111122223333:queue";
    let created = request()
        .grantee_service_principal("sqs.amazonaws.com")
        .retiring_service_principal("sqs.amazonaws.com")
        .constraints(GrantConstraints::builder().source_arn(source_arn).build())
        .send()
        .await
        .expect("CreateGrant for a service principal");
    assert!(is_grant_id(created.grant_id().unwrap()));
    let grants = grants_of(&client, &key_id).await;
    assert_eq!(grants.len(), 1);
    let grant = &grants[0];
    assert_eq!(grant.grantee_service_principal(), Some("sqs.amazonaws.com"));
    assert_eq!(
        grant.retiring_service_principal(),
        Some("sqs.amazonaws.com")
    );
    assert_eq!(
        (grant.grantee_principal(), grant.retiring_principal()),
        (None, None)
    );
    assert_eq!(
        grant.constraints().and_then(GrantConstraints::source_arn),
        Some(source_arn)
    );
    let by_service = client
        .list_grants()
        .key_id(&key_id)
        .grantee_service_principal("sqs.amazonaws.com")
        .send()
        .await
        .expect("ListGrants by service grantee");
    assert_eq!(by_service.grants().len(), 1);
    let retirable = client
        .list_retirable_grants()
        .retiring_service_principal("sqs.amazonaws.com")
        .send()
        .await
        .expect("ListRetirableGrants by retiring service principal");
    assert_eq!(retirable.grants().len(), 1);

    ks.finish();
}

#[tokio::test]
async fn create_grant_refuses_operations_and_constraints_the_key_cannot_take() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let request = |operations: Vec<GrantOperation>| {
        client
            .create_grant()
            .key_id(&key_id)
            .grantee_principal(ROLE)
            .set_operations(Some(operations))
    };

    for operations in [
        vec![GrantOperation::Encrypt, GrantOperation::Sign],
        vec![GrantOperation::Verify],
        vec![GrantOperation::GetPublicKey],
        vec![GrantOperation::GenerateMac],
        vec![GrantOperation::DeriveSharedSecret],
        vec![],
    ] {
        let refused = request(operations.clone()).send().await;
        assert_eq!(
            failure(refused).kind(),
            (400, "ValidationException"),
            "{operations:?}"
        );
    }
    let only_create_grant = request(vec![GrantOperation::CreateGrant]).send().await;
    assert_eq!(
        failure(only_create_grant),
        Failure::new(
            400,
            "ValidationException",
            Some("Grants must not contain only the CreateGrant operation.")
        )
    );
    let both_contexts = request(vec![GrantOperation::Decrypt])
        .constraints(
            GrantConstraints::builder()
                .encryption_context_equals("a", "1")
                .encryption_context_subset("b", "2")
                .build(),
        )
        .send()
        .await;
    assert_eq!(failure(both_contexts).kind(), (400, "ValidationException"));
    let mut nine_pairs = GrantConstraints::builder();
    for i in 0..9 {
        nine_pairs = nine_pairs.encryption_context_subset(format!("k{i}"), "v");
    }
    let too_many = request(vec![GrantOperation::Decrypt])
        .constraints(nine_pairs.build())
        .send()
        .await;
    assert_eq!(failure(too_many).kind(), (400, "ValidationException"));
    assert_eq!(grants_of(&client, &key_id).await, []);

    // What a symmetric encryption key can do, including the data key pair operations, whose
    // private keys it encrypts.
    let all = request(vec![
        GrantOperation::Decrypt,
        GrantOperation::Encrypt,
        GrantOperation::GenerateDataKey,
        GrantOperation::GenerateDataKeyWithoutPlaintext,
        GrantOperation::GenerateDataKeyPair,
        GrantOperation::GenerateDataKeyPairWithoutPlaintext,
        GrantOperation::ReEncryptFrom,
        GrantOperation::ReEncryptTo,
        GrantOperation::CreateGrant,
        GrantOperation::RetireGrant,
        GrantOperation::DescribeKey,
    ])
    .constraints(
        GrantConstraints::builder()
            .encryption_context_equals("app", "payroll")
            .build(),
    )
    .send()
    .await
    .expect("CreateGrant with every operation of a symmetric key");
    let grants = grants_of(&client, &key_id).await;
    assert_eq!(grants[0].grant_id(), all.grant_id());
    let names: Vec<&str> = grants[0]
        .operations()
        .iter()
        .map(|op| op.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "CreateGrant",
            "Decrypt",
            "DescribeKey",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom",
            "ReEncryptTo",
            "RetireGrant"
        ]
    );

    ks.finish();
}

#[tokio::test]
async fn grant_operations_take_a_key_id_or_arn_but_not_an_alias() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    create_alias(&client, "alias/granted", &key_id).await;
    let unknown = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let cases = [
        (
            "alias/granted".to_owned(),
            "Invalid keyId 'alias/granted'".to_owned(),
        ),
        (
            alias_arn("alias/granted"),
            format!("Invalid arn {}", alias_arn("alias/granted")),
        ),
        (
            unknown.to_owned(),
            format!("Key '{}' does not exist", key_arn(unknown)),
        ),
        (
            key_arn(unknown),
            format!("Key '{}' does not exist", key_arn(unknown)),
        ),
    ];
    for (key, message) in cases {
        let expected = Failure::new(400, "NotFoundException", Some(&message));
        let created = client
            .create_grant()
            .key_id(&key)
            .grantee_principal(ROLE)
            .operations(GrantOperation::Decrypt)
            .send()
            .await;
        assert_eq!(failure(created), expected, "CreateGrant {key}");
        let listed = client.list_grants().key_id(&key).send().await;
        assert_eq!(failure(listed), expected, "ListGrants {key}");
        let revoked = client
            .revoke_grant()
            .key_id(&key)
            .grant_id("00".repeat(32))
            .send()
            .await;
        assert_eq!(failure(revoked), expected, "RevokeGrant {key}");
    }

    let by_arn = client
        .create_grant()
        .key_id(key_arn(&key_id))
        .grantee_principal(ROLE)
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .expect("CreateGrant by key ARN");
    assert!(is_grant_id(by_arn.grant_id().unwrap()));

    ks.finish();
}
