//! The ciphertext blob: any bytes parse as a blob or are `InvalidCiphertextException`, never
//! open under a key that did not seal them, and a sealed blob with one byte changed never
//! opens.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use keyshard_crypto::BackingKey;
use libfuzzer_sys::fuzz_target;

fn backing_key() -> &'static BackingKey {
    static KEY: OnceLock<BackingKey> = OnceLock::new();
    KEY.get_or_init(|| BackingKey::generate().expect("the system RNG works"))
}

fuzz_target!(|input: (&[u8], BTreeMap<String, String>, usize, u8)| {
    let (bytes, context, index, mask) = input;
    keyshard_core::fuzzing::blob_parse(bytes);
    keyshard_crypto::fuzzing::open_foreign_bytes(backing_key(), bytes);
    keyshard_crypto::fuzzing::sealed_blob_tamper(backing_key(), bytes, &context, index, mask);
});
