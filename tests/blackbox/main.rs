//! Black-box tests: each starts its own `keyshard dev`, drives it over the AWS KMS JSON 1.1
//! protocol with the AWS SDK for Rust or raw HTTP/1.1, and then checks the service log.

mod alias_names;
mod aliases;
mod ciphertexts;
mod cluster;
mod data_keys;
mod deletion;
mod description;
mod disk_full;
mod encrypt_decrypt;
mod grants;
mod grpc;
mod harness;
mod keys;
mod lifecycle;
mod paging;
mod pending_deletion;
mod policies;
mod protocol;
mod random;
mod raw_http;
mod reencrypt;
mod request_fuzz;
mod restart;
mod rotation;
mod support;
mod tags;
mod tenancy;
mod test_ca;
mod traces;
