//! Requests signed by AWS's own SigV4 signer (the `aws-sigv4` crate the AWS SDK for Rust uses),
//! checked by `parse` and `SignedRequest::verify`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderValue, Request};
use keyshard_core::KmsError;
use keyshard_core::id::Region;
use keyshard_crypto::SigningKey;

use super::{check_shape, parse};

const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==";
const HOST: &str = "kms.us-east-1.amazonaws.com";
const BODY: &[u8] = br#"{"KeyId":"alias/app","Plaintext":"aGVsbG8="}"#;

/// 2026-12-04T12:00:00Z.
const SIGNED_AT: u64 = 1_796_385_600;
const DAY: &str = "20261204";

const MISMATCH: &str = "The request signature we calculated does not match the signature you \
    provided. Check your AWS Secret Access Key and signing method. Consult the service \
    documentation for details.";

fn at(offset_secs: i64) -> SystemTime {
    let base = UNIX_EPOCH + Duration::from_secs(SIGNED_AT);
    let offset = Duration::from_secs(offset_secs.unsigned_abs());
    if offset_secs < 0 {
        base - offset
    } else {
        base + offset
    }
}

fn us_east_1() -> Region {
    "us-east-1".parse().unwrap()
}

fn key(secret: &str) -> SigningKey {
    SigningKey::derive(secret.as_bytes(), DAY, "us-east-1", "kms")
}

/// How the reference signer signs.
struct Signer {
    region: &'static str,
    service: &'static str,
    session_token: Option<SessionTokenMode>,
    content_sha256: bool,
}

const SDK: Signer = Signer {
    region: "us-east-1",
    service: "kms",
    session_token: None,
    content_sha256: false,
};

/// An Encrypt call as the SDK sends it, before signing.
fn encrypt_request(uri: &str) -> Request<Vec<u8>> {
    Request::post(uri)
        .header("host", HOST)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.Encrypt")
        .body(BODY.to_vec())
        .unwrap()
}

fn signed(signer: &Signer) -> Request<Vec<u8>> {
    signed_request(
        signer,
        encrypt_request("https://kms.us-east-1.amazonaws.com/"),
    )
}

fn signed_request(signer: &Signer, mut request: Request<Vec<u8>>) -> Request<Vec<u8>> {
    let token = signer.session_token.map(|_| SESSION_TOKEN.to_owned());
    let identity = Credentials::new(ACCESS_KEY_ID, SECRET, token, None, "test").into();
    let mut settings = SigningSettings::default();
    if signer.content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    if let Some(mode) = signer.session_token {
        settings.session_token_mode = mode;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(signer.region)
        .name(signer.service)
        .time(at(0))
        .settings(settings)
        .build()
        .unwrap()
        .into();

    let instructions = {
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers.into_iter(),
            SignableBody::Bytes(request.body()),
        )
        .unwrap();
        sign(signable, &params).unwrap().into_parts().0
    };
    instructions.apply_to_request_http1x(&mut request);
    request
}

/// `parse` at `now`, then `verify` with `key`.
fn check_at(request: &Request<Vec<u8>>, key: &SigningKey, now: SystemTime) -> Result<(), KmsError> {
    let signed = parse(request.headers(), &us_east_1(), now)?;
    assert_eq!(signed.access_key_id(), ACCESS_KEY_ID);
    assert_eq!(signed.date(), DAY);
    signed.verify(
        request.method(),
        request.uri(),
        request.headers(),
        request.body(),
        key,
    )
}

fn check(request: &Request<Vec<u8>>) -> Result<(), KmsError> {
    check_at(request, &key(SECRET), at(0))
}

fn parse_error(headers: &HeaderMap, now: SystemTime) -> KmsError {
    match parse(headers, &us_east_1(), now) {
        Ok(signed) => panic!("parsed {signed:?}"),
        Err(err) => err,
    }
}

fn invalid(message: &str) -> KmsError {
    KmsError::InvalidSignature(message.to_owned())
}

fn incomplete(message: &str) -> KmsError {
    KmsError::IncompleteSignature(message.to_owned())
}

fn set(request: &mut Request<Vec<u8>>, name: &'static str, value: &'static str) {
    request
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

#[test]
fn a_request_signed_by_the_sdk_signer_verifies() {
    for content_sha256 in [false, true] {
        let request = signed(&Signer {
            content_sha256,
            ..SDK
        });
        assert_eq!(
            request.headers().contains_key("x-amz-content-sha256"),
            content_sha256
        );
        assert_eq!(check(&request), Ok(()), "content_sha256: {content_sha256}");
    }
}

#[test]
fn a_request_with_a_session_token_verifies_and_names_the_token() {
    for content_sha256 in [false, true] {
        let request = signed(&Signer {
            session_token: Some(SessionTokenMode::Include),
            content_sha256,
            ..SDK
        });
        let signed = parse(request.headers(), &us_east_1(), at(0)).unwrap();
        assert_eq!(signed.security_token(), Some(SESSION_TOKEN));
        assert_eq!(check(&request), Ok(()), "content_sha256: {content_sha256}");
    }
    let plain = signed(&SDK);
    let signed = parse(plain.headers(), &us_east_1(), at(0)).unwrap();
    assert_eq!(signed.security_token(), None);
}

#[test]
fn a_query_string_and_an_encoded_path_are_canonicalized_as_the_sdk_does() {
    let request = signed_request(
        &SDK,
        encrypt_request("https://kms.us-east-1.amazonaws.com/a%20b/c?z=1&a=x%20y&a=%2F&b"),
    );
    assert_eq!(check(&request), Ok(()));
}

#[test]
fn repeated_and_spaced_header_values_are_canonicalized_as_the_sdk_does() {
    let mut request = encrypt_request("https://kms.us-east-1.amazonaws.com/");
    let headers = request.headers_mut();
    headers.append("x-amz-meta", HeaderValue::from_static("one   two  three"));
    headers.append("x-amz-meta", HeaderValue::from_static("four"));
    let request = signed_request(&SDK, request);
    assert_eq!(check(&request), Ok(()));
}

#[test]
fn an_unsigned_header_added_after_signing_changes_nothing() {
    let mut request = signed(&SDK);
    set(&mut request, "user-agent", "aws-cli/2.0");
    assert_eq!(check(&request), Ok(()));
}

#[test]
fn the_wrong_secret_is_a_mismatch() {
    let request = signed(&SDK);
    let other = key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ");
    assert_eq!(check_at(&request, &other, at(0)), Err(invalid(MISMATCH)));
}

#[test]
fn a_tampered_body_is_a_mismatch() {
    for content_sha256 in [false, true] {
        let mut request = signed(&Signer {
            content_sha256,
            ..SDK
        });
        request.body_mut()[10] ^= 1;
        assert_eq!(check(&request), Err(invalid(MISMATCH)), "{content_sha256}");
    }
}

#[test]
fn a_content_hash_header_that_is_not_the_body_hash_is_a_mismatch() {
    let mut request = signed(&SDK);
    set(
        &mut request,
        "x-amz-content-sha256",
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    assert_eq!(check(&request), Err(invalid(MISMATCH)));
}

#[test]
fn a_tampered_signed_header_is_a_mismatch() {
    let mut request = signed(&SDK);
    set(&mut request, "content-type", "application/json");
    assert_eq!(check(&request), Err(invalid(MISMATCH)));

    let mut request = signed(&SDK);
    set(&mut request, "host", "kms.eu-west-1.amazonaws.com");
    assert_eq!(check(&request), Err(invalid(MISMATCH)));
}

#[test]
fn a_changed_target_is_a_mismatch() {
    let mut request = signed(&SDK);
    set(&mut request, "x-amz-target", "TrentService.Decrypt");
    assert_eq!(check(&request), Err(invalid(MISMATCH)));
}

#[test]
fn a_changed_method_or_path_is_a_mismatch() {
    let mut request = signed(&SDK);
    *request.method_mut() = http::Method::PUT;
    assert_eq!(check(&request), Err(invalid(MISMATCH)));

    let mut request = signed(&SDK);
    *request.uri_mut() = "https://kms.us-east-1.amazonaws.com/?x=1".parse().unwrap();
    assert_eq!(check(&request), Err(invalid(MISMATCH)));
}

/// Replaces the signature with `signature`, keeping the rest of the header.
fn with_signature(request: &mut Request<Vec<u8>>, signature: &str) {
    let header = request.headers()["authorization"].to_str().unwrap();
    let (rest, _) = header.rsplit_once("Signature=").unwrap();
    let header = format!("{rest}Signature={signature}");
    request
        .headers_mut()
        .insert("authorization", header.parse().unwrap());
}

#[test]
fn a_signature_that_is_not_64_hex_digits_is_a_mismatch() {
    for signature in ["", "abcd", &"g".repeat(64), &"0".repeat(66)] {
        let mut request = signed(&SDK);
        with_signature(&mut request, signature);
        assert_eq!(check(&request), Err(invalid(MISMATCH)), "{signature}");
    }
}

#[test]
fn a_flipped_signature_digit_is_a_mismatch() {
    let mut request = signed(&SDK);
    let header = request.headers()["authorization"].to_str().unwrap();
    let signature = header.rsplit_once("Signature=").unwrap().1;
    let flipped: String = signature
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (0, '0') => '1',
            (0, _) => '0',
            (_, c) => c,
        })
        .collect();
    with_signature(&mut request, &flipped);
    assert_eq!(check(&request), Err(invalid(MISMATCH)));
}

fn authorization(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(value).unwrap());
    headers.insert("x-amz-date", HeaderValue::from_static("20261204T120000Z"));
    headers
}

const CREDENTIAL: &str = "Credential=AKIDEXAMPLE/20261204/us-east-1/kms/aws4_request";

#[test]
fn a_missing_authorization_header_is_a_missing_token() {
    let mut request = signed(&SDK);
    request.headers_mut().remove("authorization");
    assert_eq!(
        parse_error(request.headers(), at(0)),
        KmsError::MissingAuthenticationToken
    );
    assert_eq!(
        check_shape(request.headers()),
        Err(KmsError::MissingAuthenticationToken)
    );
}

#[test]
fn each_malformed_authorization_shape_names_its_fault() {
    let cases = [
        (
            "Basic QUtJRDpzZWNyZXQ=",
            "Authorization header must use the AWS4-HMAC-SHA256 algorithm",
        ),
        (
            "AWS4-HMAC-SHA256X Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
            "Authorization header must use the AWS4-HMAC-SHA256 algorithm",
        ),
        (
            "AWS4-HMAC-SHA256",
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Signature=00",
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host",
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential a/b/c/d/e, SignedHeaders=host, Signature=00",
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/kms, \
             SignedHeaders=host, Signature=00",
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got 'AKIDEXAMPLE/20261204/us-east-1/kms'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/kms/aws4_request/x, \
             SignedHeaders=host, Signature=00",
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got \
             'AKIDEXAMPLE/20261204/us-east-1/kms/aws4_request/x'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=00",
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got ''",
        ),
    ];
    for (header, message) in cases {
        assert_eq!(
            parse_error(&authorization(header), at(0)),
            incomplete(message),
            "{header}"
        );
    }
}

#[test]
fn a_non_ascii_authorization_header_is_incomplete() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"AWS4-HMAC-SHA256 Credential=\xe9").unwrap(),
    );
    assert_eq!(
        parse_error(&headers, at(0)),
        incomplete("Authorization header is not ASCII")
    );
}

#[test]
fn the_shape_check_accepts_any_well_formed_header_unverified() {
    let headers = authorization(
        "AWS4-HMAC-SHA256 Credential=anyone/1/2/3/4, SignedHeaders=x, Signature=abcd",
    );
    assert_eq!(check_shape(&headers), Ok(()));
    assert_eq!(
        check_shape(&authorization("AWS4-HMAC-SHA256 Credential=a")),
        Err(incomplete(
            "Authorization header requires 'SignedHeaders' parameter."
        ))
    );
}

#[test]
fn a_missing_request_date_is_incomplete() {
    let mut request = signed(&SDK);
    request.headers_mut().remove("x-amz-date");
    assert_eq!(
        parse_error(request.headers(), at(0)),
        incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    );
}

#[test]
fn a_request_date_not_in_basic_format_is_incomplete() {
    let mut request = signed(&SDK);
    set(&mut request, "x-amz-date", "Fri, 04 Dec 2026 12:00:00 GMT");
    assert_eq!(
        parse_error(request.headers(), at(0)),
        incomplete(
            "Date must be in ISO-8601 'basic format'. Got 'Fri, 04 Dec 2026 12:00:00 GMT'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        )
    );
}

#[test]
fn the_date_header_stands_in_for_x_amz_date() {
    let mut headers = authorization(&format!(
        "AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=date;host, Signature=00"
    ));
    headers.remove("x-amz-date");
    headers.insert("date", HeaderValue::from_static("20261204T120000Z"));
    let signed = parse(&headers, &us_east_1(), at(0)).unwrap();
    assert_eq!(
        (signed.access_key_id(), signed.date()),
        (ACCESS_KEY_ID, DAY)
    );
}

#[test]
fn skew_within_five_minutes_passes() {
    let request = signed(&SDK);
    for offset in [-300, -1, 1, 300] {
        assert_eq!(
            check_at(&request, &key(SECRET), at(offset)),
            Ok(()),
            "{offset}"
        );
    }
}

#[test]
fn a_request_more_than_five_minutes_old_has_expired() {
    let request = signed(&SDK);
    assert_eq!(
        parse_error(request.headers(), at(301)),
        invalid(
            "Signature expired: 20261204T120000Z is now earlier than 20261204T120001Z \
             (20261204T120501Z - 5 min.)"
        )
    );
}

#[test]
fn a_request_more_than_five_minutes_ahead_is_not_yet_current() {
    let request = signed(&SDK);
    assert_eq!(
        parse_error(request.headers(), at(-301)),
        invalid(
            "Signature not yet current: 20261204T120000Z is still later than 20261204T115959Z \
             (20261204T115459Z + 5 min.)"
        )
    );
}

#[test]
fn a_credential_for_another_region_is_refused() {
    let request = signed(&Signer {
        region: "eu-west-1",
        ..SDK
    });
    assert_eq!(
        parse_error(request.headers(), at(0)),
        invalid("Credential should be scoped to a valid region, not 'eu-west-1'. ")
    );
}

#[test]
fn a_credential_for_another_service_is_refused() {
    let request = signed(&Signer {
        service: "sqs",
        ..SDK
    });
    assert_eq!(
        parse_error(request.headers(), at(0)),
        invalid("Credential should be scoped to correct service: 'kms'. ")
    );
}

#[test]
fn a_scope_date_other_than_the_request_day_is_refused() {
    let mut request = signed(&SDK);
    set(&mut request, "x-amz-date", "20261205T000100Z");
    assert_eq!(
        parse_error(request.headers(), at(12 * 3600 + 60)),
        invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '20261204' != '20261205', from '20261205T000100Z'."
        )
    );
}

#[test]
fn every_fault_of_the_scope_is_named_in_one_message() {
    let headers = authorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-west-1/s3/aws5_request, \
         SignedHeaders=host;x-amz-date, Signature=00",
    );
    assert_eq!(
        parse_error(&headers, at(0)),
        invalid(
            "Credential should be scoped to a valid region, not 'eu-west-1'. Credential should \
             be scoped to correct service: 'kms'. Credential should be scoped with a valid \
             terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not \
             match YYYYMMDD from ISO-8601 version of date from HTTP: '20261203' != '20261204', \
             from '20261204T120000Z'."
        )
    );
}

#[test]
fn host_must_be_signed() {
    let headers = authorization(&format!(
        "AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=content-type;x-amz-date;x-amz-target, \
         Signature=00"
    ));
    assert_eq!(
        parse_error(&headers, at(0)),
        invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    );
}

#[test]
fn a_session_token_must_be_signed() {
    let request = signed(&Signer {
        session_token: Some(SessionTokenMode::Exclude),
        ..SDK
    });
    assert_eq!(
        request.headers()["x-amz-security-token"],
        HeaderValue::from_static(SESSION_TOKEN)
    );
    assert_eq!(
        parse_error(request.headers(), at(0)),
        invalid("'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
    );
}

#[test]
fn debug_output_shows_neither_signature_nor_token() {
    let request = signed(&Signer {
        session_token: Some(SessionTokenMode::Include),
        ..SDK
    });
    let signed = parse(request.headers(), &us_east_1(), at(0)).unwrap();
    assert_eq!(
        format!("{signed:?}"),
        "SignedRequest { access_key_id: \"AKIDEXAMPLE\", \
         scope: \"20261204/us-east-1/kms/aws4_request\", timestamp: \"20261204T120000Z\", .. }"
    );
}
