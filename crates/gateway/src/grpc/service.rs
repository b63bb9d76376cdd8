//! `KeyManagement`: each method turns its message into the gateway's request model and runs the
//! operation exactly as the JSON front end does.

use std::sync::Arc;

use keyshard_core::KmsError;
use keyshard_core::id::Scope;
use keyshard_proto::kms::key_management_server::KeyManagement;
use keyshard_proto::{kms, public_status};
use tonic::{Request, Response, Status};

use super::{batch, convert};
use crate::Gateway;
use crate::auth::Identity;
use crate::ops::{Call, aliases, data, keys, reencrypt};

/// The public API's service, sharing its gateway with the JSON front end.
pub(super) struct PublicApi {
    gateway: Arc<Gateway>,
}

impl PublicApi {
    pub(super) fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

/// The caller the authentication layer found, which it always attaches.
pub(super) fn identity<T>(request: &Request<T>) -> Result<Identity, Status> {
    request
        .extensions()
        .get::<Identity>()
        .cloned()
        .ok_or_else(|| {
            public_status(&KmsError::Internal(
                "The request reached the service unauthenticated.".to_owned(),
            ))
        })
}

/// An operation's call for `identity` on `gateway`.
pub(super) fn call<'a>(gateway: &'a Gateway, identity: &'a Identity) -> Call<'a> {
    Call {
        scope: Scope {
            account: identity.account.clone(),
            region: gateway.region.clone(),
        },
        principal: &identity.principal,
        shards: &gateway.shards,
    }
}

fn answer<T>(result: Result<T, KmsError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(|err| public_status(&err))
}

#[tonic::async_trait]
impl KeyManagement for PublicApi {
    async fn create_key(
        &self,
        request: Request<kms::CreateKeyRequest>,
    ) -> Result<Response<kms::CreateKeyResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::create_key(request.into_inner());
        answer(
            keys::create_key(&call, req)
                .await
                .map(|m| kms::CreateKeyResponse {
                    key_metadata: Some(convert::key_metadata(m)),
                }),
        )
    }

    async fn describe_key(
        &self,
        request: Request<kms::DescribeKeyRequest>,
    ) -> Result<Response<kms::DescribeKeyResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::describe_key(request.into_inner());
        answer(
            keys::describe_key(&call, req)
                .await
                .map(|m| kms::DescribeKeyResponse {
                    key_metadata: Some(convert::key_metadata(m)),
                }),
        )
    }

    async fn list_keys(
        &self,
        request: Request<kms::ListKeysRequest>,
    ) -> Result<Response<kms::ListKeysResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::list_keys(request.into_inner());
        answer(
            keys::list_keys(&call, req)
                .await
                .map(convert::list_keys_response),
        )
    }

    async fn create_alias(
        &self,
        request: Request<kms::CreateAliasRequest>,
    ) -> Result<Response<kms::CreateAliasResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::create_alias(request.into_inner());
        answer(
            aliases::create_alias(&call, &req)
                .await
                .map(|()| kms::CreateAliasResponse {}),
        )
    }

    async fn list_aliases(
        &self,
        request: Request<kms::ListAliasesRequest>,
    ) -> Result<Response<kms::ListAliasesResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::list_aliases(request.into_inner());
        answer(
            aliases::list_aliases(&call, req)
                .await
                .map(convert::list_aliases_response),
        )
    }

    async fn delete_alias(
        &self,
        request: Request<kms::DeleteAliasRequest>,
    ) -> Result<Response<kms::DeleteAliasResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::delete_alias(request.into_inner());
        answer(
            aliases::delete_alias(&call, req)
                .await
                .map(|()| kms::DeleteAliasResponse {}),
        )
    }

    async fn encrypt(
        &self,
        request: Request<kms::EncryptRequest>,
    ) -> Result<Response<kms::EncryptResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::encrypt(request.into_inner());
        answer(
            data::encrypt(&call, req)
                .await
                .map(convert::encrypt_response),
        )
    }

    async fn decrypt(
        &self,
        request: Request<kms::DecryptRequest>,
    ) -> Result<Response<kms::DecryptResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::decrypt(request.into_inner());
        answer(
            data::decrypt(&call, req)
                .await
                .map(convert::decrypt_response),
        )
    }

    async fn re_encrypt(
        &self,
        request: Request<kms::ReEncryptRequest>,
    ) -> Result<Response<kms::ReEncryptResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::re_encrypt(request.into_inner());
        answer(
            reencrypt::re_encrypt(&call, req)
                .await
                .map(convert::re_encrypt_response),
        )
    }

    async fn generate_data_key(
        &self,
        request: Request<kms::GenerateDataKeyRequest>,
    ) -> Result<Response<kms::GenerateDataKeyResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::generate_data_key(request.into_inner());
        answer(
            data::generate_data_key(&call, req, true)
                .await
                .map(convert::data_key_response),
        )
    }

    async fn generate_data_key_without_plaintext(
        &self,
        request: Request<kms::GenerateDataKeyWithoutPlaintextRequest>,
    ) -> Result<Response<kms::GenerateDataKeyWithoutPlaintextResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::generate_data_key_without_plaintext(request.into_inner());
        answer(
            data::generate_data_key(&call, req, false)
                .await
                .map(convert::data_key_without_plaintext_response),
        )
    }

    async fn generate_random(
        &self,
        request: Request<kms::GenerateRandomRequest>,
    ) -> Result<Response<kms::GenerateRandomResponse>, Status> {
        let identity = identity(&request)?;
        let call = call(&self.gateway, &identity);
        let req = convert::generate_random(request.into_inner());
        answer(
            data::generate_random(&call, req)
                .await
                .map(convert::random_response),
        )
    }

    async fn generate_data_key_batch(
        &self,
        request: Request<kms::GenerateDataKeyBatchRequest>,
    ) -> Result<Response<kms::GenerateDataKeyBatchResponse>, Status> {
        let identity = identity(&request)?;
        let items = batch::check_size(request.into_inner().items)?;
        let results = batch::generate_data_keys(&self.gateway, &identity, items).await;
        Ok(Response::new(kms::GenerateDataKeyBatchResponse { results }))
    }

    async fn decrypt_batch(
        &self,
        request: Request<kms::DecryptBatchRequest>,
    ) -> Result<Response<kms::DecryptBatchResponse>, Status> {
        let identity = identity(&request)?;
        let items = batch::check_size(request.into_inner().items)?;
        let results = batch::decrypt(&self.gateway, &identity, items).await;
        Ok(Response::new(kms::DecryptBatchResponse { results }))
    }

    type GenerateDataKeyStreamStream = batch::ResultStream;

    async fn generate_data_key_stream(
        &self,
        request: Request<kms::GenerateDataKeyBatchRequest>,
    ) -> Result<Response<Self::GenerateDataKeyStreamStream>, Status> {
        let identity = identity(&request)?;
        let items = batch::check_size(request.into_inner().items)?;
        Ok(Response::new(batch::stream_data_keys(
            Arc::clone(&self.gateway),
            identity,
            items,
        )))
    }
}
