//! Keyshard's internal gateway-to-shard gRPC API: the generated messages, client and server
//! traits, and how an AWS error crosses the hop.

mod convert;
mod grants;
mod public_status;
mod status;

/// Code generated from `proto/keyshard/shard/v1/shard.proto`; see the freshness test.
#[rustfmt::skip]
#[allow(
    unreachable_pub,
    unused_qualifications,
    elided_lifetimes_in_paths,
    clippy::all,
    clippy::use_self,
    reason = "generated code follows prost and tonic conventions, not ours"
)]
pub mod v1 {
    include!("generated/keyshard.shard.v1.rs");
}

/// Code generated from `proto/keyshard/kms/v1/kms.proto`, Keyshard's public API; see the
/// freshness test.
#[rustfmt::skip]
#[allow(
    unreachable_pub,
    unused_qualifications,
    elided_lifetimes_in_paths,
    clippy::all,
    clippy::use_self,
    reason = "generated code follows prost and tonic conventions, not ours"
)]
pub mod kms {
    include!("generated/keyshard.kms.v1.rs");
}

/// Code generated from `proto/k8s.io/kms/apis/v2/api.proto`, the Kubernetes KMS v2 plugin API as
/// Kubernetes publishes it (package `v2`); see the freshness test.
#[rustfmt::skip]
#[allow(
    unreachable_pub,
    unused_qualifications,
    elided_lifetimes_in_paths,
    clippy::all,
    clippy::use_self,
    reason = "generated code follows prost and tonic conventions, not ours"
)]
pub mod k8s_kms_v2 {
    include!("generated/v2.rs");
}

/// The encoded `FileDescriptorSet` of the public API (with the well-known types it imports),
/// for gRPC server reflection; see the freshness test.
pub const KMS_FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/keyshard.kms.v1.bin");

pub use convert::caller_scope;
pub use public_status::{ERROR_TYPE_METADATA, public_code, public_error_type, public_status};
pub use status::{
    MAX_BATCH_ITEMS, carries_kms_error, error_from_item, error_from_status, item_error,
    status_from_error,
};

#[cfg(test)]
mod codegen_tests;
