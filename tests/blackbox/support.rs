//! Shared test vocabulary: ARNs and identifier shapes, calls many tests make, and errors as a
//! client sees them.

use std::collections::HashMap;
use std::fmt::Debug;

use aws_sdk_kms::Client;
use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AliasListEntry, KeyMetadata};
use serde_json::Value;

use crate::harness::{ACCOUNT, REGION};
use crate::raw_http::RawResponse;

/// The full ARN of a key in the test account and region.
pub(crate) fn key_arn(key_id: &str) -> String {
    key_arn_in(ACCOUNT, key_id)
}

/// The full ARN of a key in `account` and the test region.
pub(crate) fn key_arn_in(account: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{account}:key/{key_id}")
}

/// The full ARN of an alias (`alias/...`) in the test account and region.
pub(crate) fn alias_arn(alias_name: &str) -> String {
    alias_arn_in(ACCOUNT, alias_name)
}

/// The full ARN of an alias (`alias/...`) in `account` and the test region.
pub(crate) fn alias_arn_in(account: &str, alias_name: &str) -> String {
    format!("arn:aws:kms:{REGION}:{account}:{alias_name}")
}

pub(crate) fn blob(bytes: impl Into<Vec<u8>>) -> Blob {
    Blob::new(bytes.into())
}

/// An encryption context from literal pairs.
pub(crate) fn context(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Whether `s` has the shape AWS gives a `KeyMaterialId`: 64 lowercase hex digits.
pub(crate) fn is_key_material_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` is a lowercase, hyphenated UUID, the shape of key ids and request ids.
pub(crate) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
        })
}

/// Creates a key with no arguments and returns its bare id.
pub(crate) async fn create_key(client: &Client) -> String {
    let created = client
        .create_key()
        .send()
        .await
        .expect("CreateKey succeeds");
    let metadata = created
        .key_metadata()
        .expect("CreateKey returns KeyMetadata");
    metadata.key_id().to_owned()
}

/// Encrypts `plaintext` under `key_id` with the given context and returns the blob.
pub(crate) async fn encrypt_text(
    client: &Client,
    key_id: &str,
    plaintext: &str,
    pairs: &[(&str, &str)],
) -> Blob {
    let encrypted = client
        .encrypt()
        .key_id(key_id)
        .plaintext(blob(plaintext))
        .set_encryption_context(Some(context(pairs)).filter(|c| !c.is_empty()))
        .send()
        .await
        .expect("Encrypt");
    encrypted.ciphertext_blob().expect("CiphertextBlob").clone()
}

/// The token of a new grant on `key_id` to a role of the account, for Encrypt and Decrypt.
pub(crate) async fn grant_token(client: &Client, key_id: &str) -> String {
    let created = client
        .create_grant()
        .key_id(key_id)
        .grantee_principal(format!("arn:aws:iam::{ACCOUNT}:role/tokens"))
        .operations(aws_sdk_kms::types::GrantOperation::Encrypt)
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .expect("CreateGrant");
    created.grant_token().expect("GrantToken").to_owned()
}

/// `InvalidCiphertextException` as AWS sends it: HTTP 400 and no message.
pub(crate) fn invalid_ciphertext() -> Failure {
    Failure::new(400, "InvalidCiphertextException", None)
}

/// An error as a client sees it: HTTP status, `__type` and `message`.
#[derive(Debug, Eq, PartialEq)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: Option<String>,
}

impl Failure {
    pub(crate) fn new(status: u16, code: &str, message: Option<&str>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.map(str::to_owned),
        }
    }

    /// The error of a raw response: its status and the `__type` and `message` of its body.
    pub(crate) fn of_raw(response: &RawResponse) -> Self {
        let body = response.json();
        let member = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        Self {
            status: response.status,
            code: member("__type").expect("an error body carries __type"),
            message: member("message"),
        }
    }

    /// Status and `__type`, for errors whose message AWS has not pinned down.
    pub(crate) fn kind(&self) -> (u16, &str) {
        (self.status, &self.code)
    }
}

/// The service error an SDK call must have failed with.
pub(crate) fn failure<O, E>(result: Result<O, SdkError<E, HttpResponse>>) -> Failure
where
    O: Debug,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let err = match result {
        Ok(output) => panic!("expected an error, got {output:?}"),
        Err(err) => err,
    };
    let status = match err.raw_response() {
        Some(raw) => raw.status().as_u16(),
        None => panic!(
            "expected a service error, got {}",
            DisplayErrorContext(&err)
        ),
    };
    let Some(code) = err.code() else {
        panic!("the error has no __type: {}", DisplayErrorContext(&err));
    };
    Failure {
        status,
        code: code.to_owned(),
        message: err.message().map(str::to_owned),
    }
}

/// The customer aliases of the account, leaving out any AWS managed `alias/aws/` entries.
pub(crate) async fn customer_aliases(client: &Client) -> Vec<AliasListEntry> {
    let listed = client.list_aliases().send().await.expect("ListAliases");
    listed
        .aliases()
        .iter()
        .filter(|a| !a.alias_name().unwrap_or_default().starts_with("alias/aws/"))
        .cloned()
        .collect()
}

/// Points a new alias at a key.
pub(crate) async fn create_alias(client: &Client, alias_name: &str, target_key_id: &str) {
    client
        .create_alias()
        .alias_name(alias_name)
        .target_key_id(target_key_id)
        .send()
        .await
        .expect("CreateAlias");
}

/// A key's metadata as DescribeKey returns it, for any form of its identifier.
pub(crate) async fn key_metadata(client: &Client, key_id: &str) -> KeyMetadata {
    let described = client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .expect("DescribeKey");
    described
        .key_metadata()
        .expect("DescribeKey returns KeyMetadata")
        .clone()
}

pub(crate) async fn disable_key(client: &Client, key_id: &str) {
    client
        .disable_key()
        .key_id(key_id)
        .send()
        .await
        .expect("DisableKey");
}

/// The answer of an operation without output: HTTP 200 and no body, or `{}`, which SDKs accept
/// too (behaviour reference, section 0).
pub(crate) fn assert_empty_answer(response: &RawResponse) {
    assert_eq!(response.status, 200);
    assert!(
        response.body.is_empty() || response.json() == serde_json::json!({}),
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
}
