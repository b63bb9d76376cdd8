//! The tonic service: turns each RPC into a call on [`Shard`] and each error into a status
//! that carries its AWS type.

use std::sync::Arc;

use keyshard_core::KmsError;
use keyshard_core::id::KeyRefForms;
use keyshard_proto::v1::shard_server;
use keyshard_proto::{caller_scope, status_from_error, v1};
use tonic::{Request, Response, Status};

use crate::Shard;
use crate::keys::metadata;

/// The gRPC face of a [`Shard`].
pub struct ShardService {
    shard: Arc<Shard>,
}

impl ShardService {
    pub(crate) fn new(shard: Arc<Shard>) -> Self {
        Self { shard }
    }
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
        let result = self.shard.create_key(&scope, req).await;
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
        let result = self
            .shard
            .resolve(&scope, &req.key_id, KeyRefForms::All)
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
        respond(
            self.shard
                .create_alias(&scope, req)
                .await
                .map(|()| v1::Empty {}),
        )
    }

    async fn update_alias(
        &self,
        request: Request<v1::AliasRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(
            self.shard
                .update_alias(&scope, req)
                .await
                .map(|()| v1::Empty {}),
        )
    }

    async fn delete_alias(
        &self,
        request: Request<v1::DeleteAliasRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(
            self.shard
                .delete_alias(&scope, req)
                .await
                .map(|()| v1::Empty {}),
        )
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
        respond(self.shard.generate_data_key(&scope, req).await)
    }

    async fn encrypt(
        &self,
        request: Request<v1::EncryptRequest>,
    ) -> Result<Response<v1::EncryptResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.encrypt(&scope, req).await)
    }

    async fn decrypt(
        &self,
        request: Request<v1::DecryptRequest>,
    ) -> Result<Response<v1::DecryptResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.decrypt(&scope, req).await)
    }

    async fn enable_key(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(
            self.shard
                .set_enabled(&scope, req, true)
                .await
                .map(|()| v1::Empty {}),
        )
    }

    async fn disable_key(
        &self,
        request: Request<v1::KeyRequest>,
    ) -> Result<Response<v1::Empty>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(
            self.shard
                .set_enabled(&scope, req, false)
                .await
                .map(|()| v1::Empty {}),
        )
    }

    async fn generate_random(
        &self,
        request: Request<v1::GenerateRandomRequest>,
    ) -> Result<Response<v1::GenerateRandomResponse>, Status> {
        let req = request.into_inner();
        caller_scope(req.caller.as_ref())?;
        respond(self.shard.generate_random(&req))
    }

    async fn schedule_key_deletion(
        &self,
        request: Request<v1::ScheduleKeyDeletionRequest>,
    ) -> Result<Response<v1::ScheduleKeyDeletionResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
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
        let result = self.shard.update_key_description(&scope, req).await;
        respond(result.map(|()| v1::Empty {}))
    }

    async fn re_encrypt(
        &self,
        request: Request<v1::ReEncryptRequest>,
    ) -> Result<Response<v1::ReEncryptResponse>, Status> {
        let req = request.into_inner();
        let scope = caller_scope(req.caller.as_ref())?;
        respond(self.shard.re_encrypt(&scope, req).await)
    }
}
