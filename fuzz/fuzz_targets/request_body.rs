//! Every operation's request decoder and validation on any body: no panic, and an error the
//! model lists for the operation.

#![no_main]

use keyshard_core::operation::Operation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (which, body) = input;
    let operation = Operation::ALL[usize::from(which) % Operation::ALL.len()];
    keyshard_gateway::fuzzing::request_body(operation, body);
});
