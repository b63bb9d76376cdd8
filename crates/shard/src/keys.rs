//! Keys: resolving a caller's `KeyId`, CreateKey, DescribeKey, ListKeys, and loading a key's
//! backing material.

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::policy::KeyPolicy;
use std::sync::Arc;

use keyshard_core::id::{AccountId, AliasName, KeyArn, KeyId, KeyRef, KeyRefForms, Scope};
use keyshard_core::marker::{self, Listing};
use keyshard_core::operation::Operation;
use keyshard_core::spec::{EncryptionAlgorithm, KeySpec, KeyState, KeyUsage, Origin};
use keyshard_crypto::{BackingKey, WrapBinding, key_material_id};
use keyshard_proto::v1;
use keyshard_store::{KeyRecord, KeyVersion, Millis, StoreError};

use crate::error::{from_crypto, from_store};
use crate::lifecycle::KeyChange;
use crate::policies::create_key_policy;
use crate::tags::create_key_tags;
use crate::{Shard, now_millis};

/// A CreateKey request as the shard accepts it: the key id the gateway chose and the key's
/// properties, each already one of the model's values.
pub(crate) struct NewKey {
    pub(crate) key_id: KeyId,
    pub(crate) description: String,
    pub(crate) key_spec: KeySpec,
    pub(crate) key_usage: KeyUsage,
    pub(crate) origin: Origin,
    pub(crate) policy: Option<String>,
    pub(crate) bypass_policy_lockout_safety_check: bool,
    pub(crate) tags: Vec<v1::Tag>,
}

impl TryFrom<v1::CreateKeyRequest> for NewKey {
    type Error = tonic::Status;

    /// Anything the gateway would not have sent is InvalidArgument.
    fn try_from(req: v1::CreateKeyRequest) -> Result<Self, tonic::Status> {
        let invalid = |what: &str| tonic::Status::invalid_argument(format!("malformed {what}"));
        let description_fits = req.description.chars().count() <= 8192;
        Ok(Self {
            key_id: KeyId::parse(&req.key_id).ok_or_else(|| invalid("key id"))?,
            description: Some(req.description)
                .filter(|_| description_fits)
                .ok_or_else(|| invalid("description"))?,
            key_spec: KeySpec::parse(&req.key_spec).ok_or_else(|| invalid("key spec"))?,
            key_usage: KeyUsage::parse(&req.key_usage).ok_or_else(|| invalid("key usage"))?,
            origin: Origin::parse(&req.origin).ok_or_else(|| invalid("origin"))?,
            policy: req.policy,
            bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check,
            tags: req.tags,
        })
    }
}

/// A key looked up for a caller, with its ARN in the caller's scope.
pub(crate) struct ResolvedKey {
    pub(crate) record: KeyRecord,
    pub(crate) arn: KeyArn,
    /// The alias the request named the key by, if it did.
    pub(crate) via_alias: Option<AliasName>,
}

impl ResolvedKey {
    /// Applies the key-state table for `op`.
    pub(crate) fn check_state(&self, op: Operation) -> Result<(), KmsError> {
        op.check_key_state(self.record.state, &self.arn.to_string())
    }

    /// Symmetric encryption keys only (AWS KMS API Reference, GenerateDataKey: "must be a
    /// symmetric encryption KMS key").
    pub(crate) fn check_encrypt_decrypt(&self, op: Operation) -> Result<(), KmsError> {
        let record = &self.record;
        if record.key_usage == KeyUsage::EncryptDecrypt
            && record.key_spec == KeySpec::SymmetricDefault
        {
            Ok(())
        } else {
            Err(KmsError::InvalidKeyUsage(format!(
                "{} key usage is {} which is not valid for {op}.",
                self.arn, record.key_usage
            )))
        }
    }
}

impl Shard {
    /// Resolves a request's `KeyId` (id, key ARN, alias name or alias ARN, as `forms` allows)
    /// to a key of the caller's account.
    pub(crate) async fn resolve(
        &self,
        scope: &Scope,
        input: &str,
        forms: KeyRefForms,
    ) -> Result<ResolvedKey, KmsError> {
        let (key_id, via_alias) = match KeyRef::parse(input, scope, forms)? {
            KeyRef::Key(arn) if arn.account == scope.account => (arn.key_id, None),
            KeyRef::Key(arn) => return Err(KmsError::key_not_found(arn)),
            KeyRef::MultiRegion(arn) => return Err(KmsError::key_not_found(arn)),
            KeyRef::Alias(account, name) => {
                let target = if account == scope.account {
                    self.alias_target(&account, &name).await?
                } else {
                    None
                };
                let Some(target) = target else {
                    let alias_scope = Scope {
                        account,
                        region: scope.region.clone(),
                    };
                    return Err(KmsError::alias_not_found(alias_scope.alias_arn(&name)));
                };
                (target, Some(name))
            }
        };
        let mut key = self
            .key_by_id(scope, key_id)
            .await?
            .ok_or_else(|| KmsError::key_not_found(scope.key_arn(key_id)))?;
        key.via_alias = via_alias;
        Ok(key)
    }

    /// The key an alias points to, from the cache or the store.
    async fn alias_target(
        &self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<Option<KeyId>, KmsError> {
        if let Some(target) = self.cache.alias(account, name) {
            return Ok(Some(target));
        }
        let ticket = self.cache.ticket();
        let alias = self.store.alias(account, name).await.map_err(from_store)?;
        Ok(alias.map(|alias| {
            self.cache
                .put_alias(ticket, account, name, alias.target_key_id);
            alias.target_key_id
        }))
    }

    /// The caller's key with this id, if there is one.
    pub(crate) async fn key_by_id(
        &self,
        scope: &Scope,
        key_id: KeyId,
    ) -> Result<Option<ResolvedKey>, KmsError> {
        let record = match self.cache.record(&scope.account, key_id) {
            Some(record) => Some(record),
            None => {
                let ticket = self.cache.ticket();
                let record = self
                    .store
                    .key(&scope.account, key_id)
                    .await
                    .map_err(from_store)?;
                if let Some(record) = &record {
                    self.cache.put_record(ticket, record);
                }
                record
            }
        };
        Ok(record.map(|record| ResolvedKey {
            arn: scope.key_arn(record.key_id),
            record,
            via_alias: None,
        }))
    }

    /// One backing version of a key, unwrapped: from the cache, or loaded from the store and
    /// unwrapped with the root key it names. `None` when the version does not exist.
    pub(crate) async fn backing_key(
        &self,
        key: &ResolvedKey,
        version: u32,
    ) -> Result<Option<Arc<BackingKey>>, KmsError> {
        let (account, key_id) = (&key.record.account, key.record.key_id);
        if let Some(material) = self.cache.material(account, key_id, version) {
            return Ok(Some(material));
        }
        let ticket = self.cache.ticket();
        let stored = self
            .store
            .key_version(account, key_id, version)
            .await
            .map_err(from_store)?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let Some(root_key) = self.root_keys.get(&stored.root_key_id) else {
            tracing::error!(
                %key_id,
                wrapped_under = %stored.root_key_id,
                "key version is wrapped under a root key this shard does not hold"
            );
            return Err(KmsError::Internal(
                "The key material is not available.".to_owned(),
            ));
        };
        let arn = key.arn.to_string();
        let binding = WrapBinding {
            key_arn: &arn,
            version,
        };
        let material = root_key
            .unwrap(&stored.wrapped_material, binding)
            .map_err(from_crypto)?;
        self.cache
            .put_material(ticket, account, key_id, version, Arc::clone(&material));
        Ok(Some(material))
    }

    pub(crate) async fn create_key(
        &self,
        scope: &Requester,
        new: NewKey,
    ) -> Result<v1::KeyMetadata, KmsError> {
        let NewKey {
            key_id,
            description,
            key_spec,
            key_usage,
            origin,
            policy,
            bypass_policy_lockout_safety_check,
            tags,
        } = new;
        let lockout_check = policy.is_some() && !bypass_policy_lockout_safety_check;
        let policy = create_key_policy(scope, policy)?;
        let tags = create_key_tags(tags)?;

        let now = now_millis();
        let record = KeyRecord {
            account: scope.account.clone(),
            key_id,
            description,
            key_spec,
            key_usage,
            origin,
            state: KeyState::Enabled,
            created_at: now,
            deletion_date: None,
            current_version: 1,
        };

        let arn = scope.key_arn(key_id);
        if lockout_check {
            let key = ResolvedKey {
                record: record.clone(),
                arn: arn.clone(),
                via_alias: None,
            };
            Self::check_lockout(scope, &key, &KeyPolicy::parse(&policy)?)?;
        }
        let version = self.new_key_version(&arn, 1, now)?;

        let created = self
            .store
            .create_key_with_policy_and_tags(&record, &version, &policy, &tags)
            .await;
        match created {
            Ok(()) => {
                tracing::info!(%key_id, account = %scope.account, "key created");
                Ok(metadata(&ResolvedKey {
                    record,
                    arn,
                    via_alias: None,
                }))
            }
            // The gateway chose the id before routing; a retried call finds its own key.
            Err(StoreError::AlreadyExists) => match self.key_by_id(scope, key_id).await? {
                Some(existing) => Ok(metadata(&existing)),
                None => Err(KmsError::Internal("key id collision".to_owned())),
            },
            Err(err) => Err(from_store(err)),
        }
    }

    /// Fresh key material for `version` of the key `arn`, wrapped under the active root key
    /// and bound to that ARN and version (DESIGN.md, "Key hierarchy"). CreateKey makes the
    /// first version, rotation each later one.
    pub(crate) fn new_key_version(
        &self,
        arn: &KeyArn,
        version: u32,
        now: Millis,
    ) -> Result<KeyVersion, KmsError> {
        let backing = BackingKey::generate().map_err(from_crypto)?;
        let key_arn = arn.to_string();
        let active = self.root_keys.active();
        let wrapped = active
            .wrap(
                &backing,
                WrapBinding {
                    key_arn: &key_arn,
                    version,
                },
            )
            .map_err(from_crypto)?;
        Ok(KeyVersion {
            key_id: arn.key_id,
            version,
            root_key_id: active.id().to_owned(),
            wrapped_material: wrapped,
            created_at: now,
        })
    }

    pub(crate) async fn list_keys(
        &self,
        scope: &Scope,
        req: v1::ListKeysRequest,
    ) -> Result<v1::ListKeysResponse, KmsError> {
        let after = match req.marker.as_deref() {
            Some(m) => Some(
                KeyId::parse(&marker::decode(Listing::Keys, m)?)
                    .ok_or_else(marker::invalid_marker)?,
            ),
            None => None,
        };
        let limit = req.limit.max(1);
        let ids = self
            .store
            .list_keys(&scope.account, after, limit.saturating_add(1))
            .await
            .map_err(from_store)?;
        let page = marker::paginate(ids, limit, Listing::Keys, KeyId::to_string);
        Ok(v1::ListKeysResponse {
            keys: page
                .items
                .into_iter()
                .map(|id| v1::KeyListEntry {
                    key_id: id.to_string(),
                    key_arn: scope.key_arn(id).to_string(),
                })
                .collect(),
            next_marker: page.next_marker,
            truncated: page.truncated,
        })
    }
}

/// `KeyMetadata` as DescribeKey and CreateKey return it (behaviour reference, section 4.2).
pub(crate) fn metadata(key: &ResolvedKey) -> v1::KeyMetadata {
    let r = &key.record;
    let symmetric = r.key_spec == KeySpec::SymmetricDefault;
    v1::KeyMetadata {
        account_id: r.account.to_string(),
        key_id: r.key_id.to_string(),
        arn: key.arn.to_string(),
        creation_date_millis: r.created_at,
        enabled: r.state == KeyState::Enabled,
        description: r.description.clone(),
        key_usage: r.key_usage.as_str().to_owned(),
        key_state: r.state.as_str().to_owned(),
        deletion_date_millis: r
            .deletion_date
            .filter(|_| r.state == KeyState::PendingDeletion),
        origin: r.origin.as_str().to_owned(),
        key_manager: "CUSTOMER".to_owned(),
        key_spec: r.key_spec.as_str().to_owned(),
        encryption_algorithms: if r.key_usage == KeyUsage::EncryptDecrypt && symmetric {
            vec![EncryptionAlgorithm::SymmetricDefault.as_str().to_owned()]
        } else {
            Vec::new()
        },
        multi_region: false,
        current_key_material_id: if symmetric {
            key_material_id(r.key_id, r.current_version)
        } else {
            String::new()
        },
    }
}

impl Shard {
    /// EnableKey and DisableKey: idempotent state changes, committed and then announced so
    /// every shard drops its cached copy (AWS KMS API Reference, DisableKey).
    pub(crate) async fn set_enabled(
        &self,
        scope: &Requester,
        req: v1::KeyRequest,
        enabled: bool,
    ) -> Result<(), KmsError> {
        let (op, state) = if enabled {
            (Operation::EnableKey, KeyState::Enabled)
        } else {
            (Operation::DisableKey, KeyState::Disabled)
        };
        let key = self
            .change_key(scope, &req.key_id, op, |record| {
                (record.state != state).then_some(KeyChange::State {
                    state,
                    deletion_date: None,
                })
            })
            .await?;
        if key.record.state != state {
            tracing::info!(key_id = %key.record.key_id, %state, "key state changed");
        }
        Ok(())
    }
}
