//! Access keys as AWS issues them: ids, secret access keys and session tokens from the system
//! RNG, and the session token digest that is all Keyshard keeps of a token.

use aws_lc_rs::constant_time;

use crate::error::CryptoError;
use crate::secret::SecretBytes;
use crate::sigv4::sha256;

/// The alphabet of access key ids after their prefix: base32, as in `AKIAIOSFODNN7EXAMPLE`.
const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The alphabet of secret access keys: 40 characters, as in
/// `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A new access key id: `AKIA` (long-term) or `ASIA` (temporary) and 16 base32 characters.
pub fn new_access_key_id(temporary: bool) -> Result<String, CryptoError> {
    let mut random = [0u8; 16];
    aws_lc_rs::rand::fill(&mut random)?;
    let mut id = String::from(if temporary { "ASIA" } else { "AKIA" });
    id.extend(
        random
            .iter()
            .map(|b| char::from(ID_ALPHABET[usize::from(b & 31)])),
    );
    Ok(id)
}

/// A new secret access key of 40 characters, held as secret bytes.
pub fn new_secret_access_key() -> Result<SecretBytes, CryptoError> {
    random_text(40)
}

/// A new session token: 256 characters of the secret key alphabet.
pub fn new_session_token() -> Result<SecretBytes, CryptoError> {
    random_text(256)
}

fn random_text(len: usize) -> Result<SecretBytes, CryptoError> {
    let mut text = SecretBytes::random(len)?;
    for b in text.bytes_mut().iter_mut() {
        *b = SECRET_ALPHABET[usize::from(*b & 63)];
    }
    Ok(text)
}

/// The lowercase hex SHA-256 of a session token, as stored.
pub fn session_token_digest(token: &[u8]) -> String {
    hex::encode(sha256(token))
}

/// Whether `token` is the session token whose digest is `stored`, compared in constant time.
pub fn session_token_matches(token: &[u8], stored: &str) -> bool {
    let digest = session_token_digest(token);
    constant_time::verify_slices_are_equal(digest.as_bytes(), stored.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_look_like_aws_ones() {
        let id = new_access_key_id(false).unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert!(id[4..].bytes().all(|b| ID_ALPHABET.contains(&b)));
        assert!(new_access_key_id(true).unwrap().starts_with("ASIA"));
        assert_ne!(id, new_access_key_id(false).unwrap());
    }

    #[test]
    fn secrets_and_tokens_use_the_secret_alphabet() {
        let secret = new_secret_access_key().unwrap();
        assert_eq!(secret.len(), 40);
        assert!(
            secret
                .secret_bytes()
                .iter()
                .all(|b| SECRET_ALPHABET.contains(b))
        );
        assert_eq!(new_session_token().unwrap().len(), 256);
    }

    #[test]
    fn a_session_token_matches_only_its_own_digest() {
        let stored = session_token_digest(b"token-one");
        assert_eq!(
            stored,
            "75c5c10f256c75b650c6ffc2e83c6588af02766efd2de28f4de34547006e8d1a"
        );
        assert!(session_token_matches(b"token-one", &stored));
        assert!(!session_token_matches(b"token-two", &stored));
        assert!(!session_token_matches(b"token-one", ""));
    }
}
