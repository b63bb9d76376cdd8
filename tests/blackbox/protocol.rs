//! The JSON 1.1 envelope over raw HTTP: targets, bodies, authentication, request ids, size
//! limits (behaviour reference, sections 0, 6 and 7).

use aws_sdk_kms::operation::RequestId as _;
use serde_json::{Value, json};

use crate::harness::Keyshard;
use crate::raw_http::RawRequest;
use crate::support::{Failure, create_key, failure, is_uuid};

#[tokio::test]
async fn an_unknown_target_is_unknown_operation_with_no_message() {
    let ks = Keyshard::start().await;

    for target in ["NoSuchOperation", "listKeys", "ListKeys.Extra"] {
        let (status, body) = ks.raw(target, &json!({})).await;
        assert_eq!(
            (status, body),
            (400, json!({"__type": "UnknownOperationException"})),
            "TrentService.{target}"
        );
    }
    let other_service = RawRequest::new("ListKeys", "{}").with("X-Amz-Target", "Other.ListKeys");
    let response = ks.send_raw(other_service).await;
    assert_eq!(
        (response.status, response.json()),
        (400, json!({"__type": "UnknownOperationException"}))
    );

    ks.finish();
}

#[tokio::test]
async fn a_missing_target_is_unknown_operation_with_no_message() {
    let ks = Keyshard::start().await;

    let response = ks
        .send_raw(RawRequest::new("ListKeys", "{}").without("X-Amz-Target"))
        .await;
    assert_eq!(
        (response.status, response.json()),
        (400, json!({"__type": "UnknownOperationException"}))
    );

    ks.finish();
}

#[tokio::test]
async fn malformed_json_is_a_serialization_error_with_no_message() {
    let ks = Keyshard::start().await;

    for body in [r#"{"KeyId":"#, "{", "not json", r#"{"KeyId":"a",}"#] {
        let response = ks.send_raw(RawRequest::new("DescribeKey", body)).await;
        assert_eq!(
            (response.status, response.json()),
            (400, json!({"__type": "SerializationException"})),
            "{body}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn a_wrongly_typed_member_is_a_serialization_error_with_no_message() {
    let ks = Keyshard::start().await;

    let cases = [
        ("DescribeKey", json!({"KeyId": 5})),
        ("GenerateRandom", json!({"NumberOfBytes": "32"})),
        ("ListKeys", json!({"Limit": "2"})),
        ("CreateKey", json!({"Description": ["a"]})),
        (
            "Encrypt",
            json!({"KeyId": "alias/x", "Plaintext": "eA==", "EncryptionContext": ["a"]}),
        ),
        ("Decrypt", json!({"CiphertextBlob": 12})),
    ];
    for (target, body) in cases {
        let (status, answer) = ks.raw(target, &body).await;
        assert_eq!(
            (status, answer),
            (400, json!({"__type": "SerializationException"})),
            "{target} {body}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn a_request_without_authorization_is_missing_authentication_token() {
    let ks = Keyshard::start().await;

    let response = ks
        .send_raw(RawRequest::new("ListKeys", "{}").without("Authorization"))
        .await;
    assert_eq!(
        (response.status, response.json()),
        (
            400,
            json!({
                "__type": "MissingAuthenticationTokenException",
                "message": "Missing Authentication Token"
            })
        )
    );

    ks.finish();
}

#[tokio::test]
async fn an_authorization_header_that_is_not_sigv4_is_an_incomplete_signature() {
    let ks = Keyshard::start().await;

    for value in ["Basic dXNlcjpwYXNz", "AWS4-HMAC-SHA256 Signature=00"] {
        let request = RawRequest::new("ListKeys", "{}").with("Authorization", value);
        let response = ks.send_raw(request).await;
        // The reference infers the type and gives no wording (section 7).
        assert_eq!(
            Failure::of_raw(&response).kind(),
            (400, "IncompleteSignatureException"),
            "{value}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn an_oversized_body_is_a_json_client_error_and_the_service_keeps_serving() {
    let ks = Keyshard::start().await;

    let plaintext = "A".repeat(2 * 1024 * 1024);
    let body = format!(r#"{{"KeyId":"alias/none","Plaintext":"{plaintext}"}}"#);
    let response = ks.send_raw(RawRequest::new("Encrypt", body)).await;
    assert!(
        (400..500).contains(&response.status),
        "HTTP {}",
        response.status
    );
    assert!(
        response.json().get("__type").is_some_and(Value::is_string),
        "{:?}",
        response.json()
    );

    let (status, listed) = ks.raw("ListKeys", &json!({})).await;
    assert_eq!(
        (status, listed),
        (200, json!({"Keys": [], "Truncated": false}))
    );

    ks.finish();
}

#[tokio::test]
async fn every_answer_carries_a_fresh_request_id_the_json_content_type_and_a_date() {
    let ks = Keyshard::start().await;

    let ok = ks.send_raw(RawRequest::new("ListKeys", "{}")).await;
    let error = ks
        .send_raw(RawRequest::new("DescribeKey", r#"{"KeyId":"fake-key-id"}"#))
        .await;
    let unknown = ks.send_raw(RawRequest::new("Nope", "{}")).await;
    let mut ids = Vec::new();
    for response in [&ok, &error, &unknown] {
        let id = response
            .header("x-amzn-RequestId")
            .expect("x-amzn-RequestId is present");
        assert!(is_uuid(id), "{id}");
        ids.push(id.to_owned());
        assert_eq!(
            response.header("Content-Type"),
            Some("application/x-amz-json-1.1")
        );
        // SDKs correct their clock from Date (reference, section 7).
        let date = response.header("Date").unwrap_or_default();
        assert!(date.ends_with(" GMT"), "Date: {date:?}");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!((ok.status, error.status, unknown.status), (200, 400, 400));

    let listed = ks.client().list_keys().send().await.expect("ListKeys");
    let sdk_id = listed.request_id().expect("the SDK reads the request id");
    assert!(is_uuid(sdk_id), "{sdk_id}");

    ks.finish();
}

#[tokio::test]
async fn an_operation_keyshard_does_not_implement_is_an_unsupported_operation() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;

    let described = failure(client.describe_custom_key_stores().send().await);
    assert_eq!(described.kind(), (400, "UnsupportedOperationException"));
    let (status, body) = ks
        .raw(
            "ReplicateKey",
            &json!({"KeyId": key_id, "ReplicaRegion": "us-west-2"}),
        )
        .await;
    assert_eq!(
        (status, body.get("__type")),
        (400, Some(&json!("UnsupportedOperationException")))
    );

    ks.finish();
}

/// How long the service keeps a connection open that has sent only `sent`, if it closes it
/// within 30 seconds.
async fn open_for(address: String, sent: &'static [u8]) -> Option<std::time::Duration> {
    use std::io::{Read as _, Write as _};

    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        stream.write_all(sent).expect("the first bytes sent");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("read timeout");
        let started = tokio::time::Instant::now();
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => None,
            _ => Some(started.elapsed()),
        }
    })
    .await
    .expect("the silent client does not panic")
}

#[tokio::test]
async fn a_client_that_goes_silent_before_its_request_is_disconnected_on_both_ports() {
    let ks = Keyshard::start_with_args(&["--grpc-listen", "127.0.0.1:0"]).await;
    let cases: [(&str, &str, &'static [u8]); 5] = [
        ("JSON", ks.address(), b""),
        ("JSON", ks.address(), b"POST / HTT"),
        ("JSON", ks.address(), b"POST / HTTP/1.1\r\nHost: x\r\n"),
        ("gRPC", ks.grpc_address(), b""),
        ("gRPC", ks.grpc_address(), b"PRI * HTTP/2.0"),
    ];
    let waits = cases.map(|(port, address, sent)| {
        let wait = tokio::spawn(open_for(address.to_owned(), sent));
        (port, sent, wait)
    });
    for (port, sent, wait) in waits {
        let open = wait.await.expect("the client task");
        let sent = String::from_utf8_lossy(sent);
        // Ten seconds after the connection opened, with room for a loaded machine.
        assert!(
            open.is_some_and(|open| open < std::time::Duration::from_secs(25)),
            "the {port} port kept a connection that sent {sent:?} open: {open:?}"
        );
    }

    // Silent connections did not take the port down.
    let (status, _) = ks.raw("ListKeys", &json!({})).await;
    assert_eq!(status, 200);

    ks.finish();
}
