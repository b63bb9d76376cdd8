//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::id::{AliasName, KeyRefForms};
use keyshard_core::marker::{self, Listing};
use keyshard_core::operation::Operation;
use keyshard_proto::v1;
use keyshard_store::{AliasRecord, StoreError};

use crate::authz::Subject;
use crate::error::from_store;
use crate::{Shard, now_millis};

/// Aliases one key may have (AWS KMS resource quota).
const MAX_ALIASES_PER_KEY: u32 = 50;

impl Shard {
    pub(crate) async fn create_alias(
        &self,
        scope: &Requester,
        req: v1::AliasRequest,
    ) -> Result<(), KmsError> {
        let name = AliasName::parse(&req.alias_name)?;
        name.check_not_reserved()?;
        let op = Operation::CreateAlias;
        let forms = KeyRefForms::KeyOnly;
        let target = self
            .authorized_key(scope, &req.target_key_id, forms, op, Subject::Plain, &[])
            .await?;
        target.check_state(op)?;

        let now = now_millis();
        let record = AliasRecord {
            account: scope.account.clone(),
            name,
            target_key_id: target.record.key_id,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_alias(&record, MAX_ALIASES_PER_KEY).await {
            Ok(()) => {
                tracing::info!(alias = %record.name, key_id = %record.target_key_id, "alias created");
                Ok(())
            }
            Err(StoreError::AlreadyExists) => Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                scope.alias_arn(&record.name)
            ))),
            Err(StoreError::LimitExceeded) => Err(KmsError::LimitExceeded(format!(
                "Key {} has reached the limit of {MAX_ALIASES_PER_KEY} aliases.",
                target.arn
            ))),
            Err(err) => Err(from_store(err)),
        }
    }

    pub(crate) async fn update_alias(
        &self,
        scope: &Requester,
        req: v1::AliasRequest,
    ) -> Result<(), KmsError> {
        let name = AliasName::parse(&req.alias_name)?;
        name.check_not_reserved()?;
        let op = Operation::UpdateAlias;
        let forms = KeyRefForms::KeyOnly;
        let target = self
            .authorized_key(scope, &req.target_key_id, forms, op, Subject::Plain, &[])
            .await?;
        // The caller must be allowed UpdateAlias on the old target too, if the alias exists.
        match self.resolve(scope, name.as_str(), KeyRefForms::All).await {
            Ok(old) => {
                self.authorize(scope, &old, op.action(), Subject::Plain, &[])
                    .await?;
            }
            Err(KmsError::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
        // A pending-deletion target is refused; the old target's state does not matter.
        target.check_state(op)?;

        let moved = self
            .store
            .update_alias(&scope.account, &name, target.record.key_id, now_millis())
            .await
            .map_err(from_store)?;
        self.cache.invalidate_alias(&scope.account, &name);
        if !moved {
            return Err(KmsError::alias_not_found(scope.alias_arn(&name)));
        }
        tracing::info!(alias = %name, key_id = %target.record.key_id, "alias moved");
        Ok(())
    }

    pub(crate) async fn delete_alias(
        &self,
        scope: &Requester,
        req: v1::DeleteAliasRequest,
    ) -> Result<(), KmsError> {
        let name = AliasName::parse(&req.alias_name)?;
        name.check_not_reserved()?;
        let target = self.resolve(scope, name.as_str(), KeyRefForms::All).await?;
        let action = Operation::DeleteAlias.action();
        self.authorize(scope, &target, action, Subject::Plain, &[])
            .await?;
        let deleted = self
            .store
            .delete_alias(&scope.account, &name)
            .await
            .map_err(from_store)?;
        self.cache.invalidate_alias(&scope.account, &name);
        if !deleted {
            return Err(KmsError::alias_not_found(scope.alias_arn(&name)));
        }
        tracing::info!(alias = %name, "alias deleted");
        Ok(())
    }

    pub(crate) async fn list_aliases(
        &self,
        scope: &Requester,
        req: v1::ListAliasesRequest,
    ) -> Result<v1::ListAliasesResponse, KmsError> {
        let target = match req.key_id.as_deref() {
            Some(key_id) => Some(
                self.resolve(scope, key_id, KeyRefForms::KeyOnly)
                    .await?
                    .record
                    .key_id,
            ),
            None => None,
        };
        let after = match req.marker.as_deref() {
            Some(m) => Some(marker::decode(Listing::Aliases, m)?),
            None => None,
        };
        let limit = req.limit.max(1);
        let aliases = self
            .store
            .list_aliases(
                &scope.account,
                target,
                after.as_deref(),
                limit.saturating_add(1),
            )
            .await
            .map_err(from_store)?;
        let page = marker::paginate(aliases, limit, Listing::Aliases, |a| a.name.to_string());
        Ok(v1::ListAliasesResponse {
            aliases: page
                .items
                .into_iter()
                .map(|a| v1::AliasListEntry {
                    alias_arn: scope.alias_arn(&a.name).to_string(),
                    alias_name: a.name.to_string(),
                    target_key_id: Some(a.target_key_id.to_string()),
                    creation_date_millis: a.created_at,
                    last_updated_date_millis: a.updated_at,
                })
                .collect(),
            next_marker: page.next_marker,
            truncated: page.truncated,
        })
    }
}
