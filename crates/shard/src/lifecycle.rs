//! Key lifecycle: ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription, the guarded
//! change they share with EnableKey and DisableKey, and the task that deletes keys whose waiting
//! period is over.

use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::id::KeyRefForms;
use keyshard_core::operation::Operation;
use keyshard_core::rotation::MILLIS_PER_DAY;
use keyshard_core::spec::KeyState;
use keyshard_proto::v1;
use keyshard_store::{KeyRecord, Millis};
use tokio::time::MissedTickBehavior;

use crate::authz::Subject;
use crate::error::from_store;
use crate::keys::ResolvedKey;
use crate::{Shard, now_millis};

/// The waiting periods AWS accepts (AWS KMS API Reference, ScheduleKeyDeletion). The gateway
/// answers anything else with a ValidationException; the shard's service refuses it too rather
/// than delete a key early.
pub(crate) const PENDING_WINDOW_DAYS: RangeInclusive<u32> = 7..=30;

/// Keys the deletion task deletes per transaction.
const DELETION_BATCH: u32 = 100;

/// How often a guarded change is tried on a key whose state keeps changing under it.
const CHANGE_ATTEMPTS: u32 = 5;

/// A change to a key's stored record, decided from its current state.
pub(crate) enum KeyChange {
    State {
        state: KeyState,
        deletion_date: Option<Millis>,
    },
    Description(String),
}

impl Shard {
    /// AWS KMS API Reference, ScheduleKeyDeletion. The window is one of `PENDING_WINDOW_DAYS`.
    pub(crate) async fn schedule_key_deletion(
        &self,
        scope: &Requester,
        req: v1::ScheduleKeyDeletionRequest,
    ) -> Result<v1::ScheduleKeyDeletionResponse, KmsError> {
        let days = req.pending_window_in_days;
        let deletion_date = now_millis().saturating_add(Millis::from(days) * MILLIS_PER_DAY);
        let key = self
            .change_key(scope, &req.key_id, Operation::ScheduleKeyDeletion, |_| {
                Some(KeyChange::State {
                    state: KeyState::PendingDeletion,
                    deletion_date: Some(deletion_date),
                })
            })
            .await?;

        tracing::info!(key_id = %key.record.key_id, deletion_date, "key scheduled for deletion");
        Ok(v1::ScheduleKeyDeletionResponse {
            key_id: key.arn.to_string(),
            deletion_date_millis: deletion_date,
            key_state: KeyState::PendingDeletion.as_str().to_owned(),
            pending_window_in_days: days,
        })
    }

    /// AWS KMS API Reference, CancelKeyDeletion: the key comes back disabled.
    pub(crate) async fn cancel_key_deletion(
        &self,
        scope: &Requester,
        req: v1::KeyRequest,
    ) -> Result<v1::CancelKeyDeletionResponse, KmsError> {
        let key = self
            .change_key(scope, &req.key_id, Operation::CancelKeyDeletion, |_| {
                Some(KeyChange::State {
                    state: KeyState::Disabled,
                    deletion_date: None,
                })
            })
            .await?;

        tracing::info!(key_id = %key.record.key_id, "key deletion cancelled");
        Ok(v1::CancelKeyDeletionResponse {
            key_id: key.arn.to_string(),
        })
    }

    pub(crate) async fn update_key_description(
        &self,
        scope: &Requester,
        req: v1::UpdateKeyDescriptionRequest,
    ) -> Result<(), KmsError> {
        let description = req.description;
        let key = self
            .change_key(scope, &req.key_id, Operation::UpdateKeyDescription, |_| {
                Some(KeyChange::Description(description.clone()))
            })
            .await?;

        tracing::info!(key_id = %key.record.key_id, "key description updated");
        Ok(())
    }

    /// Changes a key of the caller's (named by key id or key ARN) as `decide` says, if the
    /// key-state table allows `op` in the key's state; `decide` returns `None` when there is
    /// nothing to change (an idempotent call). The current state decides, so the key is read
    /// from the store rather than the cache, and the change is written only if the state is
    /// still the one read. When another change got in first, the key is read again and the
    /// table applied to its new state. Returns the key as it was before the change.
    pub(crate) async fn change_key(
        &self,
        scope: &Requester,
        key_id: &str,
        op: Operation,
        decide: impl Fn(&KeyRecord) -> Option<KeyChange>,
    ) -> Result<ResolvedKey, KmsError> {
        let key_id = self
            .authorized_key(scope, key_id, KeyRefForms::KeyOnly, op, Subject::Plain, &[])
            .await?
            .record
            .key_id;
        for _ in 0..CHANGE_ATTEMPTS {
            self.cache.invalidate_key(&scope.account, key_id);
            let key = self
                .key_by_id(scope, key_id)
                .await?
                .ok_or_else(|| KmsError::key_not_found(scope.key_arn(key_id)))?;
            key.check_state(op)?;
            let Some(change) = decide(&key.record) else {
                return Ok(key);
            };

            let (account, expected) = (&scope.account, key.record.state);
            let changed = match &change {
                KeyChange::State {
                    state,
                    deletion_date,
                } => {
                    self.store
                        .set_key_state_if(account, key_id, expected, *state, *deletion_date)
                        .await
                }
                KeyChange::Description(description) => {
                    self.store
                        .update_key_description(account, key_id, expected, description)
                        .await
                }
            }
            .map_err(from_store)?;
            self.cache.invalidate_key(account, key_id);
            if changed {
                return Ok(key);
            }
        }
        tracing::warn!(%key_id, %op, "key kept changing while a change to it was attempted");
        Err(KmsError::Internal(
            "The key changed repeatedly during the request; try again.".to_owned(),
        ))
    }

    /// Deletes every key, of any account, whose deletion date is at or before `now`, with its
    /// versions and aliases, a batch per transaction; returns how many it deleted. Other shards
    /// may be doing the same: the store deletes each key once.
    pub(crate) async fn delete_due_keys(&self, now: Millis) -> Result<usize, KmsError> {
        let mut total = 0;
        loop {
            let deleted = self
                .store
                .delete_due_keys(now, DELETION_BATCH)
                .await
                .map_err(from_store)?;
            for (account, key_id) in &deleted {
                self.cache.invalidate_key(account, *key_id);
                tracing::info!(%key_id, %account, "key deleted");
            }
            total += deleted.len();
            if deleted.len() < DELETION_BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Starts the task that deletes keys whose waiting period is over: once now, then every
    /// `interval`, for as long as the shard lives.
    pub fn spawn_key_deletion(self: &Arc<Self>, interval: Duration) {
        let shard = Arc::downgrade(self);
        tokio::spawn(every(interval, move || {
            let shard = shard.upgrade();
            async move {
                let Some(shard) = shard else { return false };
                // A failed sweep was logged where the store failed; the next one retries.
                if let Err(err) = shard.delete_due_keys(now_millis()).await {
                    tracing::debug!(error = %err, "key deletion sweep failed");
                }
                true
            }
        }));
    }
}

/// Runs `step` at once and then every `interval`, until it returns false. A step that overruns
/// its interval delays the next one rather than causing a burst.
async fn every<F, Fut>(interval: Duration, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !step().await {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
