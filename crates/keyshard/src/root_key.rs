//! Loading root keys from files (64 hex digits, a trailing newline allowed, or 32 raw bytes) or
//! from the environment, and generating the development root key.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use keyshard_crypto::{RootKey, RootKeyRing, SecretBytes};
use zeroize::Zeroizing;

use crate::config::RootKeyArgs;

/// Why a root key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RootKeyError {
    #[error("cannot read root key file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot create {path}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("root key file {path} must hold 64 hex digits or 32 raw bytes")]
    Format { path: String },

    #[error("cannot generate a root key")]
    Generate(#[source] keyshard_crypto::CryptoError),

    #[error("no root key: set --root-key-file or KEYSHARD_ROOT_KEY")]
    Missing,

    #[error("KEYSHARD_ROOT_KEY must hold 64 hex digits")]
    EnvFormat,
}

/// Variable holding the active root key as hex when no file is given.
const ROOT_KEY_ENV: &str = "KEYSHARD_ROOT_KEY";

/// The active root key and the previous ones, loaded as `args` says. Logs where each came from
/// and its id, never its value.
pub(crate) fn ring(args: &RootKeyArgs) -> Result<RootKeyRing, RootKeyError> {
    let active = match &args.root_key_file {
        Some(path) => {
            let key = load(path)?;
            tracing::info!(root_key_id = %key.id(), source = %path.display(), "active root key loaded");
            key
        }
        None => {
            let key = from_env()?;
            tracing::info!(root_key_id = %key.id(), source = ROOT_KEY_ENV, "active root key loaded");
            key
        }
    };
    let mut previous = Vec::with_capacity(args.previous_root_key_file.len());
    for path in &args.previous_root_key_file {
        let key = load(path)?;
        tracing::info!(root_key_id = %key.id(), source = %path.display(), "previous root key loaded");
        previous.push(key);
    }
    Ok(RootKeyRing::new(active, previous))
}

fn from_env() -> Result<RootKey, RootKeyError> {
    let value = Zeroizing::new(std::env::var(ROOT_KEY_ENV).map_err(|_| RootKeyError::Missing)?);
    let bytes = Zeroizing::new(hex::decode(value.trim()).map_err(|_| RootKeyError::EnvFormat)?);
    RootKey::new(SecretBytes::new(bytes.to_vec())).map_err(|_| RootKeyError::EnvFormat)
}

/// Reads a root key file.
pub(crate) fn load(path: &Path) -> Result<RootKey, RootKeyError> {
    let shown = path.display().to_string();
    let contents = Zeroizing::new(fs::read(path).map_err(|source| RootKeyError::Read {
        path: shown.clone(),
        source,
    })?);
    let trimmed = contents.trim_ascii();
    let bytes = if trimmed.len() == 64 {
        Zeroizing::new(hex::decode(trimmed).map_err(|_| RootKeyError::Format {
            path: shown.clone(),
        })?)
    } else if contents.len() == 32 {
        Zeroizing::new(contents.to_vec())
    } else {
        return Err(RootKeyError::Format { path: shown });
    };
    RootKey::new(SecretBytes::new(bytes.to_vec())).map_err(|_| RootKeyError::Format { path: shown })
}

/// Creates `dir`, and any missing parents, readable by the owner only.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes a fresh root key to `path` (owner read/write only) unless the file exists. Returns
/// whether a key was generated.
pub(crate) fn ensure_generated(path: &Path) -> Result<bool, RootKeyError> {
    let create_err = |source| RootKeyError::Create {
        path: path.display().to_string(),
        source,
    };
    let mut file = match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(err) => return Err(create_err(err)),
    };
    let key = SecretBytes::random(32).map_err(RootKeyError::Generate)?;
    let mut text = Zeroizing::new(hex::encode(key.secret_bytes()));
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(create_err)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_generated_key_is_owner_only_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let path = data.join("root-key");
        create_private_dir(&data).unwrap();
        assert!(ensure_generated(&path).unwrap());
        assert!(!ensure_generated(&path).unwrap());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&data).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let first = load(&path).unwrap();
        assert_eq!(load(&path).unwrap().id(), first.id());
    }

    #[test]
    fn raw_and_hex_keys_load_to_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        let hexed = dir.path().join("hex");
        fs::write(&raw, [7u8; 32]).unwrap();
        fs::write(&hexed, format!("{}\n", hex::encode([7u8; 32]))).unwrap();
        assert_eq!(load(&raw).unwrap().id(), load(&hexed).unwrap().id());
    }

    #[test]
    fn a_short_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        fs::write(&path, "abcd").unwrap();
        assert!(matches!(load(&path), Err(RootKeyError::Format { .. })));
    }
}
