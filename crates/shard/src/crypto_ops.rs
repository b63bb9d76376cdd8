//! The cryptographic operations: GenerateDataKey (with and without plaintext), Encrypt,
//! Decrypt and GenerateRandom, and the sealing and opening ReEncrypt shares with them.

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::blob;
use keyshard_core::context::EncryptionContext;
use keyshard_core::id::{KeyId, KeyRefForms, Scope};
use keyshard_core::operation::{Action, Operation};
use keyshard_crypto::{SecretBytes, key_material_id, open, seal};
use keyshard_proto::v1;

use crate::Shard;
use crate::authz::Subject;
use crate::error::{from_crypto, from_store};
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
        scope: &Requester,
        req: v1::GenerateDataKeyRequest,
    ) -> Result<v1::GenerateDataKeyResponse, KmsError> {
        let op = if req.include_plaintext {
            Operation::GenerateDataKey
        } else {
            Operation::GenerateDataKeyWithoutPlaintext
        };
        let context = EncryptionContext::new(req.encryption_context.into_iter().collect());
        let key = self
            .encrypting_key(
                scope,
                &req.key_id,
                op,
                req.dry_run,
                &context,
                &req.grant_tokens,
            )
            .await?;

        let len = usize::try_from(req.number_of_bytes).unwrap_or(usize::MAX);
        let data_key = SecretBytes::random(len).map_err(from_crypto)?;
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
        scope: &Requester,
        req: v1::EncryptRequest,
    ) -> Result<v1::EncryptResponse, KmsError> {
        let context = EncryptionContext::new(req.encryption_context.into_iter().collect());
        let op = Operation::Encrypt;
        let key = self
            .encrypting_key(
                scope,
                &req.key_id,
                op,
                req.dry_run,
                &context,
                &req.grant_tokens,
            )
            .await?;
        let ciphertext_blob = self.seal_current(&key, &context, &req.plaintext).await?;
        Ok(v1::EncryptResponse {
            ciphertext_blob,
            key_id: key.arn.to_string(),
            key_material_id: key_material_id(key.record.key_id, key.record.current_version),
        })
    }

    pub(crate) async fn decrypt(
        &self,
        scope: &Requester,
        req: v1::DecryptRequest,
    ) -> Result<v1::DecryptResponse, KmsError> {
        let op = Operation::Decrypt;
        let named = self.named_key(scope, req.key_id.as_deref(), op).await?;
        let context = EncryptionContext::new(req.encryption_context.into_iter().collect());
        let source = Source {
            context: &context,
            grant_tokens: &req.grant_tokens,
            op,
        };
        if req.ignore_ciphertext {
            self.check_named_key_only(scope, named.as_ref(), "KeyId", source)
                .await?;
            return Err(KmsError::DryRunOperation);
        }

        let opened = self
            .open_ciphertext(scope, named, &req.ciphertext_blob, source)
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

    /// The key an optional `KeyId` member names, in any of the four forms, for `op`: a key of
    /// another account by its key ARN or alias ARN.
    pub(crate) async fn named_key(
        &self,
        scope: &Requester,
        key_id: Option<&str>,
        op: Operation,
    ) -> Result<Option<ResolvedKey>, KmsError> {
        let Some(key_id) = key_id else {
            return Ok(None);
        };
        let cross_account = op.allows_cross_account();
        let key = self
            .resolve_across(scope, key_id, KeyRefForms::All, cross_account)
            .await?;
        Ok(Some(key))
    }

    /// Opens a blob for `source.op` (Decrypt, or ReEncrypt's source side). The key its header
    /// names must be the `named` one if the caller named one (else IncorrectKeyException), must
    /// exist (else AccessDeniedException, not saying why), must allow the caller the operation,
    /// and must pass the key-state table and be a symmetric encryption key; the version the
    /// header names then opens it with the source's context (AWS KMS API Reference, Decrypt).
    pub(crate) async fn open_ciphertext(
        &self,
        scope: &Requester,
        named: Option<ResolvedKey>,
        ciphertext_blob: &[u8],
        source: Source<'_>,
    ) -> Result<Opened, KmsError> {
        let op = source.op;
        let parsed = blob::parse(ciphertext_blob)?;
        let unknown_blob_key = || KmsError::AccessDenied(UNKNOWN_BLOB_KEY.to_owned());
        let named_by_caller = named.is_some();
        let key = match named {
            Some(key) if key.record.key_id != parsed.header.key_id => {
                return Err(KmsError::IncorrectKey);
            }
            Some(key) => key,
            None => self
                .blob_key(scope, parsed.header.key_id)
                .await?
                .ok_or_else(unknown_blob_key)?,
        };
        let authorized = self
            .authorize(
                scope,
                &key,
                op.action(),
                Subject::Context(source.context),
                source.grant_tokens,
            )
            .await;
        match authorized {
            // A caller who did not name the key learns nothing of it, not even its ARN.
            Err(KmsError::AccessDenied(_)) if !named_by_caller => return Err(unknown_blob_key()),
            other => other?,
        }
        key.check_state(op)?;
        key.check_encrypt_decrypt(op)?;

        let version = parsed.header.version;
        let backing = self
            .backing_key(&key, version)
            .await?
            .ok_or(KmsError::InvalidCiphertext)?;
        let plaintext = open(&backing, &parsed, source.context)?;
        Ok(Opened {
            key,
            version,
            plaintext,
        })
    }

    /// The key a ciphertext names by id: the caller's, or, since key ids are unique across
    /// accounts, another account's, which its policy may open to the caller.
    async fn blob_key(
        &self,
        scope: &Requester,
        key_id: KeyId,
    ) -> Result<Option<ResolvedKey>, KmsError> {
        if let Some(key) = self.key_by_id(scope, key_id).await? {
            return Ok(Some(key));
        }
        let owner = self.store.key_owner(key_id).await.map_err(from_store)?;
        match owner {
            Some(account) if account != scope.account => {
                let owner_scope = Scope {
                    account,
                    region: scope.region.clone(),
                };
                self.key_by_id(&owner_scope, key_id).await
            }
            _ => Ok(None),
        }
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

    /// The key for an operation that encrypts (for ReEncrypt, its destination key), after every
    /// check; with `dry_run`, the DryRunOperation answer once all checks passed (behaviour
    /// reference, section 3.7).
    pub(crate) async fn encrypting_key(
        &self,
        scope: &Requester,
        key_id: &str,
        op: Operation,
        dry_run: bool,
        context: &EncryptionContext,
        grant_tokens: &[String],
    ) -> Result<ResolvedKey, KmsError> {
        let action = if op == Operation::ReEncrypt {
            Action::RE_ENCRYPT_TO
        } else {
            op.action()
        };
        let key = self
            .resolve_across(scope, key_id, KeyRefForms::All, op.allows_cross_account())
            .await?;
        self.authorize(scope, &key, action, Subject::Context(context), grant_tokens)
            .await?;
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

/// The side of a request that opens a ciphertext: its operation, encryption context and grant
/// tokens.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) context: &'a EncryptionContext,
    pub(crate) grant_tokens: &'a [String],
    pub(crate) op: Operation,
}

impl Shard {
    /// DryRunModifiers IGNORE_CIPHERTEXT: only the key the `member` names is checked, so it
    /// must be given (AWS KMS API Reference, Decrypt and ReEncrypt: DryRunModifiers).
    pub(crate) async fn check_named_key_only(
        &self,
        scope: &Requester,
        named: Option<&ResolvedKey>,
        member: &str,
        source: Source<'_>,
    ) -> Result<(), KmsError> {
        let key = named.ok_or_else(|| {
            KmsError::Validation(format!(
                "{member} is required when the ciphertext is ignored."
            ))
        })?;
        let subject = Subject::Context(source.context);
        self.authorize(scope, key, source.op.action(), subject, source.grant_tokens)
            .await?;
        key.check_state(source.op)?;
        key.check_encrypt_decrypt(source.op)
    }
}
