//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant
//! (behaviour reference, section 5.3). What a grant allows is decided in the shard's
//! authorization, which reads every grant of a key.

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::grants::{
    GrantConstraints, GrantId, GrantOperation, GrantParameters, GrantToken, MAX_GRANTS_PER_KEY,
    Principal, grant_not_found, issuing_account, too_many_grants,
};
use keyshard_core::id::{KeyId, KeyRefForms, Scope};
use keyshard_core::marker::{self, Listing};
use keyshard_core::operation::Operation;
use keyshard_proto::v1;
use keyshard_store::{GrantCreation, GrantFilter, GrantRecord, StoreError};

use crate::authz::Subject;
use crate::error::from_store;
use crate::keys::ResolvedKey;
use crate::{Shard, now_millis};

/// How often CreateGrant reads the key again when its state changed between the check and the
/// write. Each retry follows a committed change, so a few suffice.
const CREATE_ATTEMPTS: u32 = 3;

/// A CreateGrant request as the shard accepts it: the grant id the gateway chose, and every
/// member already of the model's shape.
pub(crate) struct NewGrant {
    key_id: String,
    grant_id: GrantId,
    grantee_principal: Option<String>,
    grantee_service_principal: Option<String>,
    retiring_principal: Option<String>,
    retiring_service_principal: Option<String>,
    operations: Vec<GrantOperation>,
    constraints: Option<GrantConstraints>,
    name: Option<String>,
    dry_run: bool,
    grant_tokens: Vec<String>,
}

impl TryFrom<v1::CreateGrantRequest> for NewGrant {
    type Error = tonic::Status;

    /// Anything the gateway would not have sent is InvalidArgument.
    fn try_from(req: v1::CreateGrantRequest) -> Result<Self, tonic::Status> {
        let invalid = |what: &str| tonic::Status::invalid_argument(format!("malformed {what}"));
        let operations = req
            .operations
            .iter()
            .map(|op| GrantOperation::parse(op).ok_or_else(|| invalid("grant operation")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            key_id: req.key_id,
            grant_id: GrantId::parse(&req.grant_id).ok_or_else(|| invalid("grant id"))?,
            grantee_principal: req.grantee_principal,
            grantee_service_principal: req.grantee_service_principal,
            retiring_principal: req.retiring_principal,
            retiring_service_principal: req.retiring_service_principal,
            operations,
            constraints: req.constraints.map(GrantConstraints::from),
            name: req.name,
            dry_run: req.dry_run,
            grant_tokens: req.grant_tokens,
        })
    }
}

impl Shard {
    pub(crate) async fn create_grant(
        &self,
        scope: &Requester,
        new: NewGrant,
    ) -> Result<v1::CreateGrantResponse, KmsError> {
        let grantee = Principal::one_of(
            new.grantee_principal,
            new.grantee_service_principal,
            "Grantee",
        )?;
        let retiring = Principal::one_of(
            new.retiring_principal,
            new.retiring_service_principal,
            "Retiring",
        )?;
        let parameters = GrantParameters::new(grantee, retiring, new.operations, new.constraints)?;
        let key = self
            .resolve(scope, &new.key_id, KeyRefForms::KeyOnly)
            .await?;
        let action = Operation::CreateGrant.action();
        let subject = Subject::NewGrant(&parameters);
        self.authorize(scope, &key, action, subject, &new.grant_tokens)
            .await?;
        let (key_id, arn) = (key.record.key_id, key.arn.to_string());
        let grant = GrantRecord {
            account: scope.account.clone(),
            key_id,
            grant_id: new.grant_id,
            name: new.name,
            created_at: now_millis(),
            parameters,
        };

        // The key's current state decides, so it is read from the store, and the grant is
        // added only if the key is still in that state.
        for _ in 0..CREATE_ATTEMPTS {
            let current = self
                .store
                .key(&scope.account, key_id)
                .await
                .map_err(from_store)?
                .ok_or_else(|| KmsError::key_not_found(&arn))?;
            Operation::CreateGrant.check_key_state(current.state, &arn)?;
            grant
                .parameters
                .check_key(&arn, current.key_spec, current.key_usage)?;
            if new.dry_run {
                return Err(KmsError::DryRunOperation);
            }

            let created = self
                .store
                .create_grant(&grant, current.state, MAX_GRANTS_PER_KEY)
                .await;
            let grant_id = match created {
                Ok(GrantCreation::Created) => {
                    tracing::info!(%key_id, grant_id = %grant.grant_id, "grant created");
                    grant.grant_id
                }
                Ok(GrantCreation::Existing(existing)) => existing.grant_id,
                Ok(GrantCreation::Conflict) => continue,
                Err(StoreError::LimitExceeded) => return Err(too_many_grants(&arn)),
                Err(StoreError::AlreadyExists) => {
                    return Err(KmsError::Internal("grant id collision".to_owned()));
                }
                Err(err) => return Err(from_store(err)),
            };
            return Ok(v1::CreateGrantResponse {
                grant_id: grant_id.to_string(),
                grant_token: GrantToken { key_id, grant_id }.issue(),
            });
        }
        Err(KmsError::Internal(
            "The key changed repeatedly while the grant was being created; try again.".to_owned(),
        ))
    }

    pub(crate) async fn list_grants(
        &self,
        scope: &Requester,
        req: v1::ListGrantsRequest,
    ) -> Result<v1::ListGrantsResponse, KmsError> {
        let grantee = Principal::one_of(
            req.grantee_principal,
            req.grantee_service_principal,
            "Grantee",
        )?;
        let key = self
            .managed_key(scope, &req.key_id, Operation::ListGrants)
            .await?;
        let grant_id = req
            .grant_id
            .as_deref()
            .map(GrantId::parse_request)
            .transpose()?;
        let after = decode_marker(Listing::Grants, req.marker.as_deref())?;

        let limit = req.limit.max(1);
        let filter = GrantFilter {
            grant_id,
            grantee: grantee.as_ref(),
        };
        // The key may be another account's, which its policy lets the caller list.
        let owner = Scope {
            account: key.record.account.clone(),
            region: scope.region.clone(),
        };
        let grants = self
            .store
            .list_grants(
                &owner.account,
                key.record.key_id,
                &filter,
                after,
                limit.saturating_add(1),
            )
            .await
            .map_err(from_store)?;
        Ok(page(&owner, grants, limit, Listing::Grants))
    }

    pub(crate) async fn list_retirable_grants(
        &self,
        scope: &Scope,
        req: v1::ListRetirableGrantsRequest,
    ) -> Result<v1::ListGrantsResponse, KmsError> {
        let retiring = Principal::one_of(
            req.retiring_principal,
            req.retiring_service_principal,
            "Retiring",
        )?
        .ok_or_else(|| {
            KmsError::Validation(
                "Specify a RetiringPrincipal or a RetiringServicePrincipal.".to_owned(),
            )
        })?;
        let after = decode_marker(Listing::RetirableGrants, req.marker.as_deref())?;

        let limit = req.limit.max(1);
        let grants = self
            .store
            .list_retirable_grants(&scope.account, &retiring, after, limit.saturating_add(1))
            .await
            .map_err(from_store)?;
        Ok(page(scope, grants, limit, Listing::RetirableGrants))
    }

    /// RetireGrant, by grant token or by key and grant id: by the grant's retiring principal,
    /// its grantee when the grant allows RetireGrant, the issuing account, or whom the key
    /// policy allows.
    pub(crate) async fn retire_grant(
        &self,
        scope: &Requester,
        req: v1::RetireGrantRequest,
    ) -> Result<(), KmsError> {
        let (key_id, grant_id) = match (req.grant_token, req.key_id, req.grant_id) {
            (Some(token), _, _) => {
                let token = GrantToken::parse(&token)?;
                (token.key_id, token.grant_id)
            }
            (None, Some(key_id), Some(grant_id)) => {
                let key = self.resolve(scope, &key_id, KeyRefForms::KeyOnly).await?;
                (key.record.key_id, GrantId::parse_request(&grant_id)?)
            }
            _ => {
                return Err(KmsError::Validation(
                    "Specify a GrantToken, or a KeyId and a GrantId.".to_owned(),
                ));
            }
        };
        let (key, grant) = self.grant_key(scope, key_id, grant_id).await?;
        self.authorize_retirement(scope, &key, &grant).await?;
        self.remove_grant(scope, &key, grant_id, Operation::RetireGrant, req.dry_run)
            .await
    }

    pub(crate) async fn revoke_grant(
        &self,
        scope: &Requester,
        req: v1::RevokeGrantRequest,
    ) -> Result<(), KmsError> {
        let op = Operation::RevokeGrant;
        let key = self
            .authorized_key(
                scope,
                &req.key_id,
                KeyRefForms::KeyOnly,
                op,
                Subject::Plain,
                &[],
            )
            .await?;
        let grant_id = GrantId::parse_request(&req.grant_id)?;
        let (key, _) = self.grant_key(scope, key.record.key_id, grant_id).await?;
        self.remove_grant(scope, &key, grant_id, Operation::RevokeGrant, req.dry_run)
            .await
    }

    /// A grant the caller's account has on `key_id`, and its key; NotFoundException otherwise.
    async fn grant_key(
        &self,
        scope: &Scope,
        key_id: KeyId,
        grant_id: GrantId,
    ) -> Result<(ResolvedKey, GrantRecord), KmsError> {
        let grant = self
            .store
            .grant(&scope.account, grant_id)
            .await
            .map_err(from_store)?
            .filter(|grant| grant.key_id == key_id)
            .ok_or_else(|| grant_not_found(grant_id))?;
        let key = self
            .key_by_id(scope, key_id)
            .await?
            .ok_or_else(|| grant_not_found(grant_id))?;
        Ok((key, grant))
    }

    async fn remove_grant(
        &self,
        scope: &Scope,
        key: &ResolvedKey,
        grant_id: GrantId,
        op: Operation,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        key.check_state(op)?;
        if dry_run {
            return Err(KmsError::DryRunOperation);
        }
        let key_id = key.record.key_id;
        let deleted = self
            .store
            .delete_grant(&scope.account, key_id, grant_id)
            .await
            .map_err(from_store)?;
        if !deleted {
            return Err(grant_not_found(grant_id));
        }
        tracing::info!(%key_id, %grant_id, operation = %op, "grant removed");
        Ok(())
    }
}

/// The grant id a caller's `Marker` continues after.
fn decode_marker(listing: Listing, marker: Option<&str>) -> Result<Option<GrantId>, KmsError> {
    let Some(marker) = marker else {
        return Ok(None);
    };
    let last = marker::decode(listing, marker)?;
    GrantId::parse(&last)
        .map(Some)
        .ok_or_else(marker::invalid_marker)
}

/// One page of grants, `grants` fetched with one more than `limit`.
fn page(
    scope: &Scope,
    grants: Vec<GrantRecord>,
    limit: u32,
    listing: Listing,
) -> v1::ListGrantsResponse {
    let page = marker::paginate(grants, limit, listing, |grant| grant.grant_id.to_string());
    v1::ListGrantsResponse {
        grants: page
            .items
            .into_iter()
            .map(|grant| list_entry(scope, grant))
            .collect(),
        next_marker: page.next_marker,
        truncated: page.truncated,
    }
}

/// `GrantListEntry` (AWS KMS API Reference, ListGrants): the key as its ARN, the issuing
/// account as its root principal.
fn list_entry(scope: &Scope, grant: GrantRecord) -> v1::GrantListEntry {
    let parameters = grant.parameters;
    let retiring = parameters.retiring.as_ref();
    v1::GrantListEntry {
        key_id: scope.key_arn(grant.key_id).to_string(),
        grant_id: grant.grant_id.to_string(),
        name: grant.name,
        creation_date_millis: grant.created_at,
        grantee_principal: parameters.grantee.aws().map(str::to_owned),
        grantee_service_principal: parameters.grantee.service().map(str::to_owned),
        retiring_principal: retiring.and_then(Principal::aws).map(str::to_owned),
        retiring_service_principal: retiring.and_then(Principal::service).map(str::to_owned),
        issuing_account: issuing_account(&grant.account),
        operations: parameters
            .operations
            .iter()
            .map(|op| op.as_str().to_owned())
            .collect(),
        constraints: parameters.constraints.map(v1::GrantConstraints::from),
    }
}

#[cfg(test)]
mod tests;
