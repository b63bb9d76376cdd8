//! Tags: TagResource, UntagResource, ListResourceTags, and the tags of CreateKey.

use keyshard_core::KmsError;
use keyshard_core::authz::Requester;
use keyshard_core::id::{KeyArn, KeyRefForms};
use keyshard_core::marker::{self, Listing};
use keyshard_core::operation::Operation;
use keyshard_core::spec::KeyState;
use keyshard_core::tags::{
    MAX_TAGS_PER_KEY, Tag, check_new_tags, check_tag_keys_to_remove, too_many_tags,
};
use keyshard_proto::v1;
use keyshard_store::StoreError;

use crate::Shard;
use crate::authz::Subject;
use crate::error::from_store;

/// How many times a tag change reads the key's state again after the key changed state between
/// the check and the write. Each retry follows a committed state change, so a few suffice.
const STATE_ATTEMPTS: u32 = 3;

/// What a tag change does to a key.
#[derive(Clone, Copy)]
enum TagChange<'a> {
    Add(&'a [Tag]),
    Remove(&'a [String]),
}

/// The tags of a CreateKey request, checked as TagResource checks them.
pub(crate) fn create_key_tags(tags: Vec<v1::Tag>) -> Result<Vec<Tag>, KmsError> {
    let tags: Vec<Tag> = tags.into_iter().map(Tag::from).collect();
    check_new_tags(&tags)?;
    Ok(tags)
}

impl Shard {
    pub(crate) async fn tag_resource(
        &self,
        scope: &Requester,
        req: v1::TagResourceRequest,
    ) -> Result<(), KmsError> {
        let tags: Vec<Tag> = req.tags.into_iter().map(Tag::from).collect();
        check_new_tags(&tags)?;
        self.change_tags(scope, &req.key_id, TagChange::Add(&tags))
            .await
    }

    pub(crate) async fn untag_resource(
        &self,
        scope: &Requester,
        req: v1::UntagResourceRequest,
    ) -> Result<(), KmsError> {
        check_tag_keys_to_remove(&req.tag_keys)?;
        self.change_tags(scope, &req.key_id, TagChange::Remove(&req.tag_keys))
            .await
    }

    pub(crate) async fn list_resource_tags(
        &self,
        scope: &Requester,
        req: v1::ListResourceTagsRequest,
    ) -> Result<v1::ListResourceTagsResponse, KmsError> {
        let key = self
            .managed_key(scope, &req.key_id, Operation::ListResourceTags)
            .await?;
        let after = match req.marker.as_deref() {
            Some(m) => Some(marker::decode(Listing::Tags, m)?),
            None => None,
        };

        let limit = req.limit.max(1);
        let tags = self
            .store
            .tags(
                &scope.account,
                key.record.key_id,
                after.as_deref(),
                limit.saturating_add(1),
            )
            .await
            .map_err(from_store)?;
        let page = marker::paginate(tags, limit, Listing::Tags, |tag| tag.key.clone());
        Ok(v1::ListResourceTagsResponse {
            tags: page.items.into_iter().map(v1::Tag::from).collect(),
            next_marker: page.next_marker,
            truncated: page.truncated,
        })
    }

    /// Applies a tag change to the caller's key if the key-state table allows it in the key's
    /// current state.
    async fn change_tags(
        &self,
        scope: &Requester,
        key_id: &str,
        change: TagChange<'_>,
    ) -> Result<(), KmsError> {
        let op = match change {
            TagChange::Add(_) => Operation::TagResource,
            TagChange::Remove(_) => Operation::UntagResource,
        };
        let resolved = self
            .authorized_key(scope, key_id, KeyRefForms::KeyOnly, op, Subject::Plain, &[])
            .await?;
        let (account, key_id) = (&scope.account, resolved.record.key_id);

        let store = &self.store;
        let read = || async move {
            let current = store.key(account, key_id).await.map_err(from_store)?;
            Ok(current.map(|record| record.state))
        };
        let write = |state| async move {
            let applied = match change {
                TagChange::Add(tags) => {
                    store
                        .tag_key(account, key_id, state, tags, MAX_TAGS_PER_KEY)
                        .await
                }
                TagChange::Remove(tag_keys) => {
                    store.untag_key(account, key_id, state, tag_keys).await
                }
            };
            match applied {
                Err(StoreError::LimitExceeded) => Err(too_many_tags()),
                other => other.map_err(from_store),
            }
        };
        apply_in_current_state(op, &resolved.arn, read, write).await?;
        tracing::info!(%key_id, operation = %op, "key tags changed");
        Ok(())
    }
}

/// Checks `op` against the key's current state, as `read` returns it from the store, and runs
/// `write` with that state. The store applies the write only if the key is still in it, so a
/// concurrent ScheduleKeyDeletion cannot slip in between the check and the write; when the
/// state has moved on, `write` returns false and the check runs again on the new state.
async fn apply_in_current_state<R, W>(
    op: Operation,
    arn: &KeyArn,
    mut read: impl FnMut() -> R,
    mut write: impl FnMut(KeyState) -> W,
) -> Result<(), KmsError>
where
    R: Future<Output = Result<Option<KeyState>, KmsError>>,
    W: Future<Output = Result<bool, KmsError>>,
{
    for _ in 0..STATE_ATTEMPTS {
        let state = read().await?.ok_or_else(|| KmsError::key_not_found(arn))?;
        op.check_key_state(state, &arn.to_string())?;
        if write(state).await? {
            return Ok(());
        }
    }
    Err(KmsError::Internal(
        "The key changed state repeatedly while the request ran.".to_owned(),
    ))
}

#[cfg(test)]
mod tests;
