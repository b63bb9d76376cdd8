//! The canonical encryption-context encoding: order-free, and decodable back to its pairs, so
//! two different contexts never share an encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<(String, String)>, Vec<(String, String)>)| {
    keyshard_core::fuzzing::encryption_context(&input.0, &input.1);
});
