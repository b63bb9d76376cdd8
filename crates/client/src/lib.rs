//! A client for Keyshard's public gRPC API (`keyshard.kms.v1.KeyManagement`).
//!
//! Every call is signed with AWS Signature Version 4 from the [`Credentials`] the client was
//! made with, as the API requires: an HTTP/2 `POST` to the method's path, with the gRPC-framed
//! request as the signed payload, for the service `kms` in the client's region. A failed call
//! returns an [`Error`] carrying the gRPC code and, when the service answered, the AWS error
//! type (`NotFoundException`, `AccessDeniedException`, ...) and AWS's message.
//!
//! ```no_run
//! # async fn example() -> Result<(), keyshard_client::Error> {
//! use keyshard_client::{Client, Credentials, kms};
//!
//! // `keyshard dev --grpc-listen 127.0.0.1:8310` accepts any credentials.
//! let credentials = Credentials::new("AKIDEXAMPLE", "example-secret", None);
//! let client = Client::connect("http://127.0.0.1:8310", "us-east-1", credentials).await?;
//!
//! let key = client.create_key(kms::CreateKeyRequest::default()).await?;
//! let key_id = key.key_metadata.map(|m| m.key_id).unwrap_or_default();
//! let data_key = client
//!     .generate_data_key(kms::GenerateDataKeyRequest {
//!         key_id: Some(key_id),
//!         key_spec: Some("AES_256".to_owned()),
//!         ..Default::default()
//!     })
//!     .await?;
//! let opened = client
//!     .decrypt(kms::DecryptRequest {
//!         ciphertext_blob: Some(data_key.ciphertext_blob),
//!         ..Default::default()
//!     })
//!     .await?;
//! assert_eq!(opened.plaintext, data_key.plaintext);
//!
//! match client.describe_key(kms::DescribeKeyRequest {
//!     key_id: Some("alias/missing".to_owned()),
//!     ..Default::default()
//! }).await {
//!     Err(err) => assert_eq!(err.error_type(), Some("NotFoundException")),
//!     Ok(_) => unreachable!("the alias does not exist"),
//! }
//! # Ok(())
//! # }
//! ```

mod error;
pub mod kms_plugin;
mod signing;

use keyshard_proto::kms::key_management_client::KeyManagementClient;
use tonic::transport::{Channel, Endpoint};

pub use error::Error;
/// The public API's messages.
pub use keyshard_proto::kms;
pub use signing::Credentials;

use signing::Signing;

/// A connection to Keyshard's public gRPC API that signs every call. Cheap to clone: clones
/// share the connection.
#[derive(Clone)]
pub struct Client {
    inner: KeyManagementClient<Signing>,
}

macro_rules! unary {
    ($($(#[$doc:meta])* $method:ident($request:ty) -> $response:ty;)*) => {
        $(
            $(#[$doc])*
            pub async fn $method(&self, request: $request) -> Result<$response, Error> {
                self.inner
                    .clone()
                    .$method(request)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(Error::from)
            }
        )*
    };
}

impl Client {
    /// Connects to the public API at `endpoint` (such as `http://127.0.0.1:8310`), signing for
    /// `region` with `credentials`.
    pub async fn connect(
        endpoint: &str,
        region: &str,
        credentials: Credentials,
    ) -> Result<Self, Error> {
        let endpoint = Endpoint::from_shared(endpoint.to_owned()).map_err(Error::transport)?;
        let channel = endpoint.connect().await.map_err(Error::transport)?;
        Ok(Self::with_channel(
            channel,
            endpoint.uri().clone(),
            region,
            credentials,
        ))
    }

    /// A client over an established `channel` to the endpoint `uri`, whose authority is the
    /// signed host.
    pub fn with_channel(
        channel: Channel,
        uri: http::Uri,
        region: &str,
        credentials: Credentials,
    ) -> Self {
        Self {
            inner: KeyManagementClient::new(Signing::new(channel, uri, region, credentials)),
        }
    }

    unary! {
        /// CreateKey: a new symmetric encryption key.
        create_key(kms::CreateKeyRequest) -> kms::CreateKeyResponse;
        /// DescribeKey: a key's metadata, by key id, key ARN, alias name or alias ARN.
        describe_key(kms::DescribeKeyRequest) -> kms::DescribeKeyResponse;
        /// ListKeys: one page of the account's keys.
        list_keys(kms::ListKeysRequest) -> kms::ListKeysResponse;
        /// CreateAlias: a new alias for a key.
        create_alias(kms::CreateAliasRequest) -> kms::CreateAliasResponse;
        /// ListAliases: one page of the account's aliases, or of one key's.
        list_aliases(kms::ListAliasesRequest) -> kms::ListAliasesResponse;
        /// DeleteAlias.
        delete_alias(kms::DeleteAliasRequest) -> kms::DeleteAliasResponse;
        /// Encrypt: up to 4096 bytes under a key.
        encrypt(kms::EncryptRequest) -> kms::EncryptResponse;
        /// Decrypt: a ciphertext blob made by Encrypt or GenerateDataKey*, over either API.
        decrypt(kms::DecryptRequest) -> kms::DecryptResponse;
        /// ReEncrypt: a ciphertext blob opened and sealed again, possibly under another key.
        re_encrypt(kms::ReEncryptRequest) -> kms::ReEncryptResponse;
        /// GenerateDataKey: a data key in plaintext and sealed under a key.
        generate_data_key(kms::GenerateDataKeyRequest) -> kms::GenerateDataKeyResponse;
        /// GenerateDataKeyWithoutPlaintext: a data key sealed under a key only.
        generate_data_key_without_plaintext(kms::GenerateDataKeyWithoutPlaintextRequest)
            -> kms::GenerateDataKeyWithoutPlaintextResponse;
        /// GenerateRandom: 1 to 1024 random bytes.
        generate_random(kms::GenerateRandomRequest) -> kms::GenerateRandomResponse;
        /// GenerateDataKeyBatch: up to 1000 GenerateDataKey calls, answered item by item in
        /// item order.
        generate_data_key_batch(kms::GenerateDataKeyBatchRequest)
            -> kms::GenerateDataKeyBatchResponse;
        /// DecryptBatch: up to 1000 Decrypt calls, answered item by item in item order.
        decrypt_batch(kms::DecryptBatchRequest) -> kms::DecryptBatchResponse;
    }

    /// GenerateDataKeyStream: GenerateDataKeyBatch with each item's result streamed as soon as
    /// it is ready, in any order.
    pub async fn generate_data_key_stream(
        &self,
        request: kms::GenerateDataKeyBatchRequest,
    ) -> Result<tonic::Streaming<kms::GenerateDataKeyResult>, Error> {
        self.inner
            .clone()
            .generate_data_key_stream(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(Error::from)
    }
}
