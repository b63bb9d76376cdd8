//! Failed gRPC calls: each answers the gRPC code of its kind of failure, with AWS's error type in
//! `x-amz-error-type` and AWS's message as the status message.

use keyshard_client::kms;
use keyshard_proto::kms::key_management_client::KeyManagementClient;
use tonic::Code;
use tonic::transport::Endpoint;

use super::{client, client_at, create_key, credentials_of, failed, start};
use crate::cluster::nodes::Cluster;
use crate::harness::Keyshard;
use crate::support::key_arn;

#[tokio::test]
async fn request_errors_carry_their_aws_type() {
    let keyshard = start().await;
    let client = client(&keyshard).await;
    let key_id = create_key(&client).await;

    let missing_key_id = client
        .generate_data_key(kms::GenerateDataKeyRequest {
            key_spec: Some("AES_256".to_owned()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        failed(missing_key_id),
        (
            Code::InvalidArgument,
            "ValidationException".to_owned(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
                .to_owned()
        )
    );

    let both = client
        .generate_data_key(kms::GenerateDataKeyRequest {
            key_id: Some(key_id.clone()),
            key_spec: Some("AES_256".to_owned()),
            number_of_bytes: Some(32),
            ..Default::default()
        })
        .await;
    assert_eq!(
        failed(both),
        (
            Code::InvalidArgument,
            "ValidationException".to_owned(),
            "Please specify either number of bytes or key spec, not both.".to_owned()
        )
    );

    let unknown_alias = client
        .describe_key(kms::DescribeKeyRequest {
            key_id: Some("alias/missing".to_owned()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        failed(unknown_alias),
        (
            Code::NotFound,
            "NotFoundException".to_owned(),
            "Alias arn:aws:kms:us-east-1:111122223333:alias/missing is not found.".to_owned()
        )
    );

    let garbage = client
        .decrypt(kms::DecryptRequest {
            ciphertext_blob: Some(vec![7; 64]),
            ..Default::default()
        })
        .await;
    assert_eq!(
        failed(garbage),
        (
            Code::InvalidArgument,
            "InvalidCiphertextException".to_owned(),
            "InvalidCiphertextException".to_owned()
        )
    );

    let alias = kms::CreateAliasRequest {
        alias_name: Some("alias/twice".to_owned()),
        target_key_id: Some(key_id.clone()),
    };
    client
        .create_alias(alias.clone())
        .await
        .expect("CreateAlias");
    let (code, error_type, _) = failed(client.create_alias(alias).await);
    assert_eq!(
        (code, error_type.as_str()),
        (Code::AlreadyExists, "AlreadyExistsException")
    );

    let rsa = client
        .create_key(kms::CreateKeyRequest {
            key_spec: Some("RSA_2048".to_owned()),
            key_usage: Some("SIGN_VERIFY".to_owned()),
            ..Default::default()
        })
        .await;
    let (code, error_type, _) = failed(rsa);
    assert_eq!(
        (code, error_type.as_str()),
        (Code::Unimplemented, "UnsupportedOperationException")
    );

    keyshard
        .client()
        .disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey over JSON");
    let disabled = client
        .encrypt(kms::EncryptRequest {
            key_id: Some(key_id.clone()),
            plaintext: Some(b"x".to_vec()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        failed(disabled),
        (
            Code::FailedPrecondition,
            "DisabledException".to_owned(),
            format!("{} is disabled.", key_arn(&key_id))
        )
    );

    keyshard.finish();
}

#[tokio::test]
async fn an_unsigned_call_from_the_generated_client_is_unauthenticated() {
    let keyshard = start().await;
    let channel = Endpoint::from_shared(format!("http://{}", keyshard.grpc_address()))
        .expect("an endpoint")
        .connect()
        .await
        .expect("the gRPC API accepts connections");
    let mut bare = KeyManagementClient::new(channel);

    let status = bare
        .list_keys(kms::ListKeysRequest::default())
        .await
        .expect_err("an unsigned call fails");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        keyshard_proto::public_error_type(&status),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(status.message(), "Missing Authentication Token");

    keyshard.finish();
}

#[tokio::test]
async fn calls_over_quota_are_resource_exhausted() {
    let keyshard =
        Keyshard::start_with_args(&["--grpc-listen", "127.0.0.1:0", "--quota", "ListKeys=1"]).await;
    let client = client(&keyshard).await;

    client
        .list_keys(kms::ListKeysRequest::default())
        .await
        .expect("the first ListKeys is within quota");
    let throttled = client.list_keys(kms::ListKeysRequest::default()).await;
    assert_eq!(
        failed(throttled),
        (
            Code::ResourceExhausted,
            "ThrottlingException".to_owned(),
            "Rate exceeded".to_owned()
        )
    );

    keyshard.finish();
}

#[tokio::test]
async fn a_cluster_gateway_verifies_signatures_and_policies_over_grpc() {
    let cluster = Cluster::start(2, 1).await;
    let address = cluster.gateways[0]
        .grpc
        .clone()
        .expect("the gateway serves gRPC");
    let root = cluster.root_credentials();
    let client = client_at(&address, credentials_of(&root)).await;

    let key_id = create_key(&client).await;
    let random = client
        .generate_random(kms::GenerateRandomRequest {
            number_of_bytes: Some(16),
            ..Default::default()
        })
        .await
        .expect("GenerateRandom with valid credentials");
    assert_eq!(random.plaintext.len(), 16);

    let wrong_secret =
        keyshard_client::Credentials::new(root.access_key_id(), "not-the-secret-access-key", None);
    let forged = client_at(&address, wrong_secret).await;
    assert_eq!(
        failed(forged.list_keys(kms::ListKeysRequest::default()).await),
        (
            Code::Unauthenticated,
            "InvalidSignatureException".to_owned(),
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details."
                .to_owned()
        )
    );

    let unknown = keyshard_client::Credentials::new("AKIAUNKNOWNKEY000000", "secret", None);
    let stranger = client_at(&address, unknown).await;
    assert_eq!(
        failed(stranger.list_keys(kms::ListKeysRequest::default()).await),
        (
            Code::Unauthenticated,
            "UnrecognizedClientException".to_owned(),
            "The security token included in the request is invalid.".to_owned()
        )
    );

    let other_account = cluster.create_access_key("444455556666", None, None);
    let outsider = client_at(&address, credentials_of(&other_account)).await;
    let denied = outsider
        .describe_key(kms::DescribeKeyRequest {
            key_id: Some(key_arn(&key_id)),
            ..Default::default()
        })
        .await;
    assert_eq!(
        failed(denied),
        (
            Code::PermissionDenied,
            "AccessDeniedException".to_owned(),
            format!(
                "User: arn:aws:iam::444455556666:root is not authorized to perform: \
                 kms:DescribeKey on resource: {} because no resource-based policy allows the \
                 kms:DescribeKey action",
                key_arn(&key_id)
            )
        )
    );

    cluster.finish(&[]);
}
