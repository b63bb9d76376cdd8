//! Keyshard's cryptography, all on aws-lc-rs: the secret types, root-key wrapping of backing
//! keys, sealing and opening ciphertext blobs, data-key generation, key material ids and SigV4
//! signing keys.
//!
//! Only shards link this crate for key material (DESIGN.md, "Parts and who may know what"); a
//! gateway links it for SigV4 signing keys and hashing only.

mod blob;
mod error;
mod ring;
mod secret;
mod sigv4;
mod wrap;

pub use blob::{key_material_id, open, seal};
pub use error::CryptoError;
pub use ring::RootKeyRing;
pub use secret::{BackingKey, RootKey, SecretBytes};
pub use sigv4::{SigningKey, sha256};
pub use wrap::WrapBinding;
