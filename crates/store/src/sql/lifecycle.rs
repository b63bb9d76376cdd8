//! The key-lifecycle statements of the write transactions: description changes, and the
//! deletion of keys whose waiting period is over (AWS KMS API Reference, ScheduleKeyDeletion).

use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::spec::KeyState;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Type};

use super::write::Abort;
use super::{Driver, SqlCore};
use crate::{Millis, StoreChange};

// The bounds are those of `write.rs`, whose transactions call these.
impl<DB> SqlCore<DB>
where
    DB: Driver,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Decode<'a, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB>,
    for<'a> Option<String>: Encode<'a, DB>,
    for<'a> Option<i64>: Encode<'a, DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> Vec<u8>: Decode<'a, DB> + Type<DB>,
{
    /// Replaces the description of a key that is still in the `expected` state.
    pub(super) async fn update_key_description(
        &self,
        conn: &mut DB::Connection,
        account: &AccountId,
        key_id: KeyId,
        expected: KeyState,
        description: &str,
    ) -> Result<bool, Abort> {
        let result = self.feed.statement(sqlx::query(
            "UPDATE keys SET description = $1 WHERE account = $2 AND key_id = $3 AND state = $4",
        )
        .bind(description)
        .bind(account.as_str())
        .bind(key_id.to_string())
        .bind(expected.as_str())
        .execute(&mut *conn)
        ).await?;
        Ok(DB::rows_affected(&result) == 1)
    }

    /// Deletes up to `limit` keys of any account whose deletion date is at or before `now`, with
    /// their versions and aliases, and returns what that made stale: each key, then its aliases.
    ///
    /// Another process may be deleting the same keys, or cancelling their deletion, at the same
    /// time. Each key is therefore locked (where `BEGIN` has not locked everything already) and
    /// checked again before anything of it is deleted: a key another transaction deleted or
    /// took out of `PendingDeletion` while this one waited is left alone.
    pub(super) async fn delete_due_keys(
        &self,
        conn: &mut DB::Connection,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<StoreChange>, Abort> {
        let pending = KeyState::PendingDeletion.as_str();
        let due = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT account, key_id FROM keys WHERE deletion_date <= $1 AND state = $2 \
             ORDER BY deletion_date, account, key_id LIMIT $3",
                )
                .bind(now)
                .bind(pending)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn),
            )
            .await?;

        let mut changes = Vec::new();
        for row in &due {
            let account: AccountId = Self::decode_text(row, "account", |text| text.parse().ok())
                .map_err(Abort::Refused)?;
            let key_id = Self::decode_text(row, "key_id", KeyId::parse).map_err(Abort::Refused)?;
            let (account_text, key_text) = (account.as_str(), key_id.to_string());

            if let Some(lock) = DB::LOCK_KEY {
                self.feed
                    .statement(
                        sqlx::query(lock)
                            .bind(account_text)
                            .bind(key_text.as_str())
                            .execute(&mut *conn),
                    )
                    .await?;
            }
            let still_due = self.feed.statement(sqlx::query(
                "SELECT 1 FROM keys WHERE account = $1 AND key_id = $2 AND deletion_date <= $3 \
                 AND state = $4",
            )
            .bind(account_text)
            .bind(key_text.as_str())
            .bind(now)
            .bind(pending)
            .fetch_optional(&mut *conn)
            ).await?;
            if still_due.is_none() {
                continue;
            }

            let aliases = self.feed.statement(sqlx::query(
                "DELETE FROM aliases WHERE account = $1 AND target_key_id = $2 RETURNING name",
            )
            .bind(account_text)
            .bind(key_text.as_str())
            .fetch_all(&mut *conn)
            ).await?;
            for statement in [
                "DELETE FROM key_versions WHERE account = $1 AND key_id = $2",
                "DELETE FROM keys WHERE account = $1 AND key_id = $2",
            ] {
                self.feed
                    .statement(
                        sqlx::query(statement)
                            .bind(account_text)
                            .bind(key_text.as_str())
                            .execute(&mut *conn),
                    )
                    .await?;
            }

            changes.push(StoreChange::Key {
                account: account.clone(),
                key_id,
            });
            for alias in &aliases {
                let name = Self::decode_text(alias, "name", |name| AliasName::parse(name).ok())
                    .map_err(Abort::Refused)?;
                changes.push(StoreChange::Alias {
                    account: account.clone(),
                    name,
                });
            }
        }
        Ok(changes)
    }
}
