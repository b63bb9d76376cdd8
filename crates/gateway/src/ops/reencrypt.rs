//! ReEncrypt: the source and destination of a re-encryption, validated here and carried out on
//! one shard, which returns only the new ciphertext.

use super::Call;
use std::collections::BTreeMap;

use keyshard_core::KmsError;
use keyshard_core::spec::EncryptionAlgorithm;
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::data::{
    check_dry_run_modifiers, check_symmetric_algorithm, ignores_ciphertext, route_ciphertext,
};
use super::{check_grant_tokens, check_key_id};
use crate::json::{Blob, decode, encode};
use crate::routing::Retry;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReEncryptRequest {
    pub(crate) ciphertext_blob: Option<Blob>,
    pub(crate) source_encryption_context: Option<BTreeMap<String, String>>,
    pub(crate) source_key_id: Option<String>,
    pub(crate) destination_key_id: Option<String>,
    pub(crate) destination_encryption_context: Option<BTreeMap<String, String>>,
    pub(crate) source_encryption_algorithm: Option<String>,
    pub(crate) destination_encryption_algorithm: Option<String>,
    pub(crate) grant_tokens: Option<Vec<String>>,
    pub(crate) dry_run: Option<bool>,
    pub(crate) dry_run_modifiers: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptResponse {
    ciphertext_blob: Blob,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: &'static str,
    destination_encryption_algorithm: &'static str,
    source_key_material_id: String,
    destination_key_material_id: String,
}

pub(super) async fn re_encrypt_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let mut response = re_encrypt(call, decode(body)?).await?;
    let algorithm = EncryptionAlgorithm::SymmetricDefault.as_str();
    encode(&ReEncryptResponse {
        ciphertext_blob: Blob(std::mem::take(&mut response.ciphertext_blob)),
        source_key_id: response.source_key_id,
        key_id: response.key_id,
        source_encryption_algorithm: algorithm,
        destination_encryption_algorithm: algorithm,
        source_key_material_id: response.source_key_material_id,
        destination_key_material_id: response.destination_key_material_id,
    })
}

/// ReEncrypt, validated and carried out by the shard of the key the blob names. Both
/// algorithms of the answer are always SYMMETRIC_DEFAULT.
pub(crate) async fn re_encrypt(
    call: &Call<'_>,
    req: ReEncryptRequest,
) -> Result<v1::ReEncryptResponse, KmsError> {
    let dry_run = req.dry_run.unwrap_or(false);
    let modifiers = req.dry_run_modifiers.as_deref();
    let ignore_ciphertext = ignores_ciphertext(dry_run, modifiers);
    validate(&req, ignore_ciphertext)?;
    check_symmetric_algorithm(req.source_encryption_algorithm.as_deref())?;
    check_symmetric_algorithm(req.destination_encryption_algorithm.as_deref())?;

    let ciphertext_blob = req
        .ciphertext_blob
        .map(|mut b| std::mem::take(&mut b.0))
        .unwrap_or_default();
    // Where the source key is cached, as for Decrypt: the blob is opened first.
    let named = req
        .source_key_id
        .as_deref()
        .or(req.destination_key_id.as_deref());
    let route = route_ciphertext(&ciphertext_blob, named.unwrap_or_default());
    let request = v1::ReEncryptRequest {
        caller: call.caller(),
        ciphertext_blob,
        source_encryption_context: req
            .source_encryption_context
            .unwrap_or_default()
            .into_iter()
            .collect(),
        source_key_id: req.source_key_id,
        destination_key_id: req.destination_key_id.unwrap_or_default(),
        destination_encryption_context: req
            .destination_encryption_context
            .unwrap_or_default()
            .into_iter()
            .collect(),
        dry_run,
        ignore_ciphertext,
        grant_tokens: req.grant_tokens.unwrap_or_default(),
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.re_encrypt(r).await
        })
        .await
}

/// The model's constraints, in the order of its members.
fn validate(req: &ReEncryptRequest, ignore_ciphertext: bool) -> Result<(), KmsError> {
    let mut v = Violations::new();
    if !ignore_ciphertext {
        v.required("ciphertextBlob", req.ciphertext_blob.as_ref());
    }
    v.blob_length(
        "ciphertextBlob",
        req.ciphertext_blob.as_ref().map(|b| &b.0[..]),
        1,
        6144,
    );
    check_key_id(&mut v, "sourceKeyId", req.source_key_id.as_deref());
    v.required("destinationKeyId", req.destination_key_id.as_ref());
    check_key_id(
        &mut v,
        "destinationKeyId",
        req.destination_key_id.as_deref(),
    );
    for (path, algorithm) in [
        (
            "sourceEncryptionAlgorithm",
            &req.source_encryption_algorithm,
        ),
        (
            "destinationEncryptionAlgorithm",
            &req.destination_encryption_algorithm,
        ),
    ] {
        v.one_of(path, algorithm.as_deref(), EncryptionAlgorithm::VALUES);
    }
    check_grant_tokens(&mut v, req.grant_tokens.as_deref());
    check_dry_run_modifiers(&mut v, req.dry_run_modifiers.as_deref());
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation(body: &str) -> Result<(), KmsError> {
        let req: ReEncryptRequest = decode(body.as_bytes())?;
        let ignore = ignores_ciphertext(
            req.dry_run.unwrap_or(false),
            req.dry_run_modifiers.as_deref(),
        );
        validate(&req, ignore)
    }

    #[test]
    fn the_ciphertext_and_destination_are_required() {
        assert_eq!(
            validation("{}"),
            Err(KmsError::Validation(
                "2 validation errors detected: Value null at 'ciphertextBlob' failed to satisfy \
                 constraint: Member must not be null; Value null at 'destinationKeyId' failed to \
                 satisfy constraint: Member must not be null"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn a_dry_run_that_ignores_the_ciphertext_needs_none() {
        assert_eq!(
            validation(
                r#"{"DestinationKeyId": "alias/x", "DryRun": true,
                    "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}"#
            ),
            Ok(())
        );
        assert_eq!(
            validation(
                r#"{"DestinationKeyId": "alias/x", "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}"#
            ),
            Err(KmsError::Validation(
                "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy \
                 constraint: Member must not be null"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn identifiers_algorithms_and_modifiers_are_checked_against_the_model() {
        let body = r#"{"CiphertextBlob": "AA==", "SourceKeyId": "", "DestinationKeyId": "k",
            "SourceEncryptionAlgorithm": "AES", "DryRunModifiers": ["SKIP"]}"#;
        assert_eq!(
            validation(body),
            Err(KmsError::Validation(
                "3 validation errors detected: Value '' at 'sourceKeyId' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1; Value 'AES' at \
                 'sourceEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy \
                 enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, \
                 SM2PKE]; Value 'SKIP' at 'dryRunModifiers.1.member' failed to satisfy \
                 constraint: Member must satisfy enum value set: [IGNORE_CIPHERTEXT]"
                    .to_owned()
            ))
        );
    }
}
