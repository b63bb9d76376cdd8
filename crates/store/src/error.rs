//! The store's error type and the one place that decides what a database error means.

use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A row with the same key (a key id, an alias name) is already stored.
    #[error("already exists")]
    AlreadyExists,

    /// A stored row holds a value the domain types reject, such as an unknown `key_spec`.
    #[error("stored row does not decode: {0}")]
    Corrupt(String),

    /// The database refused or failed a statement for a reason no caller can act on.
    #[error("database error")]
    Internal(#[source] sqlx::Error),

    /// The change would exceed a per-key quota, such as the number of aliases of one key.
    #[error("limit exceeded")]
    LimitExceeded,

    /// The change refers to a key the account does not have.
    #[error("referenced key does not exist")]
    NotFound,

    /// The database cannot be reached, stayed locked or has no room (a full disk): the same
    /// call may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),

    /// The database's schema lacks migrations this build needs: `keyshard migrate` has not run
    /// (or not yet) against it.
    #[error(
        "the database schema is at migration {applied}, this build needs {needed}: run `keyshard migrate`"
    )]
    SchemaBehind { applied: i64, needed: i64 },
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match classify(err) {
            Classified::Retryable(err) => Self::Unavailable(err),
            Classified::Final(err) => err,
        }
    }
}

/// What a failed statement means for the transaction that ran it.
#[derive(Debug)]
pub(crate) enum Classified {
    /// Another transaction got in the way: running the whole transaction again may succeed.
    Retryable(sqlx::Error),

    /// Running it again would fail the same way.
    Final(StoreError),
}

/// What a database's error code says, before the error is attached.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Verdict {
    AlreadyExists,
    NotFound,
    Retryable,
    Unavailable,
}

/// SQLite extended result code: a `UNIQUE` constraint failed.
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;

/// SQLite extended result code: a `PRIMARY KEY` constraint failed.
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;

/// SQLite extended result code: a `FOREIGN KEY` constraint failed.
const SQLITE_CONSTRAINT_FOREIGNKEY: i32 = 787;

/// SQLite primary result code: another connection holds the lock (after the busy timeout ran
/// out, or at once where waiting could deadlock).
const SQLITE_BUSY: i32 = 5;

/// SQLite primary result codes for a database that cannot be read or written at the moment:
/// `SQLITE_IOERR`, `SQLITE_FULL`, `SQLITE_CANTOPEN`.
const SQLITE_UNAVAILABLE: [i32; 3] = [10, 13, 14];

/// SQLite's extended result codes keep the primary code in their low byte.
const SQLITE_PRIMARY_CODE: i32 = 0xff;

/// SQLSTATE `unique_violation`.
const PG_UNIQUE_VIOLATION: &str = "23505";

/// SQLSTATE `foreign_key_violation`.
const PG_FOREIGN_KEY_VIOLATION: &str = "23503";

/// SQLSTATE `serialization_failure`: another transaction's commit conflicts with this one.
const PG_SERIALIZATION_FAILURE: &str = "40001";

/// SQLSTATE `deadlock_detected`: Postgres aborted this transaction to break a lock cycle.
const PG_DEADLOCK_DETECTED: &str = "40P01";

/// SQLSTATE `read_only_sql_transaction`: a standby, or a primary being failed over.
const PG_READ_ONLY_SQL_TRANSACTION: &str = "25006";

/// SQLSTATEs of a server going away or not yet taking connections: `admin_shutdown`,
/// `crash_shutdown`, `cannot_connect_now`.
const PG_SHUTTING_DOWN: [&str; 3] = ["57P01", "57P02", "57P03"];

/// SQLSTATE `undefined_table`: the schema lacks a table this build reads, because
/// `keyshard migrate` has not run against the database yet.
const PG_UNDEFINED_TABLE: &str = "42P01";

/// SQLSTATE class 08, connection exceptions.
const PG_CONNECTION_EXCEPTION_CLASS: &str = "08";

/// SQLSTATE class 53, insufficient resources: `disk_full`, `out_of_memory`,
/// `too_many_connections` and the like, which an operator fixes without the caller changing
/// anything.
const PG_INSUFFICIENT_RESOURCES_CLASS: &str = "53";

/// Sorts a database error into a store error, or marks it retryable. Unexpected errors keep the
/// database error as their source, for the caller to log once where it answers.
pub(crate) fn classify(err: sqlx::Error) -> Classified {
    let verdict = err.as_database_error().and_then(|db| {
        if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
            postgres_verdict(pg.code())
        } else if db.try_downcast_ref::<SqliteError>().is_some() {
            db.code()
                .and_then(|code| code.parse().ok())
                .and_then(sqlite_verdict)
        } else {
            None
        }
    });

    let final_error = match verdict {
        Some(Verdict::AlreadyExists) => StoreError::AlreadyExists,
        Some(Verdict::NotFound) => StoreError::NotFound,
        Some(Verdict::Retryable) => return Classified::Retryable(err),
        Some(Verdict::Unavailable) => StoreError::Unavailable(err),
        None => match err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(err.to_string())
            }
            _ => StoreError::Internal(err),
        },
    };
    Classified::Final(final_error)
}

fn sqlite_verdict(code: i32) -> Option<Verdict> {
    match code {
        SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => Some(Verdict::AlreadyExists),
        SQLITE_CONSTRAINT_FOREIGNKEY => Some(Verdict::NotFound),
        code if code & SQLITE_PRIMARY_CODE == SQLITE_BUSY => Some(Verdict::Retryable),
        code if SQLITE_UNAVAILABLE.contains(&(code & SQLITE_PRIMARY_CODE)) => {
            Some(Verdict::Unavailable)
        }
        _ => None,
    }
}

fn postgres_verdict(sqlstate: &str) -> Option<Verdict> {
    match sqlstate {
        PG_UNIQUE_VIOLATION => Some(Verdict::AlreadyExists),
        PG_FOREIGN_KEY_VIOLATION => Some(Verdict::NotFound),
        PG_SERIALIZATION_FAILURE | PG_DEADLOCK_DETECTED => Some(Verdict::Retryable),
        PG_READ_ONLY_SQL_TRANSACTION | PG_UNDEFINED_TABLE => Some(Verdict::Unavailable),
        code if PG_SHUTTING_DOWN.contains(&code) => Some(Verdict::Unavailable),
        code if code.starts_with(PG_CONNECTION_EXCEPTION_CLASS) => Some(Verdict::Unavailable),
        code if code.starts_with(PG_INSUFFICIENT_RESOURCES_CLASS) => Some(Verdict::Unavailable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_sort_into_their_verdicts() {
        let cases = [
            ("23505", Some(Verdict::AlreadyExists)),
            ("23503", Some(Verdict::NotFound)),
            ("40001", Some(Verdict::Retryable)),
            ("40P01", Some(Verdict::Retryable)),
            ("25006", Some(Verdict::Unavailable)),
            ("57P01", Some(Verdict::Unavailable)),
            ("57P02", Some(Verdict::Unavailable)),
            ("57P03", Some(Verdict::Unavailable)),
            ("08000", Some(Verdict::Unavailable)),
            ("08006", Some(Verdict::Unavailable)),
            ("08P01", Some(Verdict::Unavailable)),
            ("53100", Some(Verdict::Unavailable)),
            ("53200", Some(Verdict::Unavailable)),
            ("53300", Some(Verdict::Unavailable)),
            ("42P01", Some(Verdict::Unavailable)),
            // Other integrity violations, syntax errors, a cancelled query.
            ("23502", None),
            ("42601", None),
            ("57014", None),
        ];
        for (sqlstate, verdict) in cases {
            assert_eq!(postgres_verdict(sqlstate), verdict, "{sqlstate}");
        }
    }

    #[test]
    fn sqlite_codes_sort_into_their_verdicts() {
        let cases = [
            (2067, Some(Verdict::AlreadyExists)),
            (1555, Some(Verdict::AlreadyExists)),
            (787, Some(Verdict::NotFound)),
            (5, Some(Verdict::Retryable)),
            // SQLITE_BUSY_SNAPSHOT keeps the busy code in its low byte.
            (517, Some(Verdict::Retryable)),
            (10, Some(Verdict::Unavailable)),
            (13, Some(Verdict::Unavailable)),
            (14, Some(Verdict::Unavailable)),
            // A `NOT NULL` constraint, a syntax error.
            (1299, None),
            (1, None),
        ];
        for (code, verdict) in cases {
            assert_eq!(sqlite_verdict(code), verdict, "{code}");
        }
    }

    #[test]
    fn connection_failures_without_a_code_are_unavailable() {
        for err in [sqlx::Error::PoolClosed, sqlx::Error::PoolTimedOut] {
            let classified = classify(err);
            assert!(
                matches!(classified, Classified::Final(StoreError::Unavailable(_))),
                "got {classified:?}"
            );
        }
    }
}
