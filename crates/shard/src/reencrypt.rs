//! ReEncrypt: opens a blob under its source key and seals the plaintext under the destination
//! key, both here, so that the plaintext never leaves the shard (AWS KMS API Reference,
//! ReEncrypt).

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::context::EncryptionContext;
use keyshard_core::operation::Operation;
use keyshard_crypto::key_material_id;
use keyshard_proto::v1;

use crate::Shard;
use crate::crypto_ops::Source;

impl Shard {
    /// Every check of the source side runs before the destination's: the source key's
    /// authorization (`kms:ReEncryptFrom`), state and usage, the ciphertext and its context,
    /// then the destination key's authorization (`kms:ReEncryptTo`), state and usage, and only
    /// then DryRun.
    pub(crate) async fn re_encrypt(
        &self,
        scope: &Requester,
        req: v1::ReEncryptRequest,
    ) -> Result<v1::ReEncryptResponse, KmsError> {
        let op = Operation::ReEncrypt;
        let named = self
            .named_key(scope, req.source_key_id.as_deref(), op)
            .await?;
        let source_context =
            EncryptionContext::new(req.source_encryption_context.into_iter().collect());
        let context =
            EncryptionContext::new(req.destination_encryption_context.into_iter().collect());
        let tokens = &req.grant_tokens;
        let source = Source {
            context: &source_context,
            grant_tokens: tokens,
            op,
        };
        if req.ignore_ciphertext {
            self.check_named_key_only(scope, named.as_ref(), "SourceKeyId", source)
                .await?;
            self.encrypting_key(scope, &req.destination_key_id, op, false, &context, tokens)
                .await?;
            return Err(KmsError::DryRunOperation);
        }

        let source = self
            .open_ciphertext(scope, named, &req.ciphertext_blob, source)
            .await?;
        let destination = self
            .encrypting_key(
                scope,
                &req.destination_key_id,
                op,
                req.dry_run,
                &context,
                tokens,
            )
            .await?;
        let ciphertext_blob = self
            .seal_current(&destination, &context, source.plaintext.secret_bytes())
            .await?;

        Ok(v1::ReEncryptResponse {
            ciphertext_blob,
            source_key_id: source.key.arn.to_string(),
            key_id: destination.arn.to_string(),
            source_key_material_id: source.key_material_id(),
            destination_key_material_id: key_material_id(
                destination.record.key_id,
                destination.record.current_version,
            ),
        })
    }
}
