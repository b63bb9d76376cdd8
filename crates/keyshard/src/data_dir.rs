//! The development data directory: an exclusive lock, the root key and the SQLite database,
//! created owner-only on first start and checked for consistency on every later one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use keyshard_crypto::RootKey;

use crate::root_key::{self, RootKeyError};

const DATABASE_FILE: &str = "keyshard.db";
const ROOT_KEY_FILE: &str = "root-key";
const LOCK_FILE: &str = "keyshard.lock";

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataDirError {
    #[error("{path} is in use by another keyshard process")]
    InUse { path: String },

    #[error(
        "{database} exists, but the root key that wraps its keys, {root_key}, is missing: \
         restore it, or start with an empty data directory"
    )]
    MissingRootKey { database: String, root_key: String },

    #[error("cannot prepare {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    RootKey(#[from] RootKeyError),
}

/// A data directory this process holds exclusively for as long as the value lives.
pub(crate) struct DataDir {
    _lock: File,
    pub(crate) root_key: RootKey,
    pub(crate) database: PathBuf,
}

pub(crate) fn open(dir: &Path) -> Result<DataDir, DataDirError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| DataDirError::Io { path, source }
    };
    let lock_path = dir.join(LOCK_FILE);
    let root_key_path = dir.join(ROOT_KEY_FILE);
    let database = dir.join(DATABASE_FILE);

    root_key::create_private_dir(dir).map_err(io(dir))?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(DataDirError::InUse {
                path: dir.display().to_string(),
            });
        }
        Err(TryLockError::Error(err)) => return Err(io(&lock_path)(err)),
    }

    // A database without its root key is not a first start: generating a new key would leave
    // every stored key unusable, and new keys under it unusable once the old key is restored.
    if !root_key_path.exists() && database.exists() {
        return Err(DataDirError::MissingRootKey {
            database: database.display().to_string(),
            root_key: root_key_path.display().to_string(),
        });
    }
    if root_key::ensure_generated(&root_key_path)? {
        tracing::info!(path = %root_key_path.display(), "generated a development root key");
    }
    let root_key = root_key::load(&root_key_path)?;
    tracing::info!(root_key_id = %root_key.id(), path = %root_key_path.display(), "root key loaded");

    // SQLite gives its journal files the database file's permissions: create it owner-only.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&database)
    {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io(&database)(err)),
    }
    Ok(DataDir {
        _lock: lock,
        root_key,
        database,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_second_opener_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path()).unwrap();
        assert!(matches!(open(dir.path()), Err(DataDirError::InUse { .. })));
        drop(first);
        assert_eq!(
            open(dir.path())
                .map(|d| d.root_key.id().to_owned())
                .ok()
                .map(|id| id.len()),
            Some(16)
        );
    }

    #[test]
    fn a_database_without_its_root_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()).unwrap());
        fs::remove_file(dir.path().join(ROOT_KEY_FILE)).unwrap();
        assert!(matches!(
            open(dir.path()),
            Err(DataDirError::MissingRootKey { .. })
        ));
    }

    #[test]
    fn every_file_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        drop(open(&data).unwrap());
        let mode = |name: &str| fs::metadata(data.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            fs::metadata(&data).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for name in [DATABASE_FILE, ROOT_KEY_FILE, LOCK_FILE] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
    }
}
