//! The tonic service: turns each RPC into a call on [`Shard`] and each error into a status
//! that carries its AWS type.

use std::sync::Arc;

use futures_util::{StreamExt as _, stream};
use keyshard_core::KmsError;
use keyshard_core::grants::GrantToken;
use keyshard_core::id::KeyRefForms;
use keyshard_core::operation::Operation;
use keyshard_proto::v1::shard_server;
use keyshard_proto::{MAX_BATCH_ITEMS, caller_scope, item_error, status_from_error, v1};
use tonic::{Request, Response, Status};

use crate::Shard;
use crate::authz::Subject;
use crate::grants::NewGrant;
use crate::keys::{NewKey, metadata};
use crate::lifecycle::PENDING_WINDOW_DAYS;

/// The gRPC face of a [`Shard`].
pub struct ShardService {
    shard: Arc<Shard>,
}

impl ShardService {
    pub(crate) fn new(shard: Arc<Shard>) -> Self {
        Self { shard }
    }
}

/// The gateway validates every request against the API model; the shard checks again the
/// sizes that decide how much it allocates, so that nothing reaching its port directly can make
/// it allocate more than a valid request would. A violation is a caller bug: InvalidArgument.
fn check_size(what: &str, len: usize, min: usize, max: usize) -> Result<(), Status> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "{what} must be {min} to {max} bytes"
        )))
    }
}

/// Most bytes GenerateDataKey and GenerateRandom produce (`NumberOfBytesType`).
const MAX_GENERATED_BYTES: usize = 1024;
/// Most plaintext bytes Encrypt takes (`PlaintextType`).
const MAX_PLAINTEXT_BYTES: usize = 4096;
/// Most ciphertext bytes Decrypt and ReEncrypt take (`CiphertextType`).
const MAX_CIPHERTEXT_BYTES: usize = 6144;
/// Longest key description, in characters (`DescriptionType`).
const MAX_DESCRIPTION_CHARS: usize = 8192;

/// Items of one batch a shard works on at once: those whose key is cached finish without
/// waiting, and up to this many wait for the store together.
const BATCH_CONCURRENCY: usize = 16;

fn byte_count(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The answer of an RPC whose operation returns nothing on success.
fn respond_empty(result: Result<(), KmsError>) -> Result<Response<v1::Empty>, Status> {
    respond(result.map(|()| v1::Empty {}))
}

fn respond<T>(result: Result<T, KmsError>) -> Result<Response<T>, Status> {
    result
        .map(Response::new)
        .map_err(|err| status_from_error(&err))
}

#[tonic::async_trait]
impl shard_server::Shard for ShardService {
    async fn create_key(
        &self,
        request: Request<v1::CreateKeyRequest>,
    ) -> Result<Response<v1::KeyMetadataResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        let new = NewKey::try_from(req)?;
        let result = self.shard.create_key(&scope, new).await;
        respond(result.map(|m| v1::KeyMetadataResponse {
            key_metadata: Some(m),
        }))
    }

    async fn describe_key(
        &self,
        request: Request<v1::DescribeKeyRequest>,
    ) -> Result<Response<v1::KeyMetadataResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        // The model lists no InvalidGrantTokenException for DescribeKey: a token Keyshard did
        // not issue names no grant, so it is left out rather than refused.
        let grant_tokens: Vec<String> = req
            .grant_tokens
            .into_iter()
            .filter(|token| GrantToken::parse(token).is_ok())
            .collect();
        let result = self
            .shard
            .authorized_key(
                &scope,
                &req.key_id,
                KeyRefForms::All,
                Operation::DescribeKey,
                Subject::Plain,
                &grant_tokens,
            )
            .await;
        respond(result.map(|key| v1::KeyMetadataResponse {
            key_metadata: Some(metadata(&key)),
        }))
    }

    async fn list_keys(
        &self,
        request: Request<v1::ListKeysRequest>,
    ) -> Result<Response<v1::ListKeysResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.list_keys(&scope, req).await)
    }

    async fn create_alias(
        &self,
        request: Request<v1::AliasRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.create_alias(&scope, req).await)
    }

    async fn update_alias(
        &self,
        request: Request<v1::AliasRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.update_alias(&scope, req).await)
    }

    async fn delete_alias(
        &self,
        request: Request<v1::DeleteAliasRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.delete_alias(&scope, req).await)
    }

    async fn list_aliases(
        &self,
        request: Request<v1::ListAliasesRequest>,
    ) -> Result<Response<v1::ListAliasesResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.list_aliases(&scope, req).await)
    }

    async fn generate_data_key(
        &self,
        request: Request<v1::GenerateDataKeyRequest>,
    ) -> Result<Response<v1::GenerateDataKeyResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        check_size(
            "number_of_bytes",
            byte_count(req.number_of_bytes),
            1,
            MAX_GENERATED_BYTES,
        )?;
        respond(self.shard.generate_data_key(&scope, req).await)
    }

    async fn encrypt(
        &self,
        request: Request<v1::EncryptRequest>,
    ) -> Result<Response<v1::EncryptResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        check_size("plaintext", req.plaintext.len(), 1, MAX_PLAINTEXT_BYTES)?;
        respond(self.shard.encrypt(&scope, req).await)
    }

    async fn decrypt(
        &self,
        request: Request<v1::DecryptRequest>,
    ) -> Result<Response<v1::DecryptResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        check_size(
            "ciphertext_blob",
            req.ciphertext_blob.len(),
            0,
            MAX_CIPHERTEXT_BYTES,
        )?;
        respond(self.shard.decrypt(&scope, req).await)
    }

    async fn generate_data_key_batch(
        &self,
        request: Request<v1::GenerateDataKeyBatchRequest>,
    ) -> Result<Response<v1::GenerateDataKeyBatchResponse>, Status> {
        let items = request.into_inner().items;
        check_size("items", items.len(), 1, MAX_BATCH_ITEMS)?;
        let mut calls = Vec::with_capacity(items.len());
        for item in items {
            check_size(
                "number_of_bytes",
                byte_count(item.number_of_bytes),
                1,
                MAX_GENERATED_BYTES,
            )?;
            calls.push((caller_scope(item.caller.as_ref())?, item));
        }
        let shard = &self.shard;
        let results = stream::iter(calls)
            .map(|(scope, item)| async move {
                let result = shard.generate_data_key(&scope, item).await;
                v1::GenerateDataKeyItem {
                    result: Some(match result {
                        Ok(data_key) => v1::generate_data_key_item::Result::DataKey(data_key),
                        Err(err) => v1::generate_data_key_item::Result::Error(item_error(&err)),
                    }),
                }
            })
            .buffered(BATCH_CONCURRENCY)
            .collect()
            .await;
        Ok(Response::new(v1::GenerateDataKeyBatchResponse { results }))
    }

    async fn decrypt_batch(
        &self,
        request: Request<v1::DecryptBatchRequest>,
    ) -> Result<Response<v1::DecryptBatchResponse>, Status> {
        let items = request.into_inner().items;
        check_size("items", items.len(), 1, MAX_BATCH_ITEMS)?;
        let mut calls = Vec::with_capacity(items.len());
        for item in items {
            check_size(
                "ciphertext_blob",
                item.ciphertext_blob.len(),
                0,
                MAX_CIPHERTEXT_BYTES,
            )?;
            calls.push((caller_scope(item.caller.as_ref())?, item));
        }
        let shard = &self.shard;
        let results = stream::iter(calls)
            .map(|(scope, item)| async move {
                let result = shard.decrypt(&scope, item).await;
                v1::DecryptItem {
                    result: Some(match result {
                        Ok(decrypted) => v1::decrypt_item::Result::Decrypted(decrypted),
                        Err(err) => v1::decrypt_item::Result::Error(item_error(&err)),
                    }),
                }
            })
            .buffered(BATCH_CONCURRENCY)
            .collect()
            .await;
        Ok(Response::new(v1::DecryptBatchResponse { results }))
    }

    async fn enable_key(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.set_enabled(&scope, req, true).await)
    }

    async fn disable_key(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.set_enabled(&scope, req, false).await)
    }

    async fn generate_random(
        &self,
        request: Request<v1::GenerateRandomRequest>,
    ) -> Result<Response<v1::GenerateRandomResponse>, Status> {
        let req = request.into_inner();
        caller_scope(req.caller.as_ref())?;
        check_size(
            "number_of_bytes",
            byte_count(req.number_of_bytes),
            1,
            MAX_GENERATED_BYTES,
        )?;
        respond(self.shard.generate_random(&req))
    }

    // Tags and key policies.

    async fn tag_resource(
        &self,
        request: Request<v1::TagResourceRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.tag_resource(&scope, req).await)
    }

    async fn untag_resource(
        &self,
        request: Request<v1::UntagResourceRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.untag_resource(&scope, req).await)
    }

    async fn list_resource_tags(
        &self,
        request: Request<v1::ListResourceTagsRequest>,
    ) -> Result<Response<v1::ListResourceTagsResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.list_resource_tags(&scope, req).await)
    }

    async fn get_key_policy(
        &self,
        request: Request<v1::KeyPolicyRequest>,
    ) -> Result<Response<v1::GetKeyPolicyResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.get_key_policy(&scope, req).await)
    }

    async fn put_key_policy(
        &self,
        request: Request<v1::PutKeyPolicyRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.put_key_policy(&scope, req).await)
    }

    async fn list_key_policies(
        &self,
        request: Request<v1::ListKeyPoliciesRequest>,
    ) -> Result<Response<v1::ListKeyPoliciesResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.list_key_policies(&scope, req).await)
    }

    // Rotation.

    async fn enable_key_rotation(
        &self,
        request: Request<v1::EnableKeyRotationRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.enable_key_rotation(&scope, req).await)
    }

    async fn disable_key_rotation(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond_empty(self.shard.disable_key_rotation(&scope, req).await)
    }

    async fn get_key_rotation_status(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::GetKeyRotationStatusResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.key_rotation_status(&scope, req).await)
    }

    async fn rotate_key_on_demand(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::RotateKeyOnDemandResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.rotate_key_on_demand(&scope, req).await)
    }

    async fn list_key_rotations(
        &self,
        request: Request<v1::ListKeyRotationsRequest>,
    ) -> Result<Response<v1::ListKeyRotationsResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.list_key_rotations(&scope, req).await)
    }

    // Key lifecycle.

    async fn schedule_key_deletion(
        &self,
        request: Request<v1::ScheduleKeyDeletionRequest>,
    ) -> Result<Response<v1::ScheduleKeyDeletionResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        if !PENDING_WINDOW_DAYS.contains(&req.pending_window_in_days) {
            return Err(Status::invalid_argument(
                "pending_window_in_days must be 7 to 30",
            ));
        }
        respond(self.shard.schedule_key_deletion(&scope, req).await)
    }

    async fn cancel_key_deletion(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::CancelKeyDeletionResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.cancel_key_deletion(&scope, req).await)
    }

    async fn update_key_description(
        &self,
        request: Request<v1::UpdateKeyDescriptionRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        if req.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(Status::invalid_argument("malformed description"));
        }
        let result = self.shard.update_key_description(&scope, req).await;
        respond_empty(result)
    }

    async fn re_encrypt(
        &self,
        request: Request<v1::ReEncryptRequest>,
    ) -> Result<Response<v1::ReEncryptResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        check_size(
            "ciphertext_blob",
            req.ciphertext_blob.len(),
            0,
            MAX_CIPHERTEXT_BYTES,
        )?;
        respond(self.shard.re_encrypt(&scope, req).await)
    }

    // Grants.

    async fn create_grant(
        &self,
        request: Request<v1::CreateGrantRequest>,
    ) -> Result<Response<v1::CreateGrantResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        let new = NewGrant::try_from(req)?;
        respond(self.shard.create_grant(&scope, new).await)
    }

    async fn list_grants(
        &self,
        request: Request<v1::ListGrantsRequest>,
    ) -> Result<Response<v1::ListGrantsResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.list_grants(&scope, req).await)
    }

    async fn list_retirable_grants(
        &self,
        request: Request<v1::ListRetirableGrantsRequest>,
    ) -> Result<Response<v1::ListGrantsResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.list_retirable_grants(&scope, req).await)
    }

    async fn retire_grant(
        &self,
        request: Request<v1::RetireGrantRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        let result = self.shard.retire_grant(&scope, req).await;
        respond_empty(result)
    }

    async fn revoke_grant(
        &self,
        request: Request<v1::RevokeGrantRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        let result = self.shard.revoke_grant(&scope, req).await;
        respond_empty(result)
    }

    async fn ready(&self, _request: Request<v1::Empty>) -> Result<Response<v1::Empty>, Status> {
        respond_empty(self.shard.ready().await)
    }

    async fn get_signing_key(
        &self,
        request: Request<v1::GetSigningKeyRequest>,
    ) -> Result<Response<v1::GetSigningKeyResponse>, Status> {
        respond(self.shard.signing_key(request.get_ref()).await)
    }
}
