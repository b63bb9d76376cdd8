//! The cryptographic operations: GenerateDataKey, GenerateDataKeyWithoutPlaintext, Encrypt,
//! Decrypt and GenerateRandom.

use super::Call;
use std::collections::BTreeMap;

use keyshard_core::KmsError;
use keyshard_core::spec::{
    DataKeySpec, DryRunModifier, EncryptionAlgorithm, KeyEncryptionMechanism,
};
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::{check_grant_tokens, check_key_id, route_key};
use crate::json::{Blob, decode, encode};
use crate::routing::Retry;

/// `RecipientInfo`, accepted by GenerateDataKey, Decrypt and GenerateRandom.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Recipient {
    key_encryption_algorithm: Option<String>,
    attestation_document: Option<Blob>,
}

fn check_recipient(v: &mut Violations, recipient: Option<&Recipient>) {
    let Some(r) = recipient else { return };
    v.one_of(
        "recipient.keyEncryptionAlgorithm",
        r.key_encryption_algorithm.as_deref(),
        KeyEncryptionMechanism::VALUES,
    );
    v.blob_length(
        "recipient.attestationDocument",
        r.attestation_document.as_ref().map(|b| &b.0[..]),
        1,
        262_144,
    );
}

/// Keyshard cannot verify Nitro attestation documents, so it refuses `Recipient` rather than
/// return a plaintext the caller meant to keep inside an enclave.
fn refuse_recipient(recipient: Option<&Recipient>) -> Result<(), KmsError> {
    match recipient {
        Some(_) => Err(KmsError::UnsupportedOperation(
            "Keyshard cannot verify attestation documents, so Recipient is not supported."
                .to_owned(),
        )),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GenerateDataKeyRequest {
    pub(crate) key_id: Option<String>,
    pub(crate) encryption_context: Option<BTreeMap<String, String>>,
    pub(crate) number_of_bytes: Option<i64>,
    pub(crate) key_spec: Option<String>,
    pub(crate) grant_tokens: Option<Vec<String>>,
    pub(crate) recipient: Option<Recipient>,
    pub(crate) dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyResponse {
    ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<Blob>,
    key_id: String,
    key_material_id: String,
}

pub(super) async fn generate_data_key_json(
    call: &Call<'_>,
    body: &[u8],
    include_plaintext: bool,
) -> Result<Vec<u8>, KmsError> {
    let mut response = generate_data_key(call, decode(body)?, include_plaintext).await?;
    encode(&GenerateDataKeyResponse {
        ciphertext_blob: Blob(std::mem::take(&mut response.ciphertext_blob)),
        plaintext: include_plaintext.then(|| Blob(std::mem::take(&mut response.plaintext))),
        key_id: std::mem::take(&mut response.key_id),
        key_material_id: std::mem::take(&mut response.key_material_id),
    })
}

/// GenerateDataKey (with `include_plaintext`) or GenerateDataKeyWithoutPlaintext: the request
/// validated against the model and answered by the key's shard.
pub(crate) async fn generate_data_key(
    call: &Call<'_>,
    req: GenerateDataKeyRequest,
    include_plaintext: bool,
) -> Result<v1::GenerateDataKeyResponse, KmsError> {
    let (route, request) = generate_data_key_request(call, req, include_plaintext)?;
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.generate_data_key(r).await
        })
        .await
}

/// A GenerateDataKey request validated against the model, as its shard takes it, with its
/// route.
pub(crate) fn generate_data_key_request(
    call: &Call<'_>,
    req: GenerateDataKeyRequest,
    include_plaintext: bool,
) -> Result<(Vec<u8>, v1::GenerateDataKeyRequest), KmsError> {
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.range("numberOfBytes", req.number_of_bytes, 1, 1024);
    v.one_of("keySpec", req.key_spec.as_deref(), DataKeySpec::VALUES);
    check_grant_tokens(&mut v, req.grant_tokens.as_deref());
    if include_plaintext {
        check_recipient(&mut v, req.recipient.as_ref());
    }
    v.finish()?;
    let number_of_bytes = data_key_length(req.key_spec.as_deref(), req.number_of_bytes)?;
    if include_plaintext {
        refuse_recipient(req.recipient.as_ref())?;
    }

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::GenerateDataKeyRequest {
        caller: call.caller(),
        key_id,
        encryption_context: req
            .encryption_context
            .unwrap_or_default()
            .into_iter()
            .collect(),
        number_of_bytes,
        include_plaintext,
        dry_run: req.dry_run.unwrap_or(false),
        grant_tokens: req.grant_tokens.unwrap_or_default(),
    };
    Ok((route, request))
}

/// Exactly one of KeySpec and NumberOfBytes (AWS KMS API Reference, GenerateDataKey).
fn data_key_length(key_spec: Option<&str>, number_of_bytes: Option<i64>) -> Result<u32, KmsError> {
    match (key_spec.and_then(DataKeySpec::parse), number_of_bytes) {
        (Some(spec), None) => Ok(u32::try_from(spec.byte_len()).unwrap_or(u32::MAX)),
        (None, Some(n)) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        (Some(_), Some(_)) => Err(KmsError::Validation(
            "Please specify either number of bytes or key spec, not both.".to_owned(),
        )),
        (None, None) => Err(KmsError::Validation(
            "Please specify either number of bytes or key spec.".to_owned(),
        )),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EncryptRequest {
    pub(crate) key_id: Option<String>,
    pub(crate) plaintext: Option<Blob>,
    pub(crate) encryption_context: Option<BTreeMap<String, String>>,
    pub(crate) grant_tokens: Option<Vec<String>>,
    pub(crate) encryption_algorithm: Option<String>,
    pub(crate) dry_run: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptResponse {
    ciphertext_blob: Blob,
    key_id: String,
    encryption_algorithm: &'static str,
}

pub(super) async fn encrypt_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let mut response = encrypt(call, decode(body)?).await?;
    encode(&EncryptResponse {
        ciphertext_blob: Blob(std::mem::take(&mut response.ciphertext_blob)),
        key_id: std::mem::take(&mut response.key_id),
        encryption_algorithm: EncryptionAlgorithm::SymmetricDefault.as_str(),
    })
}

/// Encrypt, validated and answered by the key's shard. The answer's algorithm is always
/// SYMMETRIC_DEFAULT.
pub(crate) async fn encrypt(
    call: &Call<'_>,
    req: EncryptRequest,
) -> Result<v1::EncryptResponse, KmsError> {
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.required("plaintext", req.plaintext.as_ref());
    v.blob_length(
        "plaintext",
        req.plaintext.as_ref().map(|b| &b.0[..]),
        1,
        4096,
    );
    v.one_of(
        "encryptionAlgorithm",
        req.encryption_algorithm.as_deref(),
        EncryptionAlgorithm::VALUES,
    );
    check_grant_tokens(&mut v, req.grant_tokens.as_deref());
    v.finish()?;
    check_symmetric_algorithm(req.encryption_algorithm.as_deref())?;

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::EncryptRequest {
        caller: call.caller(),
        key_id,
        plaintext: req
            .plaintext
            .map(|mut b| std::mem::take(&mut b.0))
            .unwrap_or_default(),
        encryption_context: req
            .encryption_context
            .unwrap_or_default()
            .into_iter()
            .collect(),
        dry_run: req.dry_run.unwrap_or(false),
        grant_tokens: req.grant_tokens.unwrap_or_default(),
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.encrypt(r).await
        })
        .await
}

/// Keyshard's keys are symmetric, and symmetric keys use SYMMETRIC_DEFAULT only.
pub(super) fn check_symmetric_algorithm(algorithm: Option<&str>) -> Result<(), KmsError> {
    match algorithm {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsError::InvalidKeyUsage(format!(
            "The encryption algorithm {other} is not valid for a SYMMETRIC_DEFAULT key."
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DecryptRequest {
    pub(crate) ciphertext_blob: Option<Blob>,
    pub(crate) encryption_context: Option<BTreeMap<String, String>>,
    pub(crate) grant_tokens: Option<Vec<String>>,
    pub(crate) key_id: Option<String>,
    pub(crate) encryption_algorithm: Option<String>,
    pub(crate) recipient: Option<Recipient>,
    pub(crate) dry_run: Option<bool>,
    pub(crate) dry_run_modifiers: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptResponse {
    key_id: String,
    plaintext: Blob,
    encryption_algorithm: &'static str,
    key_material_id: String,
}

pub(super) async fn decrypt_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let mut response = decrypt(call, decode(body)?).await?;
    encode(&DecryptResponse {
        key_id: std::mem::take(&mut response.key_id),
        plaintext: Blob(std::mem::take(&mut response.plaintext)),
        encryption_algorithm: EncryptionAlgorithm::SymmetricDefault.as_str(),
        key_material_id: std::mem::take(&mut response.key_material_id),
    })
}

/// Decrypt, validated and answered by the shard of the key the blob names. The answer's
/// algorithm is always SYMMETRIC_DEFAULT.
pub(crate) async fn decrypt(
    call: &Call<'_>,
    req: DecryptRequest,
) -> Result<v1::DecryptResponse, KmsError> {
    let (route, request) = decrypt_request(call, req)?;
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.decrypt(r).await
        })
        .await
}

/// A Decrypt request validated against the model, as its shard takes it, with its route.
pub(crate) fn decrypt_request(
    call: &Call<'_>,
    req: DecryptRequest,
) -> Result<(Vec<u8>, v1::DecryptRequest), KmsError> {
    let dry_run = req.dry_run.unwrap_or(false);
    let modifiers = req.dry_run_modifiers.as_deref();
    let ignore_ciphertext = ignores_ciphertext(dry_run, modifiers);
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
    check_grant_tokens(&mut v, req.grant_tokens.as_deref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.one_of(
        "encryptionAlgorithm",
        req.encryption_algorithm.as_deref(),
        EncryptionAlgorithm::VALUES,
    );
    check_recipient(&mut v, req.recipient.as_ref());
    check_dry_run_modifiers(&mut v, modifiers);
    v.finish()?;
    check_symmetric_algorithm(req.encryption_algorithm.as_deref())?;
    refuse_recipient(req.recipient.as_ref())?;

    let ciphertext_blob = req
        .ciphertext_blob
        .map(|mut b| std::mem::take(&mut b.0))
        .unwrap_or_default();
    let route = route_ciphertext(&ciphertext_blob, req.key_id.as_deref().unwrap_or_default());
    let request = v1::DecryptRequest {
        caller: call.caller(),
        ciphertext_blob,
        encryption_context: req
            .encryption_context
            .unwrap_or_default()
            .into_iter()
            .collect(),
        key_id: req.key_id,
        dry_run,
        ignore_ciphertext,
        grant_tokens: req.grant_tokens.unwrap_or_default(),
    };
    Ok((route, request))
}

/// Whether a Decrypt or ReEncrypt is a dry run that skips the ciphertext (DryRunModifiers
/// IGNORE_CIPHERTEXT), which makes `CiphertextBlob` optional.
pub(super) fn ignores_ciphertext(dry_run: bool, modifiers: Option<&[String]>) -> bool {
    dry_run
        && modifiers
            .unwrap_or_default()
            .iter()
            .any(|m| m == DryRunModifier::IgnoreCiphertext.as_str())
}

/// `DryRunModifierList`: each member a `DryRunModifierType`.
pub(super) fn check_dry_run_modifiers(v: &mut Violations, modifiers: Option<&[String]>) {
    for (i, m) in modifiers.unwrap_or_default().iter().enumerate() {
        v.one_of(
            &format!("dryRunModifiers.{}.member", i + 1),
            Some(m),
            DryRunModifier::VALUES,
        );
    }
}

/// The route of a call that opens a blob: the key the blob names, or `key_id` (the named key)
/// when the ciphertext is ignored. A blob that does not parse goes anywhere and is refused
/// there.
pub(super) fn route_ciphertext(ciphertext_blob: &[u8], key_id: &str) -> Vec<u8> {
    match keyshard_core::blob::parse(ciphertext_blob) {
        Ok(parsed) => route_key(&parsed.header.key_id.to_string()).to_vec(),
        Err(_) => route_key(key_id).to_vec(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GenerateRandomRequest {
    pub(crate) number_of_bytes: Option<i64>,
    pub(crate) custom_key_store_id: Option<String>,
    pub(crate) recipient: Option<Recipient>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateRandomResponse {
    plaintext: Blob,
}

pub(super) async fn generate_random_json(
    call: &Call<'_>,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let mut response = generate_random(call, decode(body)?).await?;
    encode(&GenerateRandomResponse {
        plaintext: Blob(std::mem::take(&mut response.plaintext)),
    })
}

/// GenerateRandom, validated and answered by any shard.
pub(crate) async fn generate_random(
    call: &Call<'_>,
    req: GenerateRandomRequest,
) -> Result<v1::GenerateRandomResponse, KmsError> {
    let mut v = Violations::new();
    v.range("numberOfBytes", req.number_of_bytes, 1, 1024);
    v.length(
        "customKeyStoreId",
        req.custom_key_store_id.as_deref(),
        1,
        64,
    );
    check_recipient(&mut v, req.recipient.as_ref());
    v.finish()?;
    let Some(number_of_bytes) = req.number_of_bytes else {
        return Err(KmsError::Validation(
            "NumberOfBytes is required.".to_owned(),
        ));
    };
    if let Some(store) = &req.custom_key_store_id {
        return Err(KmsError::CustomKeyStoreNotFound(format!(
            "Custom key store {store} does not exist."
        )));
    }
    refuse_recipient(req.recipient.as_ref())?;

    let request = v1::GenerateRandomRequest {
        caller: call.caller(),
        number_of_bytes: u32::try_from(number_of_bytes).unwrap_or(u32::MAX),
    };
    let route = uuid::Uuid::new_v4().into_bytes();
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.generate_random(r).await
        })
        .await
}
