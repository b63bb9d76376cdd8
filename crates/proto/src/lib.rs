//! Keyshard's internal gateway-to-shard gRPC API: the generated messages, client and server
//! traits, and how an AWS error crosses the hop.

mod convert;
mod grants;
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

pub use convert::caller_scope;
pub use status::{carries_kms_error, error_from_status, status_from_error};

#[cfg(test)]
mod codegen_tests;
