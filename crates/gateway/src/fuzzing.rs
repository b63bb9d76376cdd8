//! Property checks over the gateway's parsers of untrusted input: every operation's JSON request
//! decoding and validation, and the SigV4 `Authorization` parser. Each panics when its property
//! fails, so the same functions serve the proptest suites below and the cargo-fuzz targets in
//! `fuzz/`.
//!
//! A request is decoded by the operation's real handler on a gateway whose shard pool is empty:
//! a request that passes validation reaches the shard call and fails there with
//! `DependencyTimeoutException`, the gateway's answer when no shard can be reached.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use keyshard_core::KmsError;
use keyshard_core::id::{Region, Scope};
use keyshard_core::operation::Operation;
use keyshard_crypto::SigningKey;
use serde_json::Value;

use crate::ShardPool;
use crate::ops::{Call, dispatch};
use crate::sigv4;

/// The AWS KMS API model, the source of each operation's members and error shapes.
pub const MODEL: &str = include_str!("../../../tests/model/kms-2014-11-01.service.json");

/// Errors any operation may answer besides those its model entry lists: the protocol's
/// (malformed envelope or body, a violated constraint), authentication and authorization, the
/// request quota, and `UnsupportedOperationException`, Keyshard's answer for a feature it does
/// not implement (README, "Operations").
pub const COMMON_ERRORS: &[&str] = &[
    "AccessDeniedException",
    "ExpiredTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "SerializationException",
    "ThrottlingException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "UnsupportedOperationException",
    "ValidationException",
];

/// The errors SigV4 authentication answers.
const AUTH_ERRORS: &[&str] = &[
    "ExpiredTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
];

/// 2026-01-01T00:00:00Z, the server's clock in [`sigv4_headers`].
pub const SIGV4_NOW: u64 = 1_767_225_600;

/// What the model says of one operation.
#[derive(Debug)]
pub struct ModelOperation {
    /// The top-level members of its input structure.
    pub input_members: Vec<String>,
    /// The error shapes it lists.
    pub errors: HashSet<String>,
}

/// Every operation of [`MODEL`], by name.
pub fn model_operations() -> &'static HashMap<String, ModelOperation> {
    static OPERATIONS: OnceLock<HashMap<String, ModelOperation>> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let Ok(model) = serde_json::from_str::<Value>(MODEL) else {
            panic!("the API model is JSON");
        };
        let names = |value: &Value, field: &str| -> Vec<String> {
            value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| entry[field].as_str().map(str::to_owned))
                .collect()
        };
        let mut operations = HashMap::new();
        for (name, operation) in model["operations"].as_object().into_iter().flatten() {
            let input = operation["input"]["shape"].as_str().unwrap_or_default();
            let members = model["shapes"][input]["members"].as_object();
            operations.insert(
                name.clone(),
                ModelOperation {
                    input_members: members
                        .into_iter()
                        .flatten()
                        .map(|(m, _)| m.clone())
                        .collect(),
                    errors: names(&operation["errors"], "shape").into_iter().collect(),
                },
            );
        }
        operations
    })
}

/// Whether `error_type` is an answer the model allows for `operation`, counting
/// [`COMMON_ERRORS`].
pub fn is_modeled_error(operation: &str, error_type: &str) -> bool {
    COMMON_ERRORS.contains(&error_type)
        || model_operations()
            .get(operation)
            .is_some_and(|op| op.errors.contains(error_type))
}

/// Runs `operation`'s handler on `body` with no shard to call. It returns without panicking and
/// fails with an error the model allows for the operation; a 5xx only as the
/// `DependencyTimeoutException` of a request that passed validation and found no shard, never
/// `KMSInternalException`. Returns the error's `__type`.
pub fn request_body(operation: Operation, body: &[u8]) -> &'static str {
    let Ok(shards) = ShardPool::new(&[], None) else {
        panic!("an empty shard pool has no invalid address");
    };
    let (Ok(account), Ok(region)) = ("111122223333".parse(), "us-east-1".parse()) else {
        panic!("the fixed account and region are well formed");
    };
    let call = Call {
        scope: Scope { account, region },
        principal: "arn:aws:iam::111122223333:root",
        shards: &shards,
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        panic!("a current-thread runtime starts");
    };
    let outcome = runtime.block_on(dispatch(&call, operation, body));
    let Err(err) = outcome else {
        panic!("{operation} succeeded without a shard");
    };
    let wire = err.wire();
    assert!(
        is_modeled_error(operation.as_str(), wire.error_type),
        "{operation} answered {err:?}, which its model entry does not list"
    );
    assert!(
        wire.status < 500 || matches!(err, KmsError::DependencyTimeout(_)),
        "{operation} answered HTTP {} ({err:?})",
        wire.status
    );
    wire.error_type
}

/// Where a request [`sigv4_headers`] checked was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum SigV4Refusal {
    /// By the parser, with this authentication error's `__type`.
    Parse(&'static str),
    /// By the signature check, with `InvalidSignatureException`.
    Signature,
}

/// Runs the SigV4 checks on a request with the given header values, each left out when absent
/// or not a valid header value. Neither the shape check nor the full parse panics; both fail
/// only with an authentication error; and a header that parses never verifies, as no signing
/// key made its signature.
pub fn sigv4_headers(
    authorization: Option<&[u8]>,
    date: Option<&[u8]>,
    security_token: Option<&[u8]>,
    content_sha256: Option<&[u8]>,
    body: &[u8],
) -> SigV4Refusal {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_static("127.0.0.1:8300"),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    for (name, value) in [
        ("authorization", authorization),
        ("x-amz-date", date),
        ("x-amz-security-token", security_token),
        ("x-amz-content-sha256", content_sha256),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let is_auth_error = |err: &KmsError| AUTH_ERRORS.contains(&err.wire().error_type);

    if let Err(err) = sigv4::check_shape(&headers) {
        assert!(is_auth_error(&err), "the shape check answered {err:?}");
    }
    let Ok(region) = "us-east-1".parse::<Region>() else {
        panic!("the fixed region is well formed");
    };
    let now = UNIX_EPOCH + Duration::from_secs(SIGV4_NOW);
    match sigv4::parse(&headers, &region, now) {
        Err(err) => {
            assert!(is_auth_error(&err), "the parser answered {err:?}");
            SigV4Refusal::Parse(err.wire().error_type)
        }
        Ok(signed) => {
            let key = SigningKey::derive(b"fuzzing secret", signed.date(), "us-east-1", "kms");
            let verified =
                signed.verify(&Method::POST, &Uri::from_static("/"), &headers, body, &key);
            assert!(
                matches!(verified, Err(KmsError::InvalidSignature(_))),
                "an unsigned request verified: {verified:?}"
            );
            SigV4Refusal::Signature
        }
    }
}

#[cfg(test)]
mod tests;
