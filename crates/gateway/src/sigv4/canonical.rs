//! The SigV4 canonical request, byte for byte as AWS's signers build it.

use http::{HeaderMap, Method, Uri, header};
use keyshard_crypto::sha256;

/// Lowercase hex of the SHA-256 digest of `bytes`, as the canonical request and the string to
/// sign carry hashes.
pub(super) fn hex_sha256(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(sha256(bytes)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    hex
}

/// The canonical request: method, canonical URI, canonical query string, one line per signed
/// header, a blank line, the signed header list and the payload hash, joined by newlines.
///
/// Headers are taken in the order `signed_headers` lists them (SigV4 signers sort it). A signed
/// header the request lacks contributes an empty value, so the signature cannot match.
pub(super) fn request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed_headers: &str,
    payload_hash: &[u8; 64],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b'\n');
    push_uri_path(&mut out, uri.path());
    out.push(b'\n');
    push_query(&mut out, uri.query().unwrap_or_default());
    out.push(b'\n');
    for name in signed_headers.split(';') {
        out.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        out.push(b':');
        push_header_values(&mut out, name, uri, headers);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash);
    out
}

/// The path as received, percent-encoded once more (AWS services other than S3 sign the
/// encoded path encoded again). Paths are not normalized: KMS serves only `/`.
fn push_uri_path(out: &mut Vec<u8>, path: &str) {
    if path.is_empty() {
        out.push(b'/');
    } else {
        push_encoded(out, path.as_bytes(), true);
    }
}

/// Each `name=value` pair decoded as a form would be, then encoded with SigV4's rule and sorted
/// by encoded name, then encoded value.
fn push_query(out: &mut Vec<u8>, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let encode = |text: &str| {
                let mut encoded = Vec::with_capacity(text.len());
                push_encoded(&mut encoded, &form_decode(text), false);
                encoded
            };
            (encode(name), encode(value))
        })
        .collect();
    pairs.sort_unstable();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
}

/// Every value of header `name`, each trimmed of spaces with inner runs of spaces collapsed to
/// one, joined by commas. `host` falls back to the URI's authority, which is where HTTP/2 sends
/// it.
fn push_header_values(out: &mut Vec<u8>, name: &str, uri: &Uri, headers: &HeaderMap) {
    let mut values = headers.get_all(name).iter().map(|value| value.as_bytes());
    let first = values.next().or_else(|| {
        name.eq_ignore_ascii_case(header::HOST.as_str())
            .then(|| {
                uri.authority()
                    .map(|authority| authority.as_str().as_bytes())
            })
            .flatten()
    });
    for (index, value) in first.into_iter().chain(values).enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_collapsed(out, value);
    }
}

fn push_collapsed(out: &mut Vec<u8>, value: &[u8]) {
    let start = value.iter().position(|&b| b != b' ').unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |last| last + 1);
    let mut previous = 0u8;
    for &byte in &value[start..end] {
        if !(byte == b' ' && previous == b' ') {
            out.push(byte);
        }
        previous = byte;
    }
}

/// Percent-encodes every byte but SigV4's unreserved characters (`A-Z a-z 0-9 - _ . ~`) and,
/// if `keep_slash`, `/`, with uppercase hex digits.
fn push_encoded(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0x0f)],
            ]);
        }
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space and `%XX` a byte; a `%` without
/// two hex digits after it stands for itself.
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = match (byte, bytes.get(index + 1..index + 3)) {
            (b'%', Some(&[high, low])) => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match (byte, escaped) {
            (_, Some((high, low))) => {
                decoded.push((high << 4) | low);
                index += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                index += 1;
            }
            (_, None) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    decoded
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn paths_are_encoded_again_and_slashes_kept() {
        let mut out = Vec::new();
        push_uri_path(&mut out, "/a%20b/c~d/é");
        assert_eq!(out, b"/a%2520b/c~d/%C3%A9");
        out.clear();
        push_uri_path(&mut out, "");
        assert_eq!(out, b"/");
    }

    #[test]
    fn query_pairs_are_decoded_reencoded_and_sorted() {
        let mut out = Vec::new();
        push_query(&mut out, "b=2&a=x+y&a=%41%2fz&c&%zz=1");
        assert_eq!(out, b"%25zz=1&a=A%2Fz&a=x%20y&b=2&c=");
    }

    #[test]
    fn header_values_are_trimmed_collapsed_and_joined() {
        let mut headers = HeaderMap::new();
        headers.append("x-multi", HeaderValue::from_static("  one   two  "));
        headers.append("x-multi", HeaderValue::from_static("three"));
        let uri: Uri = "https://kms.example/".parse().unwrap();
        let mut out = Vec::new();
        push_header_values(&mut out, "x-multi", &uri, &headers);
        assert_eq!(out, b"one two,three");
    }

    #[test]
    fn host_comes_from_the_authority_when_the_header_is_absent() {
        let uri: Uri = "https://kms.example:8443/".parse().unwrap();
        let mut out = Vec::new();
        push_header_values(&mut out, "host", &uri, &HeaderMap::new());
        assert_eq!(out, b"kms.example:8443");
        out.clear();
        push_header_values(&mut out, "x-absent", &uri, &HeaderMap::new());
        assert_eq!(out, b"");
    }

    #[test]
    fn the_canonical_request_has_every_part_in_order() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("kms.example"));
        headers.insert("x-amz-date", HeaderValue::from_static("20261204T120000Z"));
        let uri: Uri = "/".parse().unwrap();
        let hash = hex_sha256(b"");
        let text = request(&Method::POST, &uri, &headers, "host;x-amz-date", &hash);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "POST\n/\n\nhost:kms.example\nx-amz-date:20261204T120000Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
