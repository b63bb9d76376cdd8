//! Rotation in SQL, shared by both stores: schedules, new backing versions and the walk over
//! keys whose automatic rotation is due.
//!
//! A rotation is a compare-and-set on the key's current version, so when shards race to rotate
//! one key (on demand, or all finding it due at once) exactly one adds the version; on Postgres
//! the losers wait for the winner's row lock and then match no row.

use keyshard_core::id::{AccountId, KeyId};
use keyshard_core::rotation::{MILLIS_PER_DAY, RotationSchedule, RotationType};
use keyshard_core::spec::KeyState;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::write::Abort;
use super::{Driver, SqlCore};
use crate::{
    DueRotation, KeyRotation, KeyVersion, Millis, RotationTrigger, StoreChange, StoreError,
};

/// A rotation change, run by [`SqlCore::write`] like every other.
#[derive(Debug)]
pub(crate) enum RotationWrite<'a> {
    /// EnableKeyRotation.
    Enable {
        account: &'a AccountId,
        key_id: KeyId,
        period_days: u32,
        now: Millis,
    },

    /// DisableKeyRotation.
    Disable {
        account: &'a AccountId,
        key_id: KeyId,
    },

    /// A new current version, on demand or on schedule.
    Rotate {
        account: &'a AccountId,
        version: &'a KeyVersion,
        expected_state: KeyState,
        trigger: RotationTrigger,
    },
}

/// The rotation transactions, named in their logs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RotationOp {
    DisableKeyRotation,
    EnableKeyRotation,
    RotateKey,
}

impl RotationOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::DisableKeyRotation => "disable_key_rotation",
            Self::EnableKeyRotation => "enable_key_rotation",
            Self::RotateKey => "rotate_key",
        }
    }
}

impl RotationWrite<'_> {
    pub(crate) fn op(&self) -> RotationOp {
        match self {
            Self::Enable { .. } => RotationOp::EnableKeyRotation,
            Self::Disable { .. } => RotationOp::DisableKeyRotation,
            Self::Rotate { .. } => RotationOp::RotateKey,
        }
    }

    /// Only a new version makes cached copies stale: a cached key record names its current
    /// version, and schedules are never cached.
    pub(crate) fn change(&self) -> Option<StoreChange> {
        match *self {
            Self::Enable { .. } | Self::Disable { .. } => None,
            Self::Rotate {
                account, version, ..
            } => Some(StoreChange::Key {
                account: account.clone(),
                key_id: version.key_id,
            }),
        }
    }
}

// The reads ask what `sql.rs` asks of a driver.
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
    pub(crate) async fn rotation_schedule(
        &self,
        account: &AccountId,
        key_id: KeyId,
    ) -> Result<Option<RotationSchedule>, StoreError> {
        let row = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT period_days, next_rotation_at FROM rotation_schedules \
             WHERE account = $1 AND key_id = $2",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .fetch_optional(&self.pool),
            )
            .await?;

        let Some(row) = row else { return Ok(None) };
        Ok(Some(RotationSchedule {
            period_days: Self::decode_version(&row, "period_days")?,
            next_rotation_at: row.try_get("next_rotation_at")?,
        }))
    }

    pub(crate) async fn list_key_rotations(
        &self,
        account: &AccountId,
        key_id: KeyId,
        after: Option<u32>,
        include_first: bool,
        limit: u32,
    ) -> Result<Vec<KeyRotation>, StoreError> {
        let first = if include_first { 1 } else { 2 };
        let from = after.map_or(first, |after| i64::from(after) + 1).max(first);

        let rows = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT version, created_at, COALESCE(rotation_type, '') AS rotation_type \
             FROM key_versions \
             WHERE account = $1 AND key_id = $2 AND version >= $3 ORDER BY version LIMIT $4",
                )
                .bind(account.as_str())
                .bind(key_id.to_string())
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(&self.pool),
            )
            .await?;

        let mut rotations = Vec::with_capacity(rows.len());
        for row in &rows {
            // The first version has none; the query reads it as empty text.
            let rotation_type = match row.try_get::<&str, _>("rotation_type")? {
                "" => None,
                text => Some(RotationType::parse(text).ok_or_else(|| {
                    StoreError::Corrupt(format!("`rotation_type` holds `{text}`"))
                })?),
            };
            rotations.push(KeyRotation {
                version: Self::decode_version(row, "version")?,
                created_at: row.try_get("created_at")?,
                rotation_type,
            });
        }
        Ok(rotations)
    }

    /// Not scoped by account: the automatic rotation walk crosses them all.
    pub(crate) async fn due_key_rotations(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<DueRotation>, StoreError> {
        let rows = self
            .feed
            .statement(
                sqlx::query(
                    "SELECT s.account, s.key_id, s.next_rotation_at FROM rotation_schedules s \
             JOIN keys k ON k.account = s.account AND k.key_id = s.key_id \
             WHERE s.next_rotation_at <= $1 AND k.state = $2 \
             ORDER BY s.next_rotation_at, s.account, s.key_id LIMIT $3",
                )
                .bind(now)
                .bind(KeyState::Enabled.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool),
            )
            .await?;

        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            due.push(DueRotation {
                account: Self::decode_text(row, "account", |text| text.parse().ok())?,
                key_id: Self::decode_text(row, "key_id", KeyId::parse)?,
                next_rotation_at: row.try_get("next_rotation_at")?,
            });
        }
        Ok(due)
    }
}

// The writes ask what `write.rs` asks of a driver.
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
    pub(super) async fn apply_rotation(
        &self,
        conn: &mut DB::Connection,
        write: &RotationWrite<'_>,
    ) -> Result<bool, Abort> {
        match *write {
            RotationWrite::Enable {
                account,
                key_id,
                period_days,
                now,
            } => {
                // Both databases evaluate every SET expression against the row as it was, so
                // the next rotation moves by the change of period.
                let sql = "INSERT INTO rotation_schedules \
                           (account, key_id, period_days, next_rotation_at) \
                           VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (account, key_id) DO UPDATE SET \
                           period_days = excluded.period_days, \
                           next_rotation_at = rotation_schedules.next_rotation_at \
                           + (excluded.period_days - rotation_schedules.period_days) * $5";
                let schedule = RotationSchedule::starting(now, period_days);
                self.feed
                    .statement(
                        sqlx::query(sql)
                            .bind(account.as_str())
                            .bind(key_id.to_string())
                            .bind(i64::from(period_days))
                            .bind(schedule.next_rotation_at)
                            .bind(MILLIS_PER_DAY)
                            .execute(&mut *conn),
                    )
                    .await?;
                Ok(true)
            }
            RotationWrite::Disable { account, key_id } => {
                let result = self
                    .feed
                    .statement(
                        sqlx::query(
                            "DELETE FROM rotation_schedules WHERE account = $1 AND key_id = $2",
                        )
                        .bind(account.as_str())
                        .bind(key_id.to_string())
                        .execute(&mut *conn),
                    )
                    .await?;
                Ok(DB::rows_affected(&result) == 1)
            }
            RotationWrite::Rotate {
                account,
                version,
                expected_state,
                trigger,
            } => {
                self.rotate(conn, account, version, expected_state, trigger)
                    .await
            }
        }
    }

    async fn rotate(
        &self,
        conn: &mut DB::Connection,
        account: &AccountId,
        version: &KeyVersion,
        expected_state: KeyState,
        trigger: RotationTrigger,
    ) -> Result<bool, Abort> {
        let key_id = version.key_id.to_string();
        let previous = i64::from(version.version) - 1;

        // The compare-and-set comes first: it locks the key row, so the count below and the
        // insert see every rotation committed before this one.
        let compare_and_set = match trigger {
            RotationTrigger::OnDemand { .. } => {
                "UPDATE keys SET current_version = $1 WHERE account = $2 AND key_id = $3 \
                 AND current_version = $4 AND state = $5"
            }
            RotationTrigger::Automatic => {
                "UPDATE keys SET current_version = $1 WHERE account = $2 AND key_id = $3 \
                 AND current_version = $4 AND state = $5 \
                 AND EXISTS (SELECT 1 FROM rotation_schedules s \
                 WHERE s.account = keys.account AND s.key_id = keys.key_id \
                 AND s.next_rotation_at <= $6)"
            }
        };
        let mut query = sqlx::query(compare_and_set)
            .bind(i64::from(version.version))
            .bind(account.as_str())
            .bind(key_id.as_str())
            .bind(previous)
            .bind(expected_state.as_str());
        if trigger == RotationTrigger::Automatic {
            query = query.bind(version.created_at);
        }
        let result = self.feed.statement(query.execute(&mut *conn)).await?;
        if DB::rows_affected(&result) != 1 {
            return Ok(false);
        }

        match trigger {
            RotationTrigger::OnDemand { limit } => {
                let row = self
                    .feed
                    .statement(
                        sqlx::query(
                            "SELECT COUNT(*) AS count FROM key_versions \
                     WHERE account = $1 AND key_id = $2 AND rotation_type = $3",
                        )
                        .bind(account.as_str())
                        .bind(key_id.as_str())
                        .bind(RotationType::OnDemand.as_str())
                        .fetch_one(&mut *conn),
                    )
                    .await?;
                let count: i64 = row.try_get("count")?;
                if count >= i64::from(limit) {
                    return Err(Abort::Refused(StoreError::LimitExceeded));
                }
            }
            RotationTrigger::Automatic => {
                self.feed.statement(sqlx::query(
                    "UPDATE rotation_schedules SET next_rotation_at = $1 + period_days * $2 \
                     WHERE account = $3 AND key_id = $4",
                )
                .bind(version.created_at)
                .bind(MILLIS_PER_DAY)
                .bind(account.as_str())
                .bind(key_id.as_str())
                .execute(&mut *conn)
                ).await?;
            }
        }

        self.feed
            .statement(
                sqlx::query(
                    "INSERT INTO key_versions \
             (account, key_id, version, root_key_id, wrapped_material, created_at, rotation_type) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(account.as_str())
                .bind(key_id.as_str())
                .bind(i64::from(version.version))
                .bind(version.root_key_id.as_str())
                .bind(version.wrapped_material.as_slice())
                .bind(version.created_at)
                .bind(trigger.rotation_type().as_str())
                .execute(&mut *conn),
            )
            .await?;
        Ok(true)
    }
}
