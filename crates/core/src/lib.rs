//! Keyshard's domain, free of I/O: identifiers, key specs and states, the key-state table, the
//! AWS error enum and its wire form, model validation, encryption contexts, the ciphertext blob
//! layout, paging markers, the rules for tags, key policy documents and grants, the
//! authorization decision that weighs a key's policy and grants, and the latency histogram of
//! the metrics.

pub mod authz;
pub mod blob;
pub mod context;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod grants;
pub mod histogram;
pub mod id;
pub mod marker;
pub mod operation;
pub mod policy;
pub mod rotation;
pub mod spec;
pub mod tags;
pub mod validate;

pub use error::KmsError;
