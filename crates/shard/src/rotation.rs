//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand and ListKeyRotations (behaviour reference, section 4.5). The automatic
//! schedule runs in `rotation/automatic.rs`.
//!
//! A rotation adds a backing version and makes it current in one store transaction, which is
//! announced so that every shard drops its cached copy of the key; older versions stay, so
//! ciphertexts sealed under them still decrypt.

mod automatic;

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::id::{KeyId, KeyRefForms};
use keyshard_core::marker::{self, Listing};
use keyshard_core::operation::Operation;
use keyshard_core::rotation::{
    DEFAULT_ON_DEMAND_ROTATION_LIMIT, KeyMaterialState, MAX_ROTATION_PERIOD_DAYS,
    MIN_ROTATION_PERIOD_DAYS, RotationSchedule, automatic_rotation_due, check_rotatable,
    on_demand_limit_reached,
};
use keyshard_crypto::key_material_id;
use keyshard_proto::v1;
use keyshard_store::{RotationTrigger, StoreError};

use crate::authz::Subject;
use crate::error::from_store;
use crate::keys::ResolvedKey;
use crate::{Shard, now_millis};

pub use automatic::RotationPass;

/// How often RotateKeyOnDemand reads the key again when another change to it commits first.
const ON_DEMAND_ATTEMPTS: u32 = 3;

/// A shard's rotation settings.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RotationConfig {
    /// RotateKeyOnDemand calls each key allows.
    pub on_demand_limit: u32,
}

impl Default for RotationConfig {
    fn default() -> Self {
        Self {
            on_demand_limit: DEFAULT_ON_DEMAND_ROTATION_LIMIT,
        }
    }
}

impl Shard {
    /// This shard with other rotation settings.
    pub fn with_rotation(mut self, config: RotationConfig) -> Self {
        self.rotation = config;
        self
    }

    pub(crate) async fn enable_key_rotation(
        &self,
        scope: &Requester,
        req: v1::EnableKeyRotationRequest,
    ) -> Result<(), KmsError> {
        let period_days = req.rotation_period_in_days;
        if !(MIN_ROTATION_PERIOD_DAYS..=MAX_ROTATION_PERIOD_DAYS).contains(&period_days) {
            return Err(KmsError::Internal(
                "the gateway sent a rotation period out of range".to_owned(),
            ));
        }
        let key = self
            .current_rotation_key(scope, &req.key_id, Operation::EnableKeyRotation)
            .await?;

        let key_id = key.record.key_id;
        self.store
            .enable_key_rotation(&scope.account, key_id, period_days, now_millis())
            .await
            .map_err(from_store)?;
        tracing::info!(%key_id, period_days, "automatic key rotation enabled");
        Ok(())
    }

    pub(crate) async fn disable_key_rotation(
        &self,
        scope: &Requester,
        req: v1::KeyRequest,
    ) -> Result<(), KmsError> {
        let key = self
            .current_rotation_key(scope, &req.key_id, Operation::DisableKeyRotation)
            .await?;

        let key_id = key.record.key_id;
        let was_on = self
            .store
            .disable_key_rotation(&scope.account, key_id)
            .await
            .map_err(from_store)?;
        if was_on {
            tracing::info!(%key_id, "automatic key rotation disabled");
        }
        Ok(())
    }

    pub(crate) async fn key_rotation_status(
        &self,
        scope: &Requester,
        req: v1::KeyRequest,
    ) -> Result<v1::GetKeyRotationStatusResponse, KmsError> {
        let op = Operation::GetKeyRotationStatus;
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
        check_rotation(&key, op)?;

        let schedule = self
            .store
            .rotation_schedule(&key.record.account, key.record.key_id)
            .await
            .map_err(from_store)?;
        let reported = RotationSchedule::reported(schedule, key.record.state);
        Ok(v1::GetKeyRotationStatusResponse {
            key_id: key.arn.to_string(),
            key_rotation_enabled: reported.is_some(),
            rotation_period_in_days: reported.map(|s| s.period_days),
            next_rotation_date_millis: reported.map(|s| s.next_rotation_at),
        })
    }

    /// RotateKeyOnDemand, finished before it answers: there is never an on-demand rotation in
    /// progress for GetKeyRotationStatus to report.
    pub(crate) async fn rotate_key_on_demand(
        &self,
        scope: &Requester,
        req: v1::KeyRequest,
    ) -> Result<v1::RotateKeyOnDemandResponse, KmsError> {
        for _ in 0..ON_DEMAND_ATTEMPTS {
            let key = self
                .current_rotation_key(scope, &req.key_id, Operation::RotateKeyOnDemand)
                .await?;
            let now = now_millis();
            let schedule = self
                .store
                .rotation_schedule(&scope.account, key.record.key_id)
                .await
                .map_err(from_store)?;
            if schedule.is_some_and(|s| s.blocks_on_demand_rotation(now)) {
                return Err(automatic_rotation_due(&key.arn.to_string()));
            }

            let version = key.record.current_version.checked_add(1).ok_or_else(|| {
                KmsError::Internal("The key has no version numbers left.".to_owned())
            })?;
            let new = self.new_key_version(&key.arn, version, now)?;
            let trigger = RotationTrigger::OnDemand {
                limit: self.rotation.on_demand_limit,
            };
            let rotated = self
                .store
                .rotate_key(&scope.account, &new, key.record.state, trigger)
                .await;
            let key_id = key.record.key_id;
            match rotated {
                Ok(true) => {
                    self.cache.invalidate_key(&scope.account, key_id);
                    tracing::info!(%key_id, version, "key rotated on demand");
                    return Ok(v1::RotateKeyOnDemandResponse {
                        key_id: key.arn.to_string(),
                    });
                }
                // Another change to the key committed first: look at it again.
                Ok(false) => self.cache.invalidate_key(&scope.account, key_id),
                Err(StoreError::LimitExceeded) => {
                    return Err(on_demand_limit_reached(&key.arn.to_string()));
                }
                Err(err) => return Err(from_store(err)),
            }
        }
        Err(KmsError::Conflict(
            "The key changed while it was being rotated. Try again.".to_owned(),
        ))
    }

    pub(crate) async fn list_key_rotations(
        &self,
        scope: &Requester,
        req: v1::ListKeyRotationsRequest,
    ) -> Result<v1::ListKeyRotationsResponse, KmsError> {
        // Which version is current comes from the same moment as the versions listed.
        let key = self
            .current_rotation_key(scope, &req.key_id, Operation::ListKeyRotations)
            .await?;
        let key_id = key.record.key_id;
        let after = match req.marker.as_deref() {
            Some(m) => Some(decode_marker(
                key_id,
                &marker::decode(Listing::KeyRotations, m)?,
            )?),
            None => None,
        };

        let limit = req.limit.max(1);
        let versions = self
            .store
            .list_key_rotations(
                &scope.account,
                key_id,
                after,
                req.include_first_material,
                limit.saturating_add(1),
            )
            .await
            .map_err(from_store)?;
        let page = marker::paginate(versions, limit, Listing::KeyRotations, |r| {
            encode_marker(key_id, r.version)
        });

        let arn = key.arn.to_string();
        let current = key.record.current_version;
        Ok(v1::ListKeyRotationsResponse {
            rotations: page
                .items
                .into_iter()
                .map(|r| v1::KeyRotationEntry {
                    key_id: arn.clone(),
                    key_material_id: key_material_id(key_id, r.version),
                    key_material_state: if r.version == current {
                        KeyMaterialState::Current
                    } else {
                        KeyMaterialState::NonCurrent
                    }
                    .as_str()
                    .to_owned(),
                    rotation_date_millis: r.rotation_type.map(|_| r.created_at),
                    rotation_type: r.rotation_type.map(|t| t.as_str().to_owned()),
                })
                .collect(),
            next_marker: page.next_marker,
            truncated: page.truncated,
        })
    }

    /// The caller's key (by key id or key ARN) for `op`, read from the store rather than the
    /// cache since the answer depends on its current state and version, after the key-state
    /// table and the rotation rules.
    async fn current_rotation_key(
        &self,
        scope: &Requester,
        input: &str,
        op: Operation,
    ) -> Result<ResolvedKey, KmsError> {
        let resolved = self
            .authorized_key(scope, input, KeyRefForms::KeyOnly, op, Subject::Plain, &[])
            .await?;
        let ticket = self.cache.ticket();
        let record = self
            .store
            .key(&scope.account, resolved.record.key_id)
            .await
            .map_err(from_store)?
            .ok_or_else(|| KmsError::key_not_found(&resolved.arn))?;
        self.cache.put_record(ticket, &record);
        let key = ResolvedKey {
            record,
            arn: resolved.arn,
            via_alias: resolved.via_alias,
        };
        check_rotation(&key, op)?;
        Ok(key)
    }
}

/// The key-state table, then the rule that only symmetric keys with generated material rotate.
fn check_rotation(key: &ResolvedKey, op: Operation) -> Result<(), KmsError> {
    key.check_state(op)?;
    let record = &key.record;
    check_rotatable(op, record.key_spec, record.origin, &key.arn.to_string())
}

/// A ListKeyRotations position: the key, so that a marker cannot continue another key's
/// listing, and the last version returned.
fn encode_marker(key_id: KeyId, version: u32) -> String {
    format!("{key_id}/{version}")
}

fn decode_marker(key_id: KeyId, position: &str) -> Result<u32, KmsError> {
    let (marked, version) = position
        .split_once('/')
        .ok_or_else(marker::invalid_marker)?;
    if marked != key_id.to_string() {
        return Err(marker::invalid_marker());
    }
    version.parse().map_err(|_| marker::invalid_marker())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_position_decodes_only_for_its_own_key() {
        let (key, other) = (KeyId::from_bytes([1; 16]), KeyId::from_bytes([2; 16]));
        assert_eq!(decode_marker(key, &encode_marker(key, 7)), Ok(7));
        for position in [
            encode_marker(other, 7),
            format!("{key}/x"),
            format!("{key}"),
            String::new(),
        ] {
            assert_eq!(
                decode_marker(key, &position),
                Err(marker::invalid_marker()),
                "{position}"
            );
        }
    }
}
