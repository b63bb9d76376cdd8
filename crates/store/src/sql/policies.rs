//! Key policies: reading one, and the statement of PutKeyPolicy and CreateKey's `Policy`, which
//! runs inside [`SqlCore::write`]'s transaction.

use keyshard_core::id::{AccountId, KeyId};
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::write::Abort;
use super::{Driver, SqlCore};
use crate::StoreError;

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
    pub(crate) async fn key_policy(
        &self,
        account: &AccountId,
        key_id: KeyId,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT policy FROM key_policies \
             WHERE account = $1 AND key_id = $2 AND policy_name = $3",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .bind(name)
                .fetch_optional(&self.pool),
            )
            .await?;

        let Some(row) = row else { return Ok(None) };
        Ok(Some(row.try_get::<&str, _>("policy")?.to_owned()))
    }

    /// Stores the policy as given, replacing the key's policy of that name. A key the account
    /// lacks fails the foreign key, which reads as not found.
    pub(super) async fn upsert_policy(
        &self,
        conn: &mut DB::Connection,
        account: &AccountId,
        key_id: KeyId,
        name: &str,
        policy: &str,
    ) -> Result<(), Abort> {
        self.feed
            .statement(
                sqlx::query(
                    "INSERT INTO key_policies (account, key_id, policy_name, policy) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account, key_id, policy_name) DO UPDATE SET policy = excluded.policy",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .bind(name)
                .bind(policy)
                .execute(&mut *conn),
            )
            .await?;
        Ok(())
    }
}
