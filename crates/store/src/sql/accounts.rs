//! Accounts, quotas and access keys in SQL, shared by both stores: the reads, and the
//! statements of the administrative writes, which run inside [`SqlCore::write`]'s transaction.
//! None of them is announced: gateways hold credentials for a bounded time instead.

use keyshard_core::id::{AccountId, KeyId};
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::write::Abort;
use super::{Driver, SqlCore};
use crate::{AccessKeyRecord, AccountQuota, AccountRecord, Millis, StoreError};

/// A query of whole access key rows, as [`SqlCore::decode_access_key`] reads them.
macro_rules! select_access_keys {
    ($rest:literal) => {
        concat!(
            "SELECT access_key_id, account, principal, root_key_id, wrapped_secret, ",
            "session_token_hash, expires_at, created_at FROM access_keys ",
            $rest
        )
    };
}

/// An account, quota or access key change, run by [`SqlCore::write`] like every other.
#[derive(Debug)]
pub(crate) enum AccountWrite<'a> {
    /// A new account; nothing if it exists.
    Create {
        account: &'a AccountId,
        now: Millis,
    },
    /// A quota override set, or removed with `None`.
    SetQuota {
        account: &'a AccountId,
        class: &'a str,
        requests_per_second: Option<u32>,
    },
    CreateAccessKey(&'a AccessKeyRecord),
    DeleteAccessKey {
        account: &'a AccountId,
        access_key_id: &'a str,
    },
    /// A new wrapping of a secret, if it is still wrapped under `old_root_key_id`.
    RewrapAccessKey {
        access_key_id: &'a str,
        old_root_key_id: &'a str,
        new_root_key_id: &'a str,
        wrapped_secret: &'a [u8],
    },
}

impl AccountWrite<'_> {
    pub(crate) fn op(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create_account",
            Self::SetQuota { .. } => "set_account_quota",
            Self::CreateAccessKey(_) => "create_access_key",
            Self::DeleteAccessKey { .. } => "delete_access_key",
            Self::RewrapAccessKey { .. } => "rewrap_access_key",
        }
    }
}

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
    for<'a> Vec<u8>: Decode<'a, DB> + Type<DB>,
{
    pub(crate) async fn account(
        &self,
        account: &AccountId,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query("SELECT created_at FROM accounts WHERE account = $1")
                    .bind(account.as_str())
                    .fetch_optional(&self.pool),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };

        let rows = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT quota_class, requests_per_second FROM account_quotas \
             WHERE account = $1 ORDER BY quota_class",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool),
            )
            .await?;
        let mut quotas = Vec::with_capacity(rows.len());
        for row in &rows {
            quotas.push(AccountQuota {
                class: row.try_get::<&str, _>("quota_class")?.to_owned(),
                requests_per_second: Self::decode_version(row, "requests_per_second")?,
            });
        }
        Ok(Some(AccountRecord {
            account: account.clone(),
            created_at: row.try_get("created_at")?,
            quotas,
        }))
    }

    pub(crate) async fn key_owner(&self, key_id: KeyId) -> Result<Option<AccountId>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query("SELECT account FROM keys WHERE key_id = $1")
                    .bind(key_id.to_string())
                    .fetch_optional(&self.pool),
            )
            .await?;
        row.map(|row| Self::decode_text(&row, "account", |text| text.parse().ok()))
            .transpose()
    }

    pub(crate) async fn account_ids(&self) -> Result<Vec<AccountId>, StoreError> {
        let rows = self
            .feed
            .statement(
                sqlx::query("SELECT account FROM accounts ORDER BY account").fetch_all(&self.pool),
            )
            .await?;
        rows.iter()
            .map(|row| Self::decode_text(row, "account", |text| text.parse().ok()))
            .collect()
    }

    pub(crate) async fn access_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<AccessKeyRecord>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query(select_access_keys!("WHERE access_key_id = $1"))
                    .bind(access_key_id)
                    .fetch_optional(&self.pool),
            )
            .await?;
        row.map(|row| Self::decode_access_key(&row)).transpose()
    }

    pub(crate) async fn access_keys(
        &self,
        account: &AccountId,
    ) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let rows = self
            .feed
            .statement(
                sqlx::query(select_access_keys!(
                    "WHERE account = $1 ORDER BY access_key_id"
                ))
                .bind(account.as_str())
                .fetch_all(&self.pool),
            )
            .await?;
        rows.iter().map(Self::decode_access_key).collect()
    }

    pub(crate) async fn access_keys_not_wrapped_under(
        &self,
        root_key_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let rows = self
            .feed
            .statement(
                sqlx::query(select_access_keys!(
                    "WHERE root_key_id <> $1 AND ($2 IS NULL OR access_key_id > $2) \
             ORDER BY access_key_id LIMIT $3"
                ))
                .bind(root_key_id)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool),
            )
            .await?;
        rows.iter().map(Self::decode_access_key).collect()
    }

    fn decode_access_key(row: &DB::Row) -> Result<AccessKeyRecord, StoreError> {
        Ok(AccessKeyRecord {
            access_key_id: row.try_get::<&str, _>("access_key_id")?.to_owned(),
            account: Self::decode_text(row, "account", |text| text.parse().ok())?,
            principal: row.try_get::<&str, _>("principal")?.to_owned(),
            root_key_id: row.try_get::<&str, _>("root_key_id")?.to_owned(),
            wrapped_secret: row.try_get("wrapped_secret")?,
            session_token_hash: row
                .try_get::<Option<&str>, _>("session_token_hash")?
                .map(str::to_owned),
            expires_at: row.try_get("expires_at")?,
            created_at: row.try_get("created_at")?,
        })
    }

    pub(super) async fn apply_account(
        &self,
        conn: &mut DB::Connection,
        write: &AccountWrite<'_>,
    ) -> Result<bool, Abort> {
        let statement =
            async {
                Ok::<_, sqlx::Error>(match *write {
                    AccountWrite::Create { account, now } => {
                        sqlx::query(
                            "INSERT INTO accounts (account, created_at) VALUES ($1, $2) \
                     ON CONFLICT (account) DO NOTHING",
                        )
                        .bind(account.as_str())
                        .bind(now)
                        .execute(&mut *conn)
                        .await?
                    }
                    AccountWrite::SetQuota {
                        account,
                        class,
                        requests_per_second: Some(rps),
                    } => sqlx::query(
                        "INSERT INTO account_quotas (account, quota_class, requests_per_second) \
                     VALUES ($1, $2, $3) ON CONFLICT (account, quota_class) \
                     DO UPDATE SET requests_per_second = excluded.requests_per_second",
                    )
                    .bind(account.as_str())
                    .bind(class)
                    .bind(i64::from(rps))
                    .execute(&mut *conn)
                    .await?,
                    AccountWrite::SetQuota {
                        account,
                        class,
                        requests_per_second: None,
                    } => {
                        sqlx::query(
                            "DELETE FROM account_quotas WHERE account = $1 AND quota_class = $2",
                        )
                        .bind(account.as_str())
                        .bind(class)
                        .execute(&mut *conn)
                        .await?
                    }
                    AccountWrite::CreateAccessKey(key) => sqlx::query(
                        "INSERT INTO access_keys (access_key_id, account, principal, root_key_id, \
                     wrapped_secret, session_token_hash, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(key.access_key_id.as_str())
                    .bind(key.account.as_str())
                    .bind(key.principal.as_str())
                    .bind(key.root_key_id.as_str())
                    .bind(key.wrapped_secret.as_slice())
                    .bind(key.session_token_hash.as_deref())
                    .bind(key.expires_at)
                    .bind(key.created_at)
                    .execute(&mut *conn)
                    .await?,
                    AccountWrite::DeleteAccessKey {
                        account,
                        access_key_id,
                    } => {
                        sqlx::query(
                            "DELETE FROM access_keys WHERE account = $1 AND access_key_id = $2",
                        )
                        .bind(account.as_str())
                        .bind(access_key_id)
                        .execute(&mut *conn)
                        .await?
                    }
                    AccountWrite::RewrapAccessKey {
                        access_key_id,
                        old_root_key_id,
                        new_root_key_id,
                        wrapped_secret,
                    } => {
                        sqlx::query(
                            "UPDATE access_keys SET root_key_id = $1, wrapped_secret = $2 \
                     WHERE access_key_id = $3 AND root_key_id = $4",
                        )
                        .bind(new_root_key_id)
                        .bind(wrapped_secret)
                        .bind(access_key_id)
                        .bind(old_root_key_id)
                        .execute(&mut *conn)
                        .await?
                    }
                })
            };
        let result = self.feed.statement(statement).await?;
        Ok(DB::rows_affected(&result) == 1)
    }
}
