//! The request decoders and the SigV4 parser under generated input: arbitrary JSON values and
//! bytes, objects with each operation's real member names, and `Authorization` headers built
//! from SigV4's parts with pieces swapped out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(Operation::ALL)
}

/// Scalars near the model's limits: empty and long strings, base64 of 0 to 2 KiB, numbers at
/// and beyond the integer ranges.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(1024),
            Just(1025),
            Just(2_147_483_648)
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        (0usize..3000).prop_map(|n| Value::String("a".repeat(n))),
        prop::collection::vec(any::<u8>(), 0..2048).prop_map(|b| Value::String(STANDARD.encode(b))),
        prop_oneof![
            Just("alias/x"),
            Just("1234abcd-12ab-34cd-56ef-1234567890ab"),
            Just("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            Just("AES_256"),
            Just("SYMMETRIC_DEFAULT"),
            Just("ENCRYPT_DECRYPT"),
            Just("Decrypt"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An operation and an object made of some of its real input members with arbitrary values.
fn shaped_request() -> impl Strategy<Value = (Operation, Value)> {
    operation().prop_flat_map(|op| {
        let members = model_operations()
            .get(op.as_str())
            .map(|o| o.input_members.clone())
            .unwrap_or_default();
        let count = members.len();
        (
            Just(op),
            prop::collection::vec((prop::sample::select(members), json_value()), 0..=count)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        )
            .prop_filter("operations with input members", move |_| count > 0)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_value_is_answered_with_a_modeled_error(op in operation(), body in json_value()) {
        request_body(op, body.to_string().as_bytes());
    }

    #[test]
    fn objects_of_real_members_are_answered_with_a_modeled_error(
        (op, body) in shaped_request(),
    ) {
        request_body(op, body.to_string().as_bytes());
    }

    #[test]
    fn any_bytes_are_answered_with_a_modeled_error(
        op in operation(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        request_body(op, &body);
    }

    #[test]
    fn any_sigv4_header_values_are_refused_with_an_authentication_error(
        authorization in authorization(),
        date in prop::option::of(request_time()),
        token in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        content_sha256 in prop::option::of("[0-9a-f]{0,64}|.{0,10}"),
        body in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        sigv4_headers(
            authorization.as_deref().map(str::as_bytes),
            date.as_deref().map(str::as_bytes),
            token.as_deref(),
            content_sha256.as_deref().map(str::as_bytes),
            &body,
        );
    }

    #[test]
    fn any_bytes_as_sigv4_headers_are_refused_with_an_authentication_error(
        authorization in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        date in prop::option::of(prop::collection::vec(any::<u8>(), 0..24)),
    ) {
        sigv4_headers(authorization.as_deref(), date.as_deref(), None, None, b"");
    }
}

/// `Authorization` values built from SigV4's parts, each part sometimes replaced by a near miss.
fn authorization() -> impl Strategy<Value = Option<String>> {
    let algorithm = prop_oneof![
        Just("AWS4-HMAC-SHA256 ".to_owned()),
        Just("AWS4-HMAC-SHA256".to_owned()),
        ".{0,5}"
    ];
    let date = prop_oneof![
        Just("20260101".to_owned()),
        Just("20251231".to_owned()),
        "[0-9]{0,9}"
    ];
    let credential = (
        prop_oneof!["AKID[A-Z0-9]{0,16}", ".{0,6}"],
        date,
        prop_oneof![Just("us-east-1"), Just("eu-west-1"), Just("")],
        prop_oneof![Just("kms"), Just("s3"), Just("")],
        prop_oneof![Just("aws4_request"), Just("aws4")],
        1usize..7,
    )
        .prop_map(|(key, day, region, service, term, parts)| {
            let all = [key.as_str(), &day, region, service, term, "extra"];
            all[..parts].join("/")
        });
    let signed_headers = prop_oneof![
        Just("content-type;host;x-amz-date".to_owned()),
        Just("host;x-amz-security-token".to_owned()),
        "[a-z;:-]{0,30}",
    ];
    let signature = prop_oneof!["[0-9a-f]{64}", "[0-9a-fA-Fg]{0,70}"];
    let params = (
        credential,
        signed_headers,
        signature,
        prop::sample::subsequence(vec![0, 1, 2], 0..=3),
    )
        .prop_map(|(c, h, s, order)| {
            let named = [
                format!("Credential={c}"),
                format!("SignedHeaders={h}"),
                format!("Signature={s}"),
            ];
            order
                .into_iter()
                .map(|i| named[i].clone())
                .collect::<Vec<_>>()
                .join(", ")
        });
    prop::option::of(prop_oneof![
        4 => (algorithm, params).prop_map(|(a, p)| format!("{a}{p}")),
        1 => ".{0,80}",
    ])
}

/// Request times around the harness's clock, and malformed ones.
fn request_time() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("20260101T000000Z".to_owned()),
        Just("20260101T000459Z".to_owned()),
        Just("20251231T235000Z".to_owned()),
        "[0-9]{8}T[0-9]{6}Z",
        ".{0,20}",
    ]
}

#[test]
fn every_model_operation_has_a_handler_or_an_unsupported_answer() {
    assert_eq!(model_operations().len(), Operation::ALL.len());
    for &op in Operation::ALL {
        assert!(model_operations().contains_key(op.as_str()), "{op}");
        let answer = request_body(op, b"{}");
        assert!(
            matches!(
                answer,
                "ValidationException"
                    | "UnsupportedOperationException"
                    | "DependencyTimeoutException"
            ),
            "{op} answered {answer} to an empty request"
        );
    }
}

#[test]
fn deeply_nested_and_huge_bodies_are_serialization_or_validation_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        "{{\"KeyId\":{}1{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    for body in [deep.as_bytes(), deep_object.as_bytes()] {
        assert_eq!(
            request_body(Operation::Encrypt, body),
            "SerializationException"
        );
    }
    let huge = json!({ "KeyId": "k".repeat(1 << 20) }).to_string();
    assert_eq!(
        request_body(Operation::DescribeKey, huge.as_bytes()),
        "ValidationException"
    );
}

#[test]
fn a_valid_request_reaches_the_shard_call() {
    let body = json!({ "KeyId": "alias/app", "Plaintext": STANDARD.encode(b"x") }).to_string();
    assert_eq!(
        request_body(Operation::Encrypt, body.as_bytes()),
        "DependencyTimeoutException"
    );
}

#[test]
fn a_well_formed_unsigned_header_is_refused_by_the_signature_check() {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/us-east-1/kms/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature={}",
        "0".repeat(64)
    );
    let checked = |date: &[u8]| {
        sigv4_headers(
            Some(authorization.as_bytes()),
            Some(date),
            None,
            None,
            b"{}",
        )
    };
    assert_eq!(checked(b"20260101T000000Z"), SigV4Refusal::Signature);
    assert_eq!(
        checked(b"20260102T000000Z"),
        SigV4Refusal::Parse("InvalidSignatureException")
    );
    assert_eq!(
        sigv4_headers(None, None, None, None, b""),
        SigV4Refusal::Parse("MissingAuthenticationTokenException")
    );
}
