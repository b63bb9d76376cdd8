//! `KeyRef::parse` on any string: no panic, `NotFoundException` only, and key ARNs that parse
//! back to the same key.

#![no_main]

use keyshard_core::id::Scope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let scope = Scope {
        account: "111122223333".parse().expect("a 12-digit account"),
        region: "us-east-1".parse().expect("a region"),
    };
    keyshard_core::fuzzing::key_ref(input, &scope);
});
