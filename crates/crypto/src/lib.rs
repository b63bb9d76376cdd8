//! Keyshard's cryptography, all on aws-lc-rs: the secret types, root-key wrapping of backing
//! keys and secret access keys, new access keys, sealing and opening ciphertext blobs, data-key
//! generation, key material ids and SigV4 signing keys.
//!
//! Only shards link this crate for key material (DESIGN.md, "Parts and who may know what"); a
//! gateway links it for SigV4 signing keys and hashing only.

mod blob;
mod credentials;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod ring;
mod secret;
mod sigv4;
mod wrap;

pub use blob::{key_material_id, open, seal};
pub use credentials::{
    new_access_key_id, new_secret_access_key, new_session_token, session_token_digest,
    session_token_matches,
};
pub use error::CryptoError;
pub use ring::RootKeyRing;
pub use secret::{BackingKey, RootKey, SecretBytes};
pub use sigv4::{SigningKey, sha256};
pub use wrap::WrapBinding;
