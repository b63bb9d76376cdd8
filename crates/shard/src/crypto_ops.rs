//! The cryptographic operations: GenerateDataKey (with and without plaintext), Encrypt,
//! Decrypt and GenerateRandom, and the sealing and opening ReEncrypt shares with them.

use std::collections::HashMap;

use keyshard_core::KmsError;
use keyshard_core::blob;
use keyshard_core::context::EncryptionContext;
use keyshard_core::id::{KeyRefForms, Scope};
use keyshard_core::operation::Operation;
use keyshard_crypto::{SecretBytes, key_material_id, open, seal};
use keyshard_proto::v1;

use crate::Shard;
use crate::error::from_crypto;
use crate::keys::ResolvedKey;

/// A ciphertext blob opened for Decrypt or ReEncrypt: the key and backing version that sealed
/// it, and its plaintext, which is wiped when dropped.
pub(crate) struct Opened {
    pub(crate) key: ResolvedKey,
    pub(crate) version: u32,
    pub(crate) plaintext: SecretBytes,
}

impl Opened {
    pub(crate) fn key_material_id(&self) -> String {
        key_material_id(self.key.record.key_id, self.version)
    }
}

/// The message AWS gives when a blob names a key the caller cannot use, never saying which.
const UNKNOWN_BLOB_KEY: &str = "The ciphertext refers to a customer master key that does not exist, \
                                does not exist in this region, or you are not allowed to access.";

impl Shard {
    pub(crate) async fn generate_data_key(
        &self,
        scope: &Scope,
        req: v1::GenerateDataKeyRequest,
    ) -> Result<v1::GenerateDataKeyResponse, KmsError> {
        let op = if req.include_plaintext {
            Operation::GenerateDataKey
        } else {
            Operation::GenerateDataKeyWithoutPlaintext
        };
        let key = self
            .encrypting_key(scope, &req.key_id, op, req.dry_run)
            .await?;

        let len = usize::try_from(req.number_of_bytes).unwrap_or(usize::MAX);
        let data_key = SecretBytes::random(len).map_err(from_crypto)?;
        let context = EncryptionContext::new(req.encryption_context.into_iter().collect());
        let ciphertext_blob = self
            .seal_current(&key, &context, data_key.secret_bytes())
            .await?;

        Ok(v1::GenerateDataKeyResponse {
            ciphertext_blob,
            plaintext: if req.include_plaintext {
                data_key.secret_bytes().to_vec()
            } else {
                Vec::new()
            },
            key_id: key.arn.to_string(),
            key_material_id: key_material_id(key.record.key_id, key.record.current_version),
        })
    }

    pub(crate) async fn encrypt(
        &self,
        scope: &Scope,
        req: v1::EncryptRequest,
    ) -> Result<v1::EncryptResponse, KmsError> {
        let key = self
            .encrypting_key(scope, &req.key_id, Operation::Encrypt, req.dry_run)
            .await?;
        let context = EncryptionContext::new(req.encryption_context.into_iter().collect());
        let ciphertext_blob = self.seal_current(&key, &context, &req.plaintext).await?;
        Ok(v1::EncryptResponse {
            ciphertext_blob,
            key_id: key.arn.to_string(),
        })
    }

    pub(crate) async fn decrypt(
        &self,
        scope: &Scope,
        req: v1::DecryptRequest,
    ) -> Result<v1::DecryptResponse, KmsError> {
        let named = self.named_key(scope, req.key_id.as_deref()).await?;
        if req.ignore_ciphertext {
            check_named_key_only(named.as_ref(), "KeyId", Operation::Decrypt)?;
            return Err(KmsError::DryRunOperation);
        }

        let opened = self
            .open_ciphertext(
                scope,
                named,
                &req.ciphertext_blob,
                req.encryption_context,
                Operation::Decrypt,
            )
            .await?;
        if req.dry_run {
            return Err(KmsError::DryRunOperation);
        }
        Ok(v1::DecryptResponse {
            plaintext: opened.plaintext.secret_bytes().to_vec(),
            key_id: opened.key.arn.to_string(),
            key_material_id: opened.key_material_id(),
        })
    }

    /// The key an optional `KeyId` member names, in any of the four forms.
    pub(crate) async fn named_key(
        &self,
        scope: &Scope,
        key_id: Option<&str>,
    ) -> Result<Option<ResolvedKey>, KmsError> {
        match key_id {
            Some(key_id) => Ok(Some(self.resolve(scope, key_id, KeyRefForms::All).await?)),
            None => Ok(None),
        }
    }

    /// Opens a blob for `op` (Decrypt, or ReEncrypt's source side). The key its header names
    /// must be the `named` one if the caller named one (else IncorrectKeyException), must exist
    /// (else AccessDeniedException, not saying why), and must pass the key-state table and be
    /// a symmetric encryption key; the version the header names then opens it with `context`
    /// (AWS KMS API Reference, Decrypt).
    pub(crate) async fn open_ciphertext(
        &self,
        scope: &Scope,
        named: Option<ResolvedKey>,
        ciphertext_blob: &[u8],
        context: HashMap<String, String>,
        op: Operation,
    ) -> Result<Opened, KmsError> {
        let parsed = blob::parse(ciphertext_blob)?;
        let key = match named {
            Some(key) if key.record.key_id != parsed.header.key_id => {
                return Err(KmsError::IncorrectKey);
            }
            Some(key) => key,
            None => self
                .key_by_id(scope, parsed.header.key_id)
                .await?
                .ok_or_else(|| KmsError::AccessDenied(UNKNOWN_BLOB_KEY.to_owned()))?,
        };
        key.check_state(op)?;
        key.check_encrypt_decrypt(op)?;

        let version = parsed.header.version;
        let backing = self
            .backing_key(&key, version)
            .await?
            .ok_or(KmsError::InvalidCiphertext)?;
        let context = EncryptionContext::new(context.into_iter().collect());
        let plaintext = open(&backing, &parsed, &context)?;
        Ok(Opened {
            key,
            version,
            plaintext,
        })
    }

    pub(crate) fn generate_random(
        &self,
        req: &v1::GenerateRandomRequest,
    ) -> Result<v1::GenerateRandomResponse, KmsError> {
        let len = usize::try_from(req.number_of_bytes).unwrap_or(usize::MAX);
        let random = SecretBytes::random(len).map_err(from_crypto)?;
        Ok(v1::GenerateRandomResponse {
            plaintext: random.secret_bytes().to_vec(),
        })
    }

    /// The key for an operation that encrypts, after every check; with `dry_run`, the
    /// DryRunOperation answer once all checks passed (behaviour reference, section 3.7).
    pub(crate) async fn encrypting_key(
        &self,
        scope: &Scope,
        key_id: &str,
        op: Operation,
        dry_run: bool,
    ) -> Result<ResolvedKey, KmsError> {
        let key = self.resolve(scope, key_id, KeyRefForms::All).await?;
        key.check_state(op)?;
        key.check_encrypt_decrypt(op)?;
        if dry_run {
            return Err(KmsError::DryRunOperation);
        }
        Ok(key)
    }

    /// Seals under the key's current backing version.
    pub(crate) async fn seal_current(
        &self,
        key: &ResolvedKey,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let version = key.record.current_version;
        let backing = self.backing_key(key, version).await?.ok_or_else(|| {
            tracing::error!(key_id = %key.record.key_id, version, "current key version is missing");
            KmsError::Internal("The key material is not available.".to_owned())
        })?;
        seal(&backing, key.record.key_id, version, context, plaintext).map_err(from_crypto)
    }
}

/// DryRunModifiers IGNORE_CIPHERTEXT: only the key the `member` names is checked, so it must be
/// given (AWS KMS API Reference, Decrypt and ReEncrypt: DryRunModifiers).
pub(crate) fn check_named_key_only(
    named: Option<&ResolvedKey>,
    member: &str,
    op: Operation,
) -> Result<(), KmsError> {
    let key = named.ok_or_else(|| {
        KmsError::Validation(format!(
            "{member} is required when the ciphertext is ignored."
        ))
    })?;
    key.check_state(op)?;
    key.check_encrypt_decrypt(op)
}
