//! Automatic rotation: a task on every shard that, every interval, rotates the keys whose
//! next rotation date has passed (AWS KMS API Reference, EnableKeyRotation).
//!
//! Shards need not agree on who rotates what. Each rotation is a compare-and-set in the store
//! (`Store::rotate_key`), so when several shards find the same key due, one rotates it and the
//! others match nothing. Disabled keys and keys pending deletion are not due: rotation pauses
//! while a key is disabled, and a key whose date passed meanwhile rotates once it is enabled.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use keyshard_core::KmsError;
use keyshard_core::id::{Region, Scope};
use keyshard_core::operation::Operation;
use keyshard_core::rotation::check_rotatable;
use keyshard_core::spec::KeyState;
use keyshard_store::{DueRotation, Millis, RotationTrigger};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::error::from_store;
use crate::{Shard, now_millis};

/// Due keys read from the store at a time.
const DUE_BATCH: u32 = 100;

/// What one pass over the due keys did.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct RotationPass {
    /// Keys this shard rotated.
    pub rotated: u64,
    /// Due keys left alone: another shard rotated them first, or they changed meanwhile.
    pub skipped: u64,
}

/// Whether a periodic task goes on.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Tick {
    Continue,
    Stop,
}

impl Shard {
    /// Runs a pass of automatic rotation at once and then every `interval`, until the shard is
    /// dropped. `region` is the region of the key ARNs new versions are bound to: the region
    /// the gateways serve.
    pub fn spawn_automatic_rotation(
        self: &Arc<Self>,
        region: Region,
        interval: Duration,
    ) -> JoinHandle<()> {
        let shard = Arc::downgrade(self);
        tokio::spawn(run_every(interval, move || {
            let shard = shard.upgrade();
            let region = region.clone();
            async move {
                let Some(shard) = shard else {
                    return Tick::Stop;
                };
                // A failed pass was logged where the store failed; the next one tries again.
                if let Ok(pass) = shard.rotate_due_keys(&region, now_millis()).await
                    && pass != RotationPass::default()
                {
                    tracing::debug!(
                        rotated = pass.rotated,
                        skipped = pass.skipped,
                        "automatic rotation pass"
                    );
                }
                Tick::Continue
            }
        }))
    }

    /// Rotates every key whose automatic rotation is due at `now`, a batch at a time.
    pub async fn rotate_due_keys(
        &self,
        region: &Region,
        now: Millis,
    ) -> Result<RotationPass, KmsError> {
        let mut pass = RotationPass::default();
        loop {
            let due = self
                .store
                .due_key_rotations(now, DUE_BATCH)
                .await
                .map_err(from_store)?;
            let rotated_before = pass.rotated;
            for key in &due {
                if self.rotate_due_key(region, key, now).await? {
                    pass.rotated += 1;
                } else {
                    pass.skipped += 1;
                }
            }
            // Rotated keys are no longer due, so the next batch holds others; a batch of keys
            // that all stayed due ends the pass rather than reading them again.
            let full = due.len() == usize::try_from(DUE_BATCH).unwrap_or(usize::MAX);
            if !full || pass.rotated == rotated_before {
                return Ok(pass);
            }
        }
    }

    async fn rotate_due_key(
        &self,
        region: &Region,
        due: &DueRotation,
        now: Millis,
    ) -> Result<bool, KmsError> {
        let (account, key_id) = (&due.account, due.key_id);
        let Some(record) = self.store.key(account, key_id).await.map_err(from_store)? else {
            return Ok(false);
        };
        let scope = Scope {
            account: account.clone(),
            region: region.clone(),
        };
        let arn = scope.key_arn(key_id);
        let rotatable = check_rotatable(
            Operation::EnableKeyRotation,
            record.key_spec,
            record.origin,
            &arn.to_string(),
        );
        if record.state != KeyState::Enabled || rotatable.is_err() {
            return Ok(false);
        }

        let Some(version) = record.current_version.checked_add(1) else {
            tracing::error!(%key_id, "key has no version numbers left to rotate to");
            return Ok(false);
        };
        let new = self.new_key_version(&arn, version, now)?;
        let rotated = self
            .store
            .rotate_key(account, &new, KeyState::Enabled, RotationTrigger::Automatic)
            .await
            .map_err(from_store)?;
        if rotated {
            self.cache.invalidate_key(account, key_id);
            tracing::info!(%key_id, %account, version, "key rotated automatically");
        }
        Ok(rotated)
    }
}

/// Calls `step` at once and then once per `interval` until it says stop. A step that overruns
/// the interval delays the next one rather than causing a burst.
async fn run_every<F, Fut>(interval: Duration, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Tick>,
{
    // `interval` panics on a zero period; settings allow no less than a second anyway.
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if step().await == Tick::Stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
