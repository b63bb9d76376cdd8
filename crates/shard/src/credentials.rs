//! Credentials for gateways: the SigV4 signing key of one access key for one day, region and
//! the `kms` service. The secret access key is unwrapped here and never leaves the shard.

use keyshard_core::KmsError;
use keyshard_crypto::SigningKey;
use keyshard_proto::v1;

use crate::Shard;
use crate::error::{from_crypto, from_store};

/// The service name SigV4 credential scopes must carry.
const SERVICE: &str = "kms";

impl Shard {
    /// What a gateway needs to check signatures by `access_key_id` made on `date` for
    /// `region`: the signing key, the principal and account, the session token digest and
    /// expiry of temporary credentials, and the account's quota settings. An unknown access
    /// key is `UnrecognizedClientException`, as AWS answers.
    pub(crate) async fn signing_key(
        &self,
        req: &v1::GetSigningKeyRequest,
    ) -> Result<v1::GetSigningKeyResponse, KmsError> {
        let key = self
            .store
            .access_key(&req.access_key_id)
            .await
            .map_err(from_store)?
            .ok_or(KmsError::UnrecognizedClient)?;
        let Some(root_key) = self.root_keys.get(&key.root_key_id) else {
            tracing::error!(
                access_key_id = %key.access_key_id,
                wrapped_under = %key.root_key_id,
                "secret access key is wrapped under a root key this shard does not hold"
            );
            return Err(KmsError::Internal(
                "The credentials are not available.".to_owned(),
            ));
        };
        let secret = root_key
            .unwrap_access_secret(&key.wrapped_secret, &key.access_key_id)
            .map_err(from_crypto)?;
        let signing_key =
            SigningKey::derive(secret.secret_bytes(), &req.date, &req.region, SERVICE);

        let quotas = self
            .store
            .account(&key.account)
            .await
            .map_err(from_store)?
            .map(|account| {
                account
                    .quotas
                    .into_iter()
                    .map(|q| (q.class, q.requests_per_second))
                    .collect()
            })
            .unwrap_or_default();
        Ok(v1::GetSigningKeyResponse {
            account_id: key.account.to_string(),
            principal: key.principal,
            signing_key: signing_key.expose().to_vec(),
            session_token_sha256: key.session_token_hash,
            expires_at_millis: key.expires_at,
            quotas,
        })
    }
}
