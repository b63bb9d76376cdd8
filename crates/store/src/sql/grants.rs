//! Grants in SQL, shared by both stores: reading and listing them, and the statements of
//! CreateGrant, RetireGrant and RevokeGrant, which run inside [`SqlCore::write`]'s transaction.
//!
//! CreateGrant locks the key's row, so that concurrent creations on one key count each other's
//! grants against the quota, and two requests with the same `Name` and parameters add one grant.

use keyshard_core::grants::{GrantConstraints, GrantId, GrantParameters, Principal};
use keyshard_core::id::{AccountId, KeyId};
use keyshard_core::spec::KeyState;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::write::{Abort, Write};
use super::{Driver, SqlCore};
use crate::{GrantCreation, GrantFilter, GrantRecord, StoreChange, StoreError};

/// A query of whole grant rows, as [`SqlCore::decode_grant`] reads them: `SELECT` and every
/// column, then `FROM grants` and the rest of the statement.
macro_rules! select_grants {
    ($rest:literal) => {
        concat!(
            "SELECT grant_id, key_id, name, created_at, grantee_principal, ",
            "grantee_service_principal, retiring_principal, retiring_service_principal, ",
            "operations, grant_constraints FROM grants ",
            $rest
        )
    };
}

/// How often CreateGrant looks again when the grant it repeats was retired between the
/// transaction that found it and the read that fetches it.
const CREATE_ATTEMPTS: u32 = 3;

/// A grant change, run by [`SqlCore::write`] like every other.
#[derive(Debug)]
pub(crate) enum GrantWrite<'a> {
    /// CreateGrant: the grant, if its key is still in `state` and below the quota.
    Create {
        grant: &'a GrantRecord,
        state: KeyState,
        max_per_key: u32,
    },

    /// RetireGrant and RevokeGrant.
    Delete {
        account: &'a AccountId,
        key_id: KeyId,
        grant_id: GrantId,
    },
}

/// The grant transactions, named in their logs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum GrantOp {
    CreateGrant,
    DeleteGrant,
}

impl GrantOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::CreateGrant => "create_grant",
            Self::DeleteGrant => "delete_grant",
        }
    }
}

impl GrantWrite<'_> {
    pub(crate) fn op(&self) -> GrantOp {
        match self {
            Self::Create { .. } => GrantOp::CreateGrant,
            Self::Delete { .. } => GrantOp::DeleteGrant,
        }
    }

    /// Grants are not cached yet, but are announced as changes of their key so that anything
    /// cached about a key's grants goes with the key's entry.
    pub(crate) fn change(&self) -> StoreChange {
        let (account, key_id) = match *self {
            Self::Create { grant, .. } => (&grant.account, grant.key_id),
            Self::Delete {
                account, key_id, ..
            } => (account, key_id),
        };
        StoreChange::Key {
            account: account.clone(),
            key_id,
        }
    }
}

/// A stored grant that a CreateGrant request may repeat.
enum Found {
    /// No grant has the request's id, or its name and parameters.
    Nothing,
    /// The request repeats this grant.
    Repeated(Box<GrantRecord>),
    /// Another grant has the request's id: ids are random, so this is a fault.
    IdCollision,
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
    /// Adds `grant` unless the request repeats a stored grant, which it then returns.
    pub(crate) async fn create_grant(
        &self,
        grant: &GrantRecord,
        state: KeyState,
        max_per_key: u32,
    ) -> Result<GrantCreation, StoreError> {
        let write = Write::Grant(GrantWrite::Create {
            grant,
            state,
            max_per_key,
        });
        for _ in 0..CREATE_ATTEMPTS {
            match self.write(&write).await {
                Ok(true) => return Ok(GrantCreation::Created),
                Ok(false) => return Ok(GrantCreation::Conflict),
                // The transaction found the grant this request repeats; fetch it.
                Err(StoreError::AlreadyExists) => {}
                Err(err) => return Err(err),
            }
            let mut conn = self.pool.acquire().await?;
            match self.find_repeated(&mut conn, grant).await? {
                Found::Repeated(existing) => return Ok(GrantCreation::Existing(existing)),
                Found::IdCollision => return Err(StoreError::AlreadyExists),
                Found::Nothing => {}
            }
        }
        Ok(GrantCreation::Conflict)
    }

    pub(crate) async fn grant(
        &self,
        account: &AccountId,
        grant_id: GrantId,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query(select_grants!("WHERE account = $1 AND grant_id = $2"))
                    .bind(account.as_str())
                    .bind(grant_id.to_string())
                    .fetch_optional(&self.pool),
            )
            .await?;
        row.map(|row| Self::decode_grant(account, &row)).transpose()
    }

    pub(crate) async fn list_grants(
        &self,
        account: &AccountId,
        key_id: KeyId,
        filter: &GrantFilter<'_>,
        after: Option<GrantId>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let sql = select_grants!(
            "WHERE account = $1 AND key_id = $2 AND ($3 IS NULL OR grant_id = $3) \
             AND ($4 IS NULL OR grantee_principal = $4) \
             AND ($5 IS NULL OR grantee_service_principal = $5) \
             AND ($6 IS NULL OR grant_id > $6) ORDER BY grant_id LIMIT $7"
        );
        let grantee = filter.grantee;
        let rows = self
            .feed
            .statement(
                sqlx::query(sql)
                    .bind(account.as_str())
                    .bind(key_id.to_string())
                    .bind(filter.grant_id.map(|id| id.to_string()))
                    .bind(grantee.and_then(Principal::aws))
                    .bind(grantee.and_then(Principal::service))
                    .bind(after.map(|id| id.to_string()))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.iter()
            .map(|row| Self::decode_grant(account, row))
            .collect()
    }

    pub(crate) async fn list_retirable_grants(
        &self,
        account: &AccountId,
        retiring: &Principal,
        after: Option<GrantId>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let (sql, name) = match retiring {
            Principal::Aws(arn) => (
                select_grants!(
                    "WHERE account = $1 AND retiring_principal = $2 \
                     AND ($3 IS NULL OR grant_id > $3) ORDER BY grant_id LIMIT $4"
                ),
                arn,
            ),
            Principal::Service(name) => (
                select_grants!(
                    "WHERE account = $1 AND retiring_service_principal = $2 \
                     AND ($3 IS NULL OR grant_id > $3) ORDER BY grant_id LIMIT $4"
                ),
                name,
            ),
        };
        let rows = self
            .feed
            .statement(
                sqlx::query(sql)
                    .bind(account.as_str())
                    .bind(name.as_str())
                    .bind(after.map(|id| id.to_string()))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool),
            )
            .await?;
        rows.iter()
            .map(|row| Self::decode_grant(account, row))
            .collect()
    }

    pub(super) async fn apply_grant(
        &self,
        conn: &mut DB::Connection,
        write: &GrantWrite<'_>,
    ) -> Result<bool, Abort> {
        match *write {
            GrantWrite::Create {
                grant,
                state,
                max_per_key,
            } => self.insert_grant(conn, grant, state, max_per_key).await,
            GrantWrite::Delete {
                account,
                key_id,
                grant_id,
            } => {
                let result = self.feed.statement(sqlx::query(
                    "DELETE FROM grants WHERE account = $1 AND key_id = $2 AND grant_id = $3",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .bind(grant_id.to_string())
                .execute(&mut *conn)
                ).await?;
                Ok(DB::rows_affected(&result) == 1)
            }
        }
    }

    /// Returns false, adding nothing, unless the key is in `state`. A request that repeats a
    /// stored grant (or collides with its id) is refused as [`StoreError::AlreadyExists`], for
    /// [`SqlCore::create_grant`] to fetch that grant once the transaction is over.
    async fn insert_grant(
        &self,
        conn: &mut DB::Connection,
        grant: &GrantRecord,
        state: KeyState,
        max_per_key: u32,
    ) -> Result<bool, Abort> {
        let (account, key_id) = (&grant.account, grant.key_id);
        if self.locked_key_state(conn, account, key_id).await? != Some(state) {
            return Ok(false);
        }
        match self
            .find_repeated(conn, grant)
            .await
            .map_err(Abort::Refused)?
        {
            Found::Nothing => {}
            Found::Repeated(_) | Found::IdCollision => {
                return Err(Abort::Refused(StoreError::AlreadyExists));
            }
        }

        let parameters = &grant.parameters;
        let (grantee, retiring) = (&parameters.grantee, parameters.retiring.as_ref());
        self.feed
            .statement(
                sqlx::query(
                    "INSERT INTO grants (account, grant_id, key_id, name, created_at, \
             grantee_principal, grantee_service_principal, retiring_principal, \
             retiring_service_principal, operations, grant_constraints) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(account.as_str())
                .bind(grant.grant_id.to_string())
                .bind(key_id.to_string())
                .bind(grant.name.as_deref())
                .bind(grant.created_at)
                .bind(grantee.aws())
                .bind(grantee.service())
                .bind(retiring.and_then(Principal::aws))
                .bind(retiring.and_then(Principal::service))
                .bind(parameters.operations_text())
                .bind(
                    parameters
                        .constraints
                        .as_ref()
                        .map(GrantConstraints::to_json),
                )
                .execute(&mut *conn),
            )
            .await?;

        let row = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT COUNT(*) AS count FROM grants WHERE account = $1 AND key_id = $2",
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

    /// The stored grant a CreateGrant request for `grant` repeats: one with its id (a retried
    /// request) or with its name and parameters.
    async fn find_repeated(
        &self,
        conn: &mut DB::Connection,
        grant: &GrantRecord,
    ) -> Result<Found, StoreError> {
        let account = &grant.account;
        let row = self
            .feed
            .statement(
                sqlx::query(select_grants!("WHERE account = $1 AND grant_id = $2"))
                    .bind(account.as_str())
                    .bind(grant.grant_id.to_string())
                    .fetch_optional(&mut *conn),
            )
            .await?;
        if let Some(row) = row {
            let stored = Self::decode_grant(account, &row)?;
            let same = stored.key_id == grant.key_id
                && stored.name == grant.name
                && stored.parameters == grant.parameters;
            return Ok(if same {
                Found::Repeated(Box::new(stored))
            } else {
                Found::IdCollision
            });
        }

        let Some(name) = grant.name.as_deref() else {
            return Ok(Found::Nothing);
        };
        let by_name =
            select_grants!("WHERE account = $1 AND key_id = $2 AND name = $3 ORDER BY grant_id");
        let rows = self
            .feed
            .statement(
                sqlx::query(by_name)
                    .bind(account.as_str())
                    .bind(grant.key_id.to_string())
                    .bind(name)
                    .fetch_all(&mut *conn),
            )
            .await?;
        for row in &rows {
            let stored = Self::decode_grant(account, row)?;
            if stored.is_repeated_by(grant) {
                return Ok(Found::Repeated(Box::new(stored)));
            }
        }
        Ok(Found::Nothing)
    }

    fn decode_grant(account: &AccountId, row: &DB::Row) -> Result<GrantRecord, StoreError> {
        let text = |column: &str| -> Result<Option<String>, StoreError> {
            Ok(row.try_get::<Option<&str>, _>(column)?.map(str::to_owned))
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("grant row with {what}"));
        let pair = |aws: Option<String>, service: Option<String>| match (aws, service) {
            (None, None) => Ok(None),
            (Some(aws), None) => Ok(Some(Principal::Aws(aws))),
            (None, Some(service)) => Ok(Some(Principal::Service(service))),
            (Some(_), Some(_)) => Err(corrupt("both kinds of principal")),
        };

        let grantee = pair(
            text("grantee_principal")?,
            text("grantee_service_principal")?,
        )?
        .ok_or_else(|| corrupt("no grantee"))?;
        let retiring = pair(
            text("retiring_principal")?,
            text("retiring_service_principal")?,
        )?;
        let operations = Self::decode_text(row, "operations", GrantParameters::parse_operations)?;
        let constraints = match text("grant_constraints")? {
            Some(json) => Some(
                GrantConstraints::from_json(&json)
                    .ok_or_else(|| corrupt("unreadable constraints"))?,
            ),
            None => None,
        };
        Ok(GrantRecord {
            account: account.clone(),
            key_id: Self::decode_text(row, "key_id", KeyId::parse)?,
            grant_id: Self::decode_text(row, "grant_id", GrantId::parse)?,
            name: text("name")?,
            created_at: row.try_get("created_at")?,
            parameters: GrantParameters {
                grantee,
                retiring,
                operations,
                constraints,
            },
        })
    }
}
