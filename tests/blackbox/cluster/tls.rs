//! TLS in the production topology: the AWS SDK over HTTPS to a gateway, certificates replaced
//! while it runs, and mutual TLS between gateways and shards.

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use keyshard_tls::{ClientTls, ClientTlsFiles};
use rcgen::ExtendedKeyUsagePurpose;
use tokio::time::Instant;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::nodes::Cluster;
use crate::raw_http::{RawRequest, exchange};
use crate::support::{create_key, failure, key_arn};
use crate::test_ca::{Leaf, TestCa, path_text as text, replace};

/// How long a test waits for a reload; the gateways under test read their files every second.
const RELOAD_WAIT: Duration = Duration::from_secs(20);

/// An SDK client of `gateway` over HTTPS that trusts only the CA in `ca_pem`.
fn https_client(cluster: &Cluster, gateway: usize, ca_pem: &str) -> Client {
    let trust = TrustStore::empty().with_pem_certificate(ca_pem.as_bytes());
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    let config = cluster
        .config_as(gateway, cluster.root_credentials())
        .endpoint_url(format!("https://{}", cluster.gateways[gateway].address))
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// Whether a new connection to `gateway` that trusts only `ca_pem` gets an answer.
async fn trusted_by(cluster: &Cluster, gateway: usize, ca_pem: &str) -> bool {
    let client = https_client(cluster, gateway, ca_pem);
    match client.list_keys().send().await {
        Ok(_) => true,
        Err(err) => {
            assert!(
                err.raw_response().is_none(),
                "a refused certificate gets no HTTP answer, got {err:?}"
            );
            false
        }
    }
}

/// Starts a gateway over shard 0 serving `leaf` on its client ports, reading its files every
/// second.
async fn tls_gateway(cluster: &mut Cluster, leaf: &Leaf, extra: &[&str]) -> usize {
    cluster.observe_secret(&leaf.key_der);
    let (cert, key) = leaf.write(&cluster.path(""), "gateway");
    let mut args = vec![
        "--tls-cert-file",
        text(&cert),
        "--tls-key-file",
        text(&key),
        "--tls-reload-interval-seconds",
        "1",
    ];
    args.extend_from_slice(extra);
    cluster.add_gateway_with(&[0], &args).await
}

#[tokio::test]
async fn the_aws_sdk_and_grpc_work_over_tls_and_plain_http_is_refused() {
    let mut cluster = Cluster::start(1, 0).await;
    let ca = TestCa::new("keyshard test CA");
    let gateway = tls_gateway(
        &mut cluster,
        &ca.issue(ExtendedKeyUsagePurpose::ServerAuth),
        &[],
    )
    .await;
    let client = https_client(&cluster, gateway, &ca.pem());

    let key_id = create_key(&client).await;
    let generated = client
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey over HTTPS");
    let plaintext = generated.plaintext().expect("Plaintext").as_ref().to_vec();
    assert_eq!(plaintext.len(), 32);
    assert_eq!(generated.key_id(), Some(key_arn(&key_id).as_str()));
    let decrypted = client
        .decrypt()
        .ciphertext_blob(generated.ciphertext_blob().expect("CiphertextBlob").clone())
        .send()
        .await
        .expect("Decrypt over HTTPS");
    assert_eq!(
        decrypted.plaintext().map(|p| p.as_ref().to_vec()),
        Some(plaintext)
    );

    let ca_file = cluster.path("ca.crt");
    replace(&ca_file, &ca.pem());
    let files = ClientTlsFiles {
        ca: ca_file,
        identity: None,
        server_name: None,
    };
    let connector = ClientTls::load(&files, Duration::from_secs(60)).expect("the test CA loads");
    let grpc = cluster.gateways[gateway]
        .grpc
        .clone()
        .expect("a public gRPC port");
    let channel = Endpoint::from_shared(format!("https://{grpc}"))
        .expect("a valid endpoint")
        .connect_with_connector(connector)
        .await
        .expect("a TLS connection to the public gRPC port");
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "keyshard.kms.v1.KeyManagement".to_owned(),
        })
        .await
        .expect("a health answer over TLS");
    assert_eq!(answer.into_inner().status(), ServingStatus::Serving);

    let address = cluster.gateways[gateway].address.clone();
    let plain =
        tokio::task::spawn_blocking(move || exchange(&address, &RawRequest::new("ListKeys", "{}")))
            .await
            .expect("the raw exchange does not panic");
    assert!(
        plain.is_err(),
        "a plain HTTP request to the TLS port got an HTTP answer: {:?}",
        plain.map(|r| r.status)
    );

    cluster.finish(&[]);
}

#[tokio::test]
async fn a_replaced_certificate_serves_new_connections_and_a_bad_one_is_ignored() {
    let mut cluster = Cluster::start(1, 0).await;
    let (first, second) = (TestCa::new("first CA"), TestCa::new("second CA"));
    let gateway = tls_gateway(
        &mut cluster,
        &first.issue(ExtendedKeyUsagePurpose::ServerAuth),
        &[],
    )
    .await;
    assert!(trusted_by(&cluster, gateway, &first.pem()).await);
    assert!(!trusted_by(&cluster, gateway, &second.pem()).await);

    // A key that does not belong to the certificate: the gateway keeps the first pair.
    let (one, other) = (
        second.issue(ExtendedKeyUsagePurpose::ServerAuth),
        second.issue(ExtendedKeyUsagePurpose::ServerAuth),
    );
    cluster.observe_secret(&other.key_der);
    let mismatched = Leaf {
        cert: one.cert,
        key: other.key,
        key_der: other.key_der,
    };
    mismatched.write(&cluster.path(""), "gateway");
    let deadline = Instant::now() + RELOAD_WAIT;
    while !cluster.gateways[gateway]
        .log_text()
        .contains("the changed TLS files are not usable")
    {
        assert!(Instant::now() < deadline, "the bad pair was not read");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cluster.gateways[gateway]
            .log_text()
            .contains("the private key in")
    );
    assert!(trusted_by(&cluster, gateway, &first.pem()).await);

    let renewed = second.issue(ExtendedKeyUsagePurpose::ServerAuth);
    cluster.observe_secret(&renewed.key_der);
    renewed.write(&cluster.path(""), "gateway");
    let deadline = Instant::now() + RELOAD_WAIT;
    while !trusted_by(&cluster, gateway, &second.pem()).await {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!trusted_by(&cluster, gateway, &first.pem()).await);
    assert!(
        cluster.gateways[gateway]
            .log_text()
            .contains("TLS files changed; new connections use them")
    );

    cluster.finish(&["the changed TLS files are not usable"]);
}

#[tokio::test]
async fn a_shard_requiring_client_certificates_serves_only_a_gateway_that_has_one() {
    let mut cluster = Cluster::start(0, 0).await;
    let ca = TestCa::new("internal CA");
    let dir = cluster.path("");
    let (shard_leaf, client_leaf) = (
        ca.issue(ExtendedKeyUsagePurpose::ServerAuth),
        ca.issue(ExtendedKeyUsagePurpose::ClientAuth),
    );
    cluster.observe_secret(&shard_leaf.key_der);
    cluster.observe_secret(&client_leaf.key_der);
    let (shard_cert, shard_key) = shard_leaf.write(&dir, "shard");
    let (client_cert, client_key) = client_leaf.write(&dir, "gateway-client");
    let ca_file = dir.join("internal-ca.crt");
    replace(&ca_file, &ca.pem());
    let shard = cluster
        .start_shard(&[
            "--tls-cert-file",
            text(&shard_cert),
            "--tls-key-file",
            text(&shard_key),
            "--tls-client-ca-file",
            text(&ca_file),
        ])
        .await;
    cluster.shards.push(shard);

    let without = cluster
        .add_gateway_with(&[0], &["--shard-tls-ca-file", text(&ca_file)])
        .await;
    let with = cluster
        .add_gateway_with(
            &[0],
            &[
                "--shard-tls-ca-file",
                text(&ca_file),
                "--shard-tls-cert-file",
                text(&client_cert),
                "--shard-tls-key-file",
                text(&client_key),
            ],
        )
        .await;

    cluster.expect_unavailable();
    let refused = cluster.client(without).create_key().send().await;
    assert_eq!(failure(refused).kind(), (503, "DependencyTimeoutException"));
    assert_eq!(Cluster::readiness(&cluster.gateways[without]).await, 503);

    let client = cluster.client(with);
    let key_id = create_key(&client).await;
    let generated = client
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey through mutual TLS");
    assert_eq!(generated.plaintext().map(|p| p.as_ref().len()), Some(32));
    let decrypted = client
        .decrypt()
        .ciphertext_blob(generated.ciphertext_blob().expect("CiphertextBlob").clone())
        .send()
        .await
        .expect("Decrypt through mutual TLS");
    assert_eq!(decrypted.plaintext(), generated.plaintext());
    assert_eq!(Cluster::readiness(&cluster.gateways[with]).await, 200);

    cluster.finish(&["shard call failed", "request failed"]);
}
