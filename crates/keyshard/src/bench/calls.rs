//! What the cases send: the keys they use, and the GenerateDataKey and Decrypt calls on them.

use std::net::SocketAddr;
use std::sync::Arc;

use super::load::{self, CREATE_KEY, Call, DECRYPT, GENERATE_DATA_KEY};
use super::signing::Signer;
use super::{BLOBS, BenchError};

/// The small encryption context every data key is bound to.
pub(super) fn encryption_context() -> serde_json::Value {
    serde_json::json!({ "purpose": "keyshard-bench", "tenant": "bench" })
}

/// Creates `count` symmetric keys through the JSON API at `address` and returns their ids.
pub(super) async fn create_keys(
    address: SocketAddr,
    signer: &Signer,
    count: usize,
) -> Result<Vec<String>, BenchError> {
    let setup = |source| BenchError::Setup {
        what: "CreateKey",
        source,
    };
    let mut connection = load::Connection::open(address, signer.clone())
        .await
        .map_err(setup)?;
    let call = Call::new(
        CREATE_KEY,
        &serde_json::json!({ "Description": "keyshard bench" }),
    );
    let mut keys = Vec::new();
    for _ in 0..count {
        let body = connection.send(&call).await.map_err(setup)?;
        keys.push(json_field(&body, &["KeyMetadata", "KeyId"], "CreateKey")?);
        if !connection.reusable() {
            connection = load::Connection::open(address, signer.clone())
                .await
                .map_err(setup)?;
        }
    }
    Ok(keys)
}

/// GenerateDataKey calls for AES-256 data keys under each of `keys`, with the bench's context.
pub(super) fn generate_data_key_calls(keys: &[String]) -> Arc<[Call]> {
    keys.iter()
        .map(|key| {
            let body = serde_json::json!({
                "EncryptionContext": encryption_context(),
                "KeyId": key,
                "KeySpec": "AES_256",
            });
            Call::new(GENERATE_DATA_KEY, &body)
        })
        .collect()
}

/// Decrypt calls for [`BLOBS`] blobs made by `generate` through `address`.
pub(super) async fn decrypt_calls(
    address: SocketAddr,
    signer: &Signer,
    generate: &[Call],
) -> Result<Arc<[Call]>, BenchError> {
    let setup = |source| BenchError::Setup {
        what: "GenerateDataKey for the Decrypt case",
        source,
    };
    let mut connection = load::Connection::open(address, signer.clone())
        .await
        .map_err(setup)?;
    let mut calls = Vec::new();
    for call in generate.iter().cycle().take(BLOBS) {
        let body = connection.send(call).await.map_err(setup)?;
        let blob = json_field(&body, &["CiphertextBlob"], "GenerateDataKey")?;
        let body = serde_json::json!({
            "CiphertextBlob": blob,
            "EncryptionContext": encryption_context(),
        });
        calls.push(Call::new(DECRYPT, &body));
    }
    Ok(calls.into())
}

/// The string at `path` in a JSON answer.
pub(super) fn json_field(
    body: &[u8],
    path: &[&str],
    what: &'static str,
) -> Result<String, BenchError> {
    let unexpected = || BenchError::Answer {
        what,
        body: String::from_utf8_lossy(body).chars().take(300).collect(),
    };
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| unexpected())?;
    path.iter()
        .try_fold(&json, |value, field| value.get(field))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(unexpected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_field_is_read_from_a_json_answer() {
        let body = br#"{"KeyMetadata":{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}}"#;
        assert_eq!(
            json_field(body, &["KeyMetadata", "KeyId"], "CreateKey").unwrap(),
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        let missing = json_field(body, &["CiphertextBlob"], "GenerateDataKey").unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!(
                "GenerateDataKey: unexpected answer {}",
                String::from_utf8_lossy(body)
            )
        );
    }
}
