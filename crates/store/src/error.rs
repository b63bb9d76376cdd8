//! The store's error type and the one place that decides what a database error means.

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

    /// The database cannot be reached or stayed locked: the same call may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
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
    /// Another connection held the database: running the whole transaction again may succeed.
    Retryable(sqlx::Error),

    /// Running it again would fail the same way.
    Final(StoreError),
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

/// Sorts a database error into a store error, or marks it retryable. Unexpected errors keep the
/// database error as their source, for the caller to log once where it answers.
pub(crate) fn classify(err: sqlx::Error) -> Classified {
    let code = err
        .as_database_error()
        .and_then(|db| db.code())
        .and_then(|code| code.parse::<i32>().ok());

    let final_error = match code {
        Some(SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY) => StoreError::AlreadyExists,
        Some(SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::NotFound,
        Some(code) if code & SQLITE_PRIMARY_CODE == SQLITE_BUSY => {
            return Classified::Retryable(err);
        }
        Some(code) if SQLITE_UNAVAILABLE.contains(&(code & SQLITE_PRIMARY_CODE)) => {
            StoreError::Unavailable(err)
        }
        _ => match err {
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
