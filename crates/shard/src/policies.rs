//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and the policy of CreateKey.
//! Policies are stored as given; the shard's authorization evaluates them.

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::id::{KeyArn, Scope};
use keyshard_core::operation::Operation;
use keyshard_core::policy::{
    DEFAULT_POLICY_NAME, KeyPolicy, check_key_policy, check_put_policy_name, default_key_policy,
};
use keyshard_proto::v1;
use keyshard_store::StoreError;

use crate::Shard;
use crate::error::from_store;

/// The policy a CreateKey request gives, checked as PutKeyPolicy checks it, or the default key
/// policy for the caller's account.
pub(crate) fn create_key_policy(scope: &Scope, policy: Option<String>) -> Result<String, KmsError> {
    match policy {
        Some(policy) => {
            check_key_policy(&policy)?;
            Ok(policy)
        }
        None => Ok(default_key_policy(&scope.account)),
    }
}

impl Shard {
    pub(crate) async fn get_key_policy(
        &self,
        scope: &Requester,
        req: v1::KeyPolicyRequest,
    ) -> Result<v1::GetKeyPolicyResponse, KmsError> {
        let key = self
            .managed_key(scope, &req.key_id, Operation::GetKeyPolicy)
            .await?;
        check_policy_exists(&key.arn, &req.policy_name)?;

        // Keys created before policies were stored have the default one.
        let policy = self
            .store
            .key_policy(&scope.account, key.record.key_id, DEFAULT_POLICY_NAME)
            .await
            .map_err(from_store)?
            .unwrap_or_else(|| default_key_policy(&scope.account));
        Ok(v1::GetKeyPolicyResponse {
            policy,
            policy_name: req.policy_name,
        })
    }

    pub(crate) async fn put_key_policy(
        &self,
        scope: &Requester,
        req: v1::PutKeyPolicyRequest,
    ) -> Result<(), KmsError> {
        check_put_policy_name(&req.policy_name)?;
        let policy = KeyPolicy::parse(&req.policy)?;
        let key = self
            .managed_key(scope, &req.key_id, Operation::PutKeyPolicy)
            .await?;
        check_policy_exists(&key.arn, &req.policy_name)?;
        if !req.bypass_policy_lockout_safety_check {
            Self::check_lockout(scope, &key, &policy)?;
        }

        let key_id = key.record.key_id;
        let stored = self
            .store
            .put_key_policy(&scope.account, key_id, DEFAULT_POLICY_NAME, &req.policy)
            .await;
        match stored {
            Ok(()) => {
                tracing::info!(%key_id, "key policy replaced");
                Ok(())
            }
            Err(StoreError::NotFound) => Err(KmsError::key_not_found(&key.arn)),
            Err(err) => Err(from_store(err)),
        }
    }

    pub(crate) async fn list_key_policies(
        &self,
        scope: &Requester,
        req: v1::ListKeyPoliciesRequest,
    ) -> Result<v1::ListKeyPoliciesResponse, KmsError> {
        self.managed_key(scope, &req.key_id, Operation::ListKeyPolicies)
            .await?;
        Ok(v1::ListKeyPoliciesResponse {
            policy_names: vec![DEFAULT_POLICY_NAME.to_owned()],
        })
    }
}

/// Every key has the `default` policy and nothing else: Keyshard does not share keys through
/// AWS RAM, so no key has an `AWS_RAM` policy (AWS KMS API Reference, GetKeyPolicy: PolicyName).
fn check_policy_exists(arn: &KeyArn, name: &str) -> Result<(), KmsError> {
    if name == DEFAULT_POLICY_NAME {
        Ok(())
    } else {
        Err(KmsError::NotFound(format!(
            "Key '{arn}' has no key policy named {name}."
        )))
    }
}
