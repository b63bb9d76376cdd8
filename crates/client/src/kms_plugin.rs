//! The Kubernetes KMS v2 plugin service (`v2.KeyManagementService`): kube-apiserver's Status,
//! Encrypt and Decrypt, answered by Keyshard through the public API with one key.
//!
//! The `key_id` it reports is `<key ARN>#<key material id>`: it changes when the key rotates,
//! which tells the API server to re-seed its data encryption keys, and old ciphertexts keep
//! decrypting because Keyshard keeps every key version.

use keyshard_proto::k8s_kms_v2 as v2;
use keyshard_proto::k8s_kms_v2::key_management_service_server::KeyManagementService;
use tonic::{Request, Response, Status};

use crate::{Client, Error, kms};

/// The KMS plugin API version this service speaks; kube-apiserver's `apiVersion: v2`.
const API_VERSION: &str = "v2";

/// The `healthz` of a healthy plugin.
const HEALTHY: &str = "ok";

/// Serves the KMS v2 API with one Keyshard key.
pub struct KmsPlugin {
    client: Client,
    /// The key ARN every Encrypt uses and every Decrypt requires.
    key_arn: String,
}

impl KmsPlugin {
    /// A plugin that encrypts under `key_arn` through `client`.
    pub fn new(client: Client, key_arn: String) -> Self {
        Self { client, key_arn }
    }

    /// The server to add to a tonic router.
    pub fn into_server(
        self,
    ) -> v2::key_management_service_server::KeyManagementServiceServer<Self> {
        v2::key_management_service_server::KeyManagementServiceServer::new(self)
    }
}

/// `<key ARN>#<key material id>`.
fn versioned_key_id(key_arn: &str, key_material_id: &str) -> String {
    format!("{key_arn}#{key_material_id}")
}

/// A failed Keyshard call as the API server sees it: the same code, the AWS type and message.
fn status(err: &Error) -> Status {
    Status::new(err.code(), err.to_string())
}

#[tonic::async_trait]
impl KeyManagementService for KmsPlugin {
    /// Healthy when Keyshard answers DescribeKey for the key with the key enabled; the key id
    /// names the key's current key material.
    async fn status(
        &self,
        _request: Request<v2::StatusRequest>,
    ) -> Result<Response<v2::StatusResponse>, Status> {
        let described = self
            .client
            .describe_key(kms::DescribeKeyRequest {
                key_id: Some(self.key_arn.clone()),
                ..Default::default()
            })
            .await;
        let (healthz, key_id) = match described.map(|d| d.key_metadata) {
            Ok(Some(metadata)) => {
                let material = metadata.current_key_material_id.unwrap_or_default();
                let key_id = versioned_key_id(&metadata.arn, &material);
                if metadata.key_state == "Enabled" {
                    (HEALTHY.to_owned(), key_id)
                } else {
                    (
                        format!("key {} is {}", metadata.arn, metadata.key_state),
                        key_id,
                    )
                }
            }
            Ok(None) => (
                "Keyshard sent no key metadata".to_owned(),
                self.key_arn.clone(),
            ),
            Err(err) => (err.to_string(), self.key_arn.clone()),
        };
        Ok(Response::new(v2::StatusResponse {
            version: API_VERSION.to_owned(),
            healthz,
            key_id,
        }))
    }

    async fn encrypt(
        &self,
        request: Request<v2::EncryptRequest>,
    ) -> Result<Response<v2::EncryptResponse>, Status> {
        let mut request = request.into_inner();
        let encrypted = self
            .client
            .encrypt(kms::EncryptRequest {
                key_id: Some(self.key_arn.clone()),
                plaintext: Some(std::mem::take(&mut request.plaintext)),
                ..Default::default()
            })
            .await
            .map_err(|err| status(&err))?;
        Ok(Response::new(v2::EncryptResponse {
            key_id: versioned_key_id(&encrypted.key_id, &encrypted.key_material_id),
            ciphertext: encrypted.ciphertext_blob,
            annotations: Default::default(),
        }))
    }

    /// Opens a ciphertext of the plugin's key, whichever key material sealed it.
    async fn decrypt(
        &self,
        request: Request<v2::DecryptRequest>,
    ) -> Result<Response<v2::DecryptResponse>, Status> {
        let request = request.into_inner();
        let decrypted = self
            .client
            .decrypt(kms::DecryptRequest {
                ciphertext_blob: Some(request.ciphertext),
                key_id: Some(self.key_arn.clone()),
                ..Default::default()
            })
            .await
            .map_err(|err| status(&err))?;
        Ok(Response::new(v2::DecryptResponse {
            plaintext: decrypted.plaintext,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_id_names_the_key_and_its_material() {
        assert_eq!(
            versioned_key_id("arn:aws:kms:us-east-1:111122223333:key/k", "abc"),
            "arn:aws:kms:us-east-1:111122223333:key/k#abc"
        );
    }
}
