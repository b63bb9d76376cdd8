//! Root-key rotation: re-wrapping every stored key version and secret access key under the
//! active root key, online and in batches, so that the previous root key can then be retired
//! (DESIGN.md, "Key hierarchy").

use keyshard_core::id::{AccountId, KeyArn, KeyId, Region};
use keyshard_crypto::{CryptoError, RootKeyRing, WrapBinding};
use keyshard_store::{KeyVersion, Store, StoreError};

/// Why re-wrapping stopped.
#[derive(Debug, thiserror::Error)]
pub enum RewrapError {
    #[error(
        "key version {key_id}#{version} is wrapped under root key `{root_key_id}`, which was not given"
    )]
    MissingRootKey {
        key_id: KeyId,
        version: u32,
        root_key_id: String,
    },

    #[error("key version {key_id}#{version} does not unwrap")]
    Crypto {
        key_id: KeyId,
        version: u32,
        #[source]
        source: CryptoError,
    },

    #[error(
        "the secret of access key {access_key_id} is wrapped under root key `{root_key_id}`, which was not given"
    )]
    MissingRootKeyForAccessKey {
        access_key_id: String,
        root_key_id: String,
    },

    #[error("the secret of access key {access_key_id} does not unwrap")]
    AccessKeyCrypto {
        access_key_id: String,
        #[source]
        source: CryptoError,
    },

    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// What a re-wrap run did.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct RewrapReport {
    /// Key versions and secret access keys now wrapped under the active root key by this run.
    pub rewrapped: u64,
    /// Those another run re-wrapped first.
    pub skipped: u64,
}

/// Re-wraps every key version, then every secret access key, not yet under `ring.active()`,
/// `batch_size` at a time, calling `progress` after each batch. Safe to run while shards serve and to run twice at once: each
/// version is replaced only if it is still wrapped under the root key it was read with.
pub async fn rewrap_all(
    store: &dyn Store,
    ring: &RootKeyRing,
    region: &Region,
    batch_size: u32,
    mut progress: impl FnMut(RewrapReport),
) -> Result<RewrapReport, RewrapError> {
    let active = ring.active();
    let mut report = RewrapReport::default();
    let mut after: Option<(AccountId, KeyId, u32)> = None;
    loop {
        let cursor = after.as_ref().map(|(a, k, v)| (a, *k, *v));
        let batch = store
            .versions_not_wrapped_under(active.id(), cursor, batch_size.max(1))
            .await?;
        let Some(last) = batch.last() else {
            return rewrap_access_keys(store, ring, batch_size, report, progress).await;
        };
        after = Some((
            last.account.clone(),
            last.version.key_id,
            last.version.version,
        ));

        for item in &batch {
            let stored = &item.version;
            let (key_id, version) = (stored.key_id, stored.version);
            let old = ring
                .get(&stored.root_key_id)
                .ok_or_else(|| RewrapError::MissingRootKey {
                    key_id,
                    version,
                    root_key_id: stored.root_key_id.clone(),
                })?;
            let arn = KeyArn {
                region: region.clone(),
                account: item.account.clone(),
                key_id,
            }
            .to_string();
            let binding = WrapBinding {
                key_arn: &arn,
                version,
            };
            let crypto = |source| RewrapError::Crypto {
                key_id,
                version,
                source,
            };
            let backing = old
                .unwrap(&stored.wrapped_material, binding)
                .map_err(crypto)?;
            let rewrapped = KeyVersion {
                root_key_id: active.id().to_owned(),
                wrapped_material: active.wrap(&backing, binding).map_err(crypto)?,
                ..stored.clone()
            };
            let replaced = store
                .rewrap_version(
                    &item.account,
                    key_id,
                    version,
                    &stored.root_key_id,
                    &rewrapped,
                )
                .await?;
            if replaced {
                report.rewrapped += 1;
            } else {
                report.skipped += 1;
            }
        }
        progress(report);
    }
}

/// The second half of [`rewrap_all`]: secret access keys, bound to their access key ids.
async fn rewrap_access_keys(
    store: &dyn Store,
    ring: &RootKeyRing,
    batch_size: u32,
    mut report: RewrapReport,
    mut progress: impl FnMut(RewrapReport),
) -> Result<RewrapReport, RewrapError> {
    let active = ring.active();
    let mut after: Option<String> = None;
    loop {
        let batch = store
            .access_keys_not_wrapped_under(active.id(), after.as_deref(), batch_size.max(1))
            .await?;
        let Some(last) = batch.last() else {
            return Ok(report);
        };
        after = Some(last.access_key_id.clone());

        for key in &batch {
            let id = &key.access_key_id;
            let old = ring.get(&key.root_key_id).ok_or_else(|| {
                RewrapError::MissingRootKeyForAccessKey {
                    access_key_id: id.clone(),
                    root_key_id: key.root_key_id.clone(),
                }
            })?;
            let crypto = |source| RewrapError::AccessKeyCrypto {
                access_key_id: id.clone(),
                source,
            };
            let secret = old
                .unwrap_access_secret(&key.wrapped_secret, id)
                .map_err(crypto)?;
            let wrapped = active.wrap_access_secret(&secret, id).map_err(crypto)?;
            let replaced = store
                .rewrap_access_key(id, &key.root_key_id, active.id(), &wrapped)
                .await?;
            if replaced {
                report.rewrapped += 1;
            } else {
                report.skipped += 1;
            }
        }
        progress(report);
    }
}
