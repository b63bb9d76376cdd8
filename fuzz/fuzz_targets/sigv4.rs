//! The SigV4 parser on any `Authorization`, `X-Amz-Date`, `X-Amz-Security-Token` and
//! `X-Amz-Content-SHA256` values: no panic, authentication errors only, no forged signature.

#![no_main]

use libfuzzer_sys::fuzz_target;

type Headers<'a> = (
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    &'a [u8],
);

fuzz_target!(|input: Headers<'_>| {
    let (authorization, date, token, content_sha256, body) = input;
    keyshard_gateway::fuzzing::sigv4_headers(authorization, date, token, content_sha256, body);
});
