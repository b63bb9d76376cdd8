//! Tags: reading a key's tags, and the statements of TagResource, UntagResource and CreateKey's
//! `Tags`, which run inside [`SqlCore::write`]'s transaction.

use std::collections::HashSet;

use keyshard_core::id::{AccountId, KeyId};
use keyshard_core::policy::DEFAULT_POLICY_NAME;
use keyshard_core::spec::KeyState;
use keyshard_core::tags::Tag;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::write::Abort;
use super::{Driver, SqlCore};
use crate::{KeyRecord, StoreError};

const UPSERT_TAG: &str = "INSERT INTO key_tags (account, key_id, tag_key, tag_value) \
                          VALUES ($1, $2, $3, $4) \
                          ON CONFLICT (account, key_id, tag_key) \
                          DO UPDATE SET tag_value = excluded.tag_value";

// The bounds of `SqlCore`'s writing impl block.
impl<DB> SqlCore<DB>
where
    DB: Driver,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Decode<'a, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB>,
    for<'a> Option<String>: Encode<'a, DB>,
    for<'a> Option<i64>: Encode<'a, DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    pub(crate) async fn tags(
        &self,
        account: &AccountId,
        key_id: KeyId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Tag>, StoreError> {
        let rows = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT tag_key, tag_value FROM key_tags WHERE account = $1 AND key_id = $2 \
             AND ($3 IS NULL OR tag_key > $3) ORDER BY tag_key LIMIT $4",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool),
            )
            .await?;

        let mut tags = Vec::with_capacity(rows.len());
        for row in &rows {
            tags.push(Tag {
                key: row.try_get::<&str, _>("tag_key")?.to_owned(),
                value: row.try_get::<&str, _>("tag_value")?.to_owned(),
            });
        }
        Ok(tags)
    }

    /// CreateKey's policy and tags, inserted after the key's row in the same transaction.
    pub(super) async fn insert_policy_and_tags(
        &self,
        conn: &mut DB::Connection,
        key: &KeyRecord,
        policy: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), Abort> {
        if let Some(policy) = policy {
            self.upsert_policy(conn, &key.account, key.key_id, DEFAULT_POLICY_NAME, policy)
                .await?;
        }
        for tag in tags {
            self.upsert_tag(conn, &key.account, key.key_id, tag).await?;
        }
        Ok(())
    }

    /// Returns false, changing nothing, unless the key is in `state`.
    pub(super) async fn tag_key(
        &self,
        conn: &mut DB::Connection,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        tags: &[Tag],
        max_per_key: u32,
    ) -> Result<bool, Abort> {
        if self.locked_key_state(conn, account, key_id).await? != Some(state) {
            return Ok(false);
        }
        for tag in tags {
            self.upsert_tag(conn, account, key_id, tag).await?;
        }

        let row = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT COUNT(*) AS count FROM key_tags WHERE account = $1 AND key_id = $2",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .fetch_one(&mut *conn),
            )
            .await?;
        let count: i64 = row.try_get("count")?;
        if count > i64::from(max_per_key) {
            return Err(Abort::Refused(StoreError::LimitExceeded));
        }
        Ok(true)
    }

    /// Returns false, changing nothing, unless the key is in `state`.
    pub(super) async fn untag_key(
        &self,
        conn: &mut DB::Connection,
        account: &AccountId,
        key_id: KeyId,
        state: KeyState,
        tag_keys: &[String],
    ) -> Result<bool, Abort> {
        if self.locked_key_state(conn, account, key_id).await? != Some(state) {
            return Ok(false);
        }

        // A request may name any number of tag keys, a key has at most a quota's worth: delete
        // only those it has.
        let rows = self
            .feed
            .statement(
                sqlx::query("SELECT tag_key FROM key_tags WHERE account = $1 AND key_id = $2")
                    .bind(account.as_str())
                    .bind(key_id.to_string())
                    .fetch_all(&mut *conn),
            )
            .await?;
        let removed: HashSet<&str> = tag_keys.iter().map(String::as_str).collect();
        for row in &rows {
            let tag_key: &str = row.try_get("tag_key")?;
            if !removed.contains(tag_key) {
                continue;
            }
            self.feed
                .statement(
                    sqlx::query(
                        "DELETE FROM key_tags WHERE account = $1 AND key_id = $2 AND tag_key = $3",
                    )
                    .bind(account.as_str())
                    .bind(key_id.to_string())
                    .bind(tag_key)
                    .execute(&mut *conn),
                )
                .await?;
        }
        Ok(true)
    }

    async fn upsert_tag(
        &self,
        conn: &mut DB::Connection,
        account: &AccountId,
        key_id: KeyId,
        tag: &Tag,
    ) -> Result<(), Abort> {
        self.feed
            .statement(
                sqlx::query(UPSERT_TAG)
                    .bind(account.as_str())
                    .bind(key_id.to_string())
                    .bind(tag.key.as_str())
                    .bind(tag.value.as_str())
                    .execute(&mut *conn),
            )
            .await?;
        Ok(())
    }

    /// The key's state, with its row locked until the transaction ends so that the state and
    /// the tag count cannot change under the caller; `None` if there is no such key.
    pub(super) async fn locked_key_state(
        &self,
        conn: &mut DB::Connection,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<KeyState>, Abort> {
        if let Some(lock) = DB::LOCK_KEY {
            self.feed
                .statement(
                    sqlx::query(lock)
                        .bind(account.as_str())
                        .bind(key_id.to_string())
                        .execute(&mut *conn),
                )
                .await?;
        }

        let row = self
            .feed
            .statement(
                sqlx::query("SELECT state FROM keys WHERE account = $1 AND key_id = $2")
                    .bind(account.as_str())
                    .bind(key_id.to_string())
                    .fetch_optional(&mut *conn),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state: &str = row.try_get("state")?;
        match KeyState::parse(state) {
            Some(state) => Ok(Some(state)),
            None => Err(Abort::Refused(StoreError::Corrupt(format!(
                "`state` holds `{state}`"
            )))),
        }
    }
}
