//! Every change either store makes, and the one transaction wrapper they all run through:
//! begin, apply, announce, commit; roll back on failure, and run a body again when another
//! transaction got in its way.

use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::spec::KeyState;
use keyshard_core::tags::Tag;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::accounts::AccountWrite;
use super::grants::{GrantOp, GrantWrite};
use super::rotation::{RotationOp, RotationWrite};
use super::{Driver, SqlCore};
use crate::error::{Classified, classify};
use crate::{AliasRecord, KeyRecord, KeyVersion, Millis, StoreChange, StoreError};

/// How many times a transaction is run before a conflict counts as the database being
/// unavailable.
const WRITE_ATTEMPTS: u32 = 3;

/// One change, as the store's callers asked for it. Applying it has no effect outside its
/// transaction, so [`SqlCore::write`] may apply it more than once.
#[derive(Debug)]
pub(crate) enum Write<'a> {
    /// CreateKey: the key's row, its first backing version and, if given, its key policy and
    /// tags.
    CreateKey {
        key: &'a KeyRecord,
        first_version: &'a KeyVersion,
        policy: Option<&'a str>,
        tags: &'a [Tag],
    },

    /// CreateAlias: the alias, if its target is below the per-key quota.
    CreateAlias {
        alias: &'a AliasRecord,
        max_per_key: u32,
    },

    /// UpdateAlias: a new target for an existing alias.
    UpdateAlias {
        account: &'a AccountId,
        name: &'a AliasName,
        target: KeyId,
        now: Millis,
    },

    DeleteAlias {
        account: &'a AccountId,
        name: &'a AliasName,
    },

    /// A new state and deletion date; with `expected`, only if the key is still in that state.
    SetKeyState {
        account: &'a AccountId,
        key_id: KeyId,
        expected: Option<KeyState>,
        state: KeyState,
        deletion_date: Option<Millis>,
    },

    /// A new wrapping for one backing version, if it is still wrapped under `old_root_key_id`.
    RewrapVersion {
        account: &'a AccountId,
        key_id: KeyId,
        version: u32,
        old_root_key_id: &'a str,
        new: &'a KeyVersion,
    },

    /// TagResource: tags added or given new values, if the key is still in `state`.
    TagKey {
        account: &'a AccountId,
        key_id: KeyId,
        state: KeyState,
        tags: &'a [Tag],
        max_per_key: u32,
    },

    /// UntagResource: tags removed, if the key is still in `state`.
    UntagKey {
        account: &'a AccountId,
        key_id: KeyId,
        state: KeyState,
        tag_keys: &'a [String],
    },

    /// PutKeyPolicy: a key policy stored or replaced.
    PutKeyPolicy {
        account: &'a AccountId,
        key_id: KeyId,
        name: &'a str,
        policy: &'a str,
    },
    /// Rotation: a schedule turned on or off, or a new current backing version.
    Rotation(RotationWrite<'a>),
    /// UpdateKeyDescription, if the key is still in the `expected` state.
    UpdateKeyDescription {
        account: &'a AccountId,
        key_id: KeyId,
        expected: KeyState,
        description: &'a str,
    },

    /// The end of the waiting period: keys due for deletion, with their versions and aliases.
    DeleteDueKeys { now: Millis, limit: u32 },

    /// Grants: one created, retired or revoked.
    Grant(GrantWrite<'a>),

    /// Accounts, their quotas and access keys.
    Account(AccountWrite<'a>),
}

impl Write<'_> {
    fn op(&self) -> WriteOp {
        match self {
            Self::CreateKey { .. } => WriteOp::CreateKey,
            Self::CreateAlias { .. } => WriteOp::CreateAlias,
            Self::UpdateAlias { .. } => WriteOp::UpdateAlias,
            Self::DeleteAlias { .. } => WriteOp::DeleteAlias,
            Self::SetKeyState { .. } => WriteOp::SetKeyState,
            Self::RewrapVersion { .. } => WriteOp::RewrapVersion,
            Self::TagKey { .. } => WriteOp::TagKey,
            Self::UntagKey { .. } => WriteOp::UntagKey,
            Self::PutKeyPolicy { .. } => WriteOp::PutKeyPolicy,
            Self::Rotation(rotation) => WriteOp::Rotation(rotation.op()),
            Self::UpdateKeyDescription { .. } => WriteOp::UpdateKeyDescription,
            Self::DeleteDueKeys { .. } => WriteOp::DeleteDueKeys,
            Self::Grant(grant) => WriteOp::Grant(grant.op()),
            Self::Account(account) => WriteOp::Account(account.op()),
        }
    }

    /// What the write makes stale once it commits. A new key was in nobody's cache; what a
    /// deletion makes stale depends on the rows it found (see [`Applied`]).
    fn change(&self) -> Option<StoreChange> {
        let alias = |account: &AccountId, name: &AliasName| StoreChange::Alias {
            account: account.clone(),
            name: name.clone(),
        };
        let key = |account: &AccountId, key_id| StoreChange::Key {
            account: account.clone(),
            key_id,
        };
        match *self {
            Self::CreateKey { .. } | Self::DeleteDueKeys { .. } | Self::Account(_) => None,
            Self::CreateAlias { alias: record, .. } => Some(alias(&record.account, &record.name)),
            Self::UpdateAlias { account, name, .. } | Self::DeleteAlias { account, name } => {
                Some(alias(account, name))
            }
            Self::SetKeyState {
                account, key_id, ..
            }
            | Self::RewrapVersion {
                account, key_id, ..
            }
            | Self::TagKey {
                account, key_id, ..
            }
            | Self::UntagKey {
                account, key_id, ..
            }
            | Self::PutKeyPolicy {
                account, key_id, ..
            }
            | Self::UpdateKeyDescription {
                account, key_id, ..
            } => Some(key(account, key_id)),
            Self::Rotation(ref rotation) => rotation.change(),
            Self::Grant(ref grant) => Some(grant.change()),
        }
    }
}

/// The write transactions, named in their logs.
#[derive(Clone, Copy, Debug)]
enum WriteOp {
    Account(&'static str),
    CreateAlias,
    CreateKey,
    DeleteAlias,
    PutKeyPolicy,
    DeleteDueKeys,
    Grant(GrantOp),
    RewrapVersion,
    Rotation(RotationOp),
    SetKeyState,
    TagKey,
    UntagKey,
    UpdateAlias,
    UpdateKeyDescription,
}

impl WriteOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Account(op) => op,
            Self::CreateAlias => "create_alias",
            Self::CreateKey => "create_key",
            Self::DeleteAlias => "delete_alias",
            Self::PutKeyPolicy => "put_key_policy",
            Self::DeleteDueKeys => "delete_due_keys",
            Self::Grant(op) => op.as_str(),
            Self::RewrapVersion => "rewrap_version",
            Self::Rotation(op) => op.as_str(),
            Self::SetKeyState => "set_key_state",
            Self::TagKey => "tag_key",
            Self::UntagKey => "untag_key",
            Self::UpdateAlias => "update_alias",
            Self::UpdateKeyDescription => "update_key_description",
        }
    }
}

/// What a committed write did: whether it changed a row, and what it made stale.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) changed: bool,
    pub(crate) changes: Vec<StoreChange>,
}

/// Why a transaction stopped before its commit.
#[derive(Debug)]
pub(super) enum Abort {
    /// A statement failed; [`classify`] decides whether the transaction runs again.
    Database(sqlx::Error),

    /// The write refused the change itself; that answer is final.
    Refused(StoreError),
}

impl From<sqlx::Error> for Abort {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err)
    }
}

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
    /// Runs `write` in one transaction and returns whether it changed a row (a create that
    /// succeeds always does).
    pub(crate) async fn write(&self, write: &Write<'_>) -> Result<bool, StoreError> {
        Ok(self.commit(write).await?.changed)
    }

    /// Runs `write` in one transaction and returns what it did. A conflict with another
    /// transaction runs it again, a bounded number of times.
    pub(crate) async fn commit(&self, write: &Write<'_>) -> Result<Applied, StoreError> {
        let operation = write.op().as_str();
        let mut attempt = 1;
        let applied = loop {
            let err = match self.write_once(write).await {
                Ok(applied) => break applied,
                Err(Abort::Refused(err)) => return Err(err),
                Err(Abort::Database(err)) => err,
            };

            match classify(err) {
                Classified::Retryable(err) if attempt < WRITE_ATTEMPTS => {
                    tracing::warn!(operation, attempt, error = %err, "transaction conflict, retrying");
                    attempt += 1;
                }
                Classified::Retryable(err) => return Err(StoreError::Unavailable(err)),
                Classified::Final(err) => return Err(err),
            }
        };

        // Where the database cannot announce (see `Driver::NOTIFY`), only this process can have
        // cached what changed, and it hears of the change now that it is committed.
        if DB::NOTIFY.is_none() {
            for change in &applied.changes {
                self.feed.publish(change.clone());
            }
        }
        Ok(applied)
    }

    async fn write_once(&self, write: &Write<'_>) -> Result<Applied, Abort> {
        let mut tx = self.feed.statement(self.pool.begin_with(DB::BEGIN)).await?;

        match self.apply(&mut tx, write).await {
            Ok(applied) => {
                self.feed.statement(tx.commit()).await?;
                Ok(applied)
            }
            Err(abort) => {
                let operation = write.op().as_str();
                if let Err(err) = self.feed.statement(tx.rollback()).await {
                    tracing::warn!(operation, error = %err, "rollback failed");
                }
                tracing::debug!(operation, "transaction rolled back");
                Err(abort)
            }
        }
    }

    async fn apply(&self, conn: &mut DB::Connection, write: &Write<'_>) -> Result<Applied, Abort> {
        // Changes found by the write itself, besides the one `Write::change` names.
        let mut found = Vec::new();
        let changed = match *write {
            Write::CreateKey {
                key,
                first_version,
                policy,
                tags,
            } => {
                self.insert_key(conn, key, first_version).await?;
                self.insert_policy_and_tags(conn, key, policy, tags).await?;
                true
            }
            Write::CreateAlias { alias, max_per_key } => {
                self.insert_alias(conn, alias, max_per_key).await?;
                true
            }
            Write::UpdateAlias {
                account,
                name,
                target,
                now,
            } => {
                let sql = "UPDATE aliases SET target_key_id = $1, updated_at = $2 \
                           WHERE account = $3 AND name = $4";
                let result = self
                    .feed
                    .statement(
                        sqlx::query(sql)
                            .bind(target.to_string())
                            .bind(now)
                            .bind(account.as_str())
                            .bind(name.as_str())
                            .execute(&mut *conn),
                    )
                    .await?;
                DB::rows_affected(&result) == 1
            }
            Write::DeleteAlias { account, name } => {
                let result = self
                    .feed
                    .statement(
                        sqlx::query("DELETE FROM aliases WHERE account = $1 AND name = $2")
                            .bind(account.as_str())
                            .bind(name.as_str())
                            .execute(&mut *conn),
                    )
                    .await?;
                DB::rows_affected(&result) == 1
            }
            Write::SetKeyState {
                account,
                key_id,
                expected,
                state,
                deletion_date,
            } => {
                let sql = "UPDATE keys SET state = $1, deletion_date = $2 \
                           WHERE account = $3 AND key_id = $4 AND ($5 IS NULL OR state = $5)";
                let result = self
                    .feed
                    .statement(
                        sqlx::query(sql)
                            .bind(state.as_str())
                            .bind(deletion_date)
                            .bind(account.as_str())
                            .bind(key_id.to_string())
                            .bind(expected.map(KeyState::as_str))
                            .execute(&mut *conn),
                    )
                    .await?;
                DB::rows_affected(&result) == 1
            }
            Write::RewrapVersion {
                account,
                key_id,
                version,
                old_root_key_id,
                new,
            } => {
                // Only the wrapping changes: the version keeps its identity and creation time.
                let sql = "UPDATE key_versions SET root_key_id = $1, wrapped_material = $2 \
                           WHERE account = $3 AND key_id = $4 AND version = $5 \
                           AND root_key_id = $6";
                let result = self
                    .feed
                    .statement(
                        sqlx::query(sql)
                            .bind(new.root_key_id.as_str())
                            .bind(new.wrapped_material.as_slice())
                            .bind(account.as_str())
                            .bind(key_id.to_string())
                            .bind(i64::from(version))
                            .bind(old_root_key_id)
                            .execute(&mut *conn),
                    )
                    .await?;
                DB::rows_affected(&result) == 1
            }
            Write::TagKey {
                account,
                key_id,
                state,
                tags,
                max_per_key,
            } => {
                self.tag_key(conn, account, key_id, state, tags, max_per_key)
                    .await?
            }
            Write::UntagKey {
                account,
                key_id,
                state,
                tag_keys,
            } => {
                self.untag_key(conn, account, key_id, state, tag_keys)
                    .await?
            }
            Write::PutKeyPolicy {
                account,
                key_id,
                name,
                policy,
            } => {
                self.upsert_policy(conn, account, key_id, name, policy)
                    .await?;
                true
            }
            Write::Rotation(ref rotation) => self.apply_rotation(conn, rotation).await?,
            Write::UpdateKeyDescription {
                account,
                key_id,
                expected,
                description,
            } => {
                self.update_key_description(conn, account, key_id, expected, description)
                    .await?
            }
            Write::DeleteDueKeys { now, limit } => {
                found = self.delete_due_keys(conn, now, limit).await?;
                !found.is_empty()
            }
            Write::Grant(ref grant) => self.apply_grant(conn, grant).await?,
            Write::Account(ref account) => self.apply_account(conn, account).await?,
        };

        let changes: Vec<StoreChange> = if changed {
            write.change().into_iter().chain(found).collect()
        } else {
            Vec::new()
        };
        if let Some(notify) = DB::NOTIFY {
            for change in &changes {
                self.feed
                    .statement(
                        sqlx::query(notify)
                            .bind(change.to_notice())
                            .execute(&mut *conn),
                    )
                    .await?;
            }
        }
        Ok(Applied { changed, changes })
    }

    async fn insert_key(
        &self,
        conn: &mut DB::Connection,
        key: &KeyRecord,
        first_version: &KeyVersion,
    ) -> Result<(), Abort> {
        self.feed
            .statement(
                sqlx::query(
                    "INSERT INTO keys (account, key_id, description, key_spec, key_usage, origin, \
             state, created_at, deletion_date, current_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(key.account.as_str())
                .bind(key.key_id.to_string())
                .bind(key.description.as_str())
                .bind(key.key_spec.as_str())
                .bind(key.key_usage.as_str())
                .bind(key.origin.as_str())
                .bind(key.state.as_str())
                .bind(key.created_at)
                .bind(key.deletion_date)
                .bind(i64::from(key.current_version))
                .execute(&mut *conn),
            )
            .await?;

        self.feed
            .statement(
                sqlx::query(
                    "INSERT INTO key_versions \
             (account, key_id, version, root_key_id, wrapped_material, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(key.account.as_str())
                .bind(first_version.key_id.to_string())
                .bind(i64::from(first_version.version))
                .bind(first_version.root_key_id.as_str())
                .bind(first_version.wrapped_material.as_slice())
                .bind(first_version.created_at)
                .execute(&mut *conn),
            )
            .await?;
        Ok(())
    }

    async fn insert_alias(
        &self,
        conn: &mut DB::Connection,
        alias: &AliasRecord,
        max_per_key: u32,
    ) -> Result<(), Abort> {
        // Concurrent creations for one key queue here, so each counts the others' aliases.
        if let Some(lock) = DB::LOCK_KEY {
            self.feed
                .statement(
                    sqlx::query(lock)
                        .bind(alias.account.as_str())
                        .bind(alias.target_key_id.to_string())
                        .execute(&mut *conn),
                )
                .await?;
        }

        // Inserting before counting lets a taken name answer `AlreadyExists` even when the
        // target is also full; the count then includes the new alias.
        self.feed
            .statement(
                sqlx::query(
                    "INSERT INTO aliases (account, name, target_key_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(alias.account.as_str())
                .bind(alias.name.as_str())
                .bind(alias.target_key_id.to_string())
                .bind(alias.created_at)
                .bind(alias.updated_at)
                .execute(&mut *conn),
            )
            .await?;

        let row = self.feed.statement(sqlx::query(
            "SELECT COUNT(*) AS count FROM aliases WHERE account = $1 AND target_key_id = $2",
        )
        .bind(alias.account.as_str())
        .bind(alias.target_key_id.to_string())
        .fetch_one(&mut *conn)
        ).await?;
        let count: i64 = row.try_get("count")?;
        if count > i64::from(max_per_key) {
            return Err(Abort::Refused(StoreError::LimitExceeded));
        }
        Ok(())
    }
}
