//! SigV4 at the gateway: what passes, and the error AWS KMS sends for each way a signature can
//! fail (behaviour reference, section 7), through the SDK and over raw HTTP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::error::BoxError;
use aws_sdk_kms::primitives::{DateTime, DateTimeFormat};
use aws_sdk_kms::types::KeyState;
use aws_smithy_async::time::StaticTimeSource;
use serde_json::json;

use super::{OTHER_ACCOUNT, user};
use crate::cluster::nodes::Cluster;
use crate::harness::ACCOUNT;
use crate::raw_http::RawRequest;
use crate::support::{Failure, create_key, failure, key_arn, key_metadata};

/// InvalidSignatureException's message for a signature that does not match.
const MISMATCH: &str = "The request signature we calculated does not match the signature you \
    provided. Check your AWS Secret Access Key and signing method. Consult the service \
    documentation for details.";

fn mismatch() -> Failure {
    Failure::new(400, "InvalidSignatureException", Some(MISMATCH))
}

fn unrecognized() -> Failure {
    Failure::new(
        400,
        "UnrecognizedClientException",
        Some("The security token included in the request is invalid."),
    )
}

/// The same credentials with another secret access key.
fn with_secret(credentials: &Credentials, secret: &str) -> Credentials {
    Credentials::new(
        credentials.access_key_id(),
        secret,
        credentials.session_token().map(str::to_owned),
        None,
        "tenancy",
    )
}

/// The same credentials with another session token, or none.
fn with_token(credentials: &Credentials, token: Option<String>) -> Credentials {
    Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        token,
        None,
        "tenancy",
    )
}

/// Whole seconds since the Unix epoch.
fn epoch_secs(time: SystemTime) -> i64 {
    let since = time.duration_since(UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit an i64")
}

/// A time as SigV4 writes it, `yyyymmddThhmmssZ`.
fn amz_date(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(DateTimeFormat::DateTime)
        .expect("a time in range formats")
        .replace(['-', ':'], "")
}

/// The messages AWS KMS gives a request signed at `signed_at` when the server's clock reads
/// any second from `earliest` to `latest`: expired when `past`, not yet current otherwise.
fn skew_messages(past: bool, signed_at: i64, earliest: i64, latest: i64) -> Vec<String> {
    (earliest..=latest)
        .map(|now| {
            if past {
                format!(
                    "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                    amz_date(signed_at),
                    amz_date(now - 300),
                    amz_date(now)
                )
            } else {
                format!(
                    "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                    amz_date(signed_at),
                    amz_date(now + 300),
                    amz_date(now)
                )
            }
        })
        .collect()
}

/// Replaces one string by another of the same length in every request body after signing.
#[derive(Debug)]
struct Tamper {
    from: String,
    to: String,
}

impl Intercept for Tamper {
    fn name(&self) -> &'static str {
        "tenancy-tamper"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let body = request
            .body()
            .bytes()
            .ok_or("the request body is in memory")?;
        let tampered = String::from_utf8_lossy(body).replace(&self.from, &self.to);
        *request.body_mut() = tampered.into();
        Ok(())
    }
}

#[tokio::test]
async fn only_a_known_access_key_with_its_own_secret_and_an_intact_body_is_accepted() {
    let cluster = Cluster::start(1, 1).await;
    let owner = cluster.client(0);
    let key_id = create_key(&owner).await;
    let other_key_id = create_key(&owner).await;
    let credentials = cluster.create_access_key(ACCOUNT, Some(&user(ACCOUNT, "alice")), None);

    let alice = cluster.client_as(0, credentials.clone());
    let metadata = key_metadata(&alice, &key_id).await;
    assert_eq!(metadata.arn(), Some(key_arn(&key_id).as_str()));
    assert_eq!(metadata.aws_account_id(), Some(ACCOUNT));

    let wrong_secret = with_secret(&credentials, "not+the/secret-of-this-access-key0123456");
    let client = cluster.client_as(0, wrong_secret);
    let described = client.describe_key().key_id(&key_id).send().await;
    assert_eq!(failure(described), mismatch());

    // The body is changed after signing to name another key of the same account: a gateway
    // that did not hash the body would describe that key.
    let tamper = Tamper {
        from: key_id.clone(),
        to: other_key_id,
    };
    let config = cluster.config_as(0, credentials).interceptor(tamper);
    let tampering = Client::from_conf(config.build());
    let described = tampering.describe_key().key_id(&key_id).send().await;
    assert_eq!(failure(described), mismatch());

    let unknown = Credentials::new(
        "AKIAUNKNOWNKEY000000",
        "an+unknown/secret-access-key-0123456789",
        None,
        None,
        "tenancy",
    );
    let stranger = cluster.client_as(0, unknown);
    assert_eq!(
        failure(stranger.describe_key().key_id(&key_id).send().await),
        unrecognized()
    );
    assert_eq!(
        failure(stranger.generate_random().number_of_bytes(8).send().await),
        unrecognized()
    );

    cluster.finish(&[]);
}

#[tokio::test]
async fn hand_signed_requests_are_checked_over_their_headers_and_body() {
    let cluster = Cluster::start(1, 1).await;
    let key_id = create_key(&cluster.client(0)).await;
    let credentials = cluster.create_access_key(ACCOUNT, None, None);
    let address = cluster.gateways[0].address.clone();
    let body = json!({"KeyId": key_id}).to_string();
    let describe = RawRequest::new("DescribeKey", body.clone()).signed(
        &address,
        &credentials,
        SystemTime::now(),
    );

    let response = cluster.send_raw(0, describe.clone()).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json()["KeyMetadata"]["Arn"],
        json!(key_arn(&key_id))
    );

    let mut tampered = describe.clone();
    tampered.body = body.replace("KeyId", "keyId").into_bytes();
    let response = cluster.send_raw(0, tampered).await;
    assert_eq!(Failure::of_raw(&response), mismatch());

    let retargeted = describe
        .clone()
        .with("X-Amz-Target", "TrentService.DisableKey");
    let response = cluster.send_raw(0, retargeted).await;
    assert_eq!(Failure::of_raw(&response), mismatch());

    let unsigned = describe.without("Authorization");
    let response = cluster.send_raw(0, unsigned).await;
    assert_eq!(
        Failure::of_raw(&response),
        Failure::new(
            400,
            "MissingAuthenticationTokenException",
            Some("Missing Authentication Token")
        )
    );

    let unknown = Credentials::new(
        "AKIAUNKNOWNKEY000001",
        "another+unknown/secret-access-key-012345",
        None,
        None,
        "tenancy",
    );
    let stranger =
        RawRequest::new("DescribeKey", body).signed(&address, &unknown, SystemTime::now());
    let response = cluster.send_raw(0, stranger).await;
    assert_eq!(Failure::of_raw(&response), unrecognized());

    // The key is untouched by the retargeted DisableKey.
    let metadata = key_metadata(&cluster.client(0), &key_id).await;
    assert_eq!(metadata.key_state(), Some(&KeyState::Enabled));

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_request_signed_more_than_five_minutes_from_the_server_clock_is_refused() {
    let cluster = Cluster::start(1, 1).await;
    let key_id = create_key(&cluster.client(0)).await;
    let credentials = cluster.create_access_key(ACCOUNT, None, None);
    let client_at = |time: SystemTime| {
        let config = cluster
            .config_as(0, credentials.clone())
            .time_source(StaticTimeSource::new(time));
        Client::from_conf(config.build())
    };

    // Four minutes off either way is within the allowed skew.
    for offset in [-240, 240] {
        let signed_at = epoch_secs(SystemTime::now()) + offset;
        let time = UNIX_EPOCH + Duration::from_secs(signed_at.unsigned_abs());
        let metadata = client_at(time).describe_key().key_id(&key_id).send().await;
        let metadata = metadata.expect("DescribeKey within the skew");
        assert_eq!(
            metadata.key_metadata().map(|m| m.key_id()),
            Some(key_id.as_str())
        );
    }

    for (past, offset) in [(true, -360), (false, 360)] {
        let before = epoch_secs(SystemTime::now());
        let signed_at = before + offset;
        let time = UNIX_EPOCH + Duration::from_secs(signed_at.unsigned_abs());
        let described = client_at(time).describe_key().key_id(&key_id).send().await;
        let after = epoch_secs(SystemTime::now());
        let refused = failure(described);
        assert_eq!(refused.kind(), (400, "InvalidSignatureException"));
        let message = refused.message.expect("a message");
        assert!(
            skew_messages(past, signed_at, before, after).contains(&message),
            "signed at {}, between {} and {}: {message}",
            amz_date(signed_at),
            amz_date(before),
            amz_date(after)
        );

        let raw = RawRequest::new("DescribeKey", json!({"KeyId": key_id}).to_string()).signed(
            &cluster.gateways[0].address,
            &credentials,
            time,
        );
        let response = cluster.send_raw(0, raw).await;
        let after = epoch_secs(SystemTime::now());
        let refused = Failure::of_raw(&response);
        assert_eq!(refused.kind(), (400, "InvalidSignatureException"));
        let message = refused.message.expect("a message");
        assert!(
            skew_messages(past, signed_at, before, after).contains(&message),
            "raw, signed at {}: {message}",
            amz_date(signed_at)
        );
    }

    cluster.finish(&[]);
}

#[tokio::test]
async fn temporary_credentials_work_only_with_their_own_session_token() {
    let cluster = Cluster::start(1, 1).await;
    let key_id = create_key(&cluster.client(0)).await;
    let temporary = cluster.create_access_key(ACCOUNT, Some(&user(ACCOUNT, "temp")), Some(900));
    let other = cluster.create_access_key(OTHER_ACCOUNT, None, Some(900));
    assert!(
        temporary.access_key_id().starts_with("ASIA"),
        "{}",
        temporary.access_key_id()
    );
    let token = temporary
        .session_token()
        .expect("temporary credentials come with a session token")
        .to_owned();

    let client = cluster.client_as(0, temporary.clone());
    let metadata = key_metadata(&client, &key_id).await;
    assert_eq!(metadata.arn(), Some(key_arn(&key_id).as_str()));

    let mut altered = token.clone().into_bytes();
    let last = altered.last_mut().expect("a non-empty token");
    *last = if *last == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("an ASCII token");
    let another = other.session_token().map(str::to_owned);
    for presented in [None, Some(altered), another] {
        let client = cluster.client_as(0, with_token(&temporary, presented.clone()));
        let described = client.describe_key().key_id(&key_id).send().await;
        assert_eq!(failure(described), unrecognized(), "{presented:?}");
    }

    // Long-term credentials presented with a session token are not temporary ones.
    let permanent = cluster.create_access_key(ACCOUNT, None, None);
    let client = cluster.client_as(0, with_token(&permanent, Some(token)));
    let described = client.describe_key().key_id(&key_id).send().await;
    assert_eq!(failure(described), unrecognized());

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_deleted_access_key_is_refused() {
    let mut cluster = Cluster::start(1, 1).await;
    let key_id = create_key(&cluster.client(0)).await;
    let used = cluster.create_access_key(ACCOUNT, Some(&user(ACCOUNT, "leaver")), None);
    let unused = cluster.create_access_key(ACCOUNT, Some(&user(ACCOUNT, "never")), None);
    let kept = cluster.create_access_key(ACCOUNT, Some(&user(ACCOUNT, "stayer")), None);
    key_metadata(&cluster.client_as(0, used.clone()), &key_id).await;

    for credentials in [&used, &unused] {
        cluster.accounts_command(&[
            "accounts".to_owned(),
            "delete-access-key".to_owned(),
            "--account-id".to_owned(),
            ACCOUNT.to_owned(),
            "--access-key-id".to_owned(),
            credentials.access_key_id().to_owned(),
        ]);
    }

    // A key never used before its deletion is unknown to the running gateway; a gateway
    // started after the deletion has nothing cached for either.
    let fresh = cluster.add_gateway(&[0]).await;
    for (gateway, credentials) in [(0, &unused), (fresh, &unused), (fresh, &used)] {
        let client = cluster.client_as(gateway, credentials.clone());
        let described = client.describe_key().key_id(&key_id).send().await;
        assert_eq!(
            failure(described),
            unrecognized(),
            "{} at gateway {gateway}",
            credentials.access_key_id()
        );
    }
    let metadata = key_metadata(&cluster.client_as(fresh, kept.clone()), &key_id).await;
    assert_eq!(metadata.key_id(), key_id);

    let list = |account: &str| {
        [
            "accounts".to_owned(),
            "list-access-keys".to_owned(),
            "--account-id".to_owned(),
            account.to_owned(),
        ]
    };
    let listed: serde_json::Value =
        serde_json::from_slice(&cluster.accounts_command(&list(ACCOUNT))).expect("JSON");
    let mut ids: Vec<&str> = listed["AccessKeyMetadata"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|key| key["AccessKeyId"].as_str())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![
        cluster.root_credentials().access_key_id().to_owned(),
        kept.access_key_id().to_owned(),
    ];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    // An account that does not exist is an error, not an empty list.
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_keyshard"))
        .args(list("999999999999"))
        .args(["--database-url", &cluster.database_url])
        .env("KEYSHARD_LOG", "warn")
        .output()
        .expect("keyshard accounts runs");
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("account 999999999999 does not exist"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    cluster.finish(&[]);
}
