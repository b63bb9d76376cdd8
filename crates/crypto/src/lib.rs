//! Keyshard's cryptography, all on aws-lc-rs: the secret types, root-key wrapping of backing
//! keys, sealing and opening ciphertext blobs, data-key generation and key material ids.
//!
//! Only shards link this crate for key material (DESIGN.md, "Parts and who may know what").

mod blob;
mod error;
mod ring;
mod secret;
mod wrap;

pub use blob::{key_material_id, open, seal};
pub use error::CryptoError;
pub use ring::RootKeyRing;
pub use secret::{BackingKey, RootKey, SecretBytes};
pub use wrap::WrapBinding;
