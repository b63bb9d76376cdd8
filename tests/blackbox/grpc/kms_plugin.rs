//! `keyshard kms-plugin` over a real Unix socket, driven by a tonic client of the upstream
//! Kubernetes KMS v2 proto, as kube-apiserver drives it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use keyshard_proto::k8s_kms_v2 as v2;
use keyshard_proto::k8s_kms_v2::key_management_service_client::KeyManagementServiceClient;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint, Uri};

use keyshard_client::{Client, Credentials};
use keyshard_tls::{ClientTls, ClientTlsFiles};
use rcgen::ExtendedKeyUsagePurpose;

use super::start;
use crate::harness::{
    ACCESS_KEY_ID, Keyshard, REGION, SECRET_ACCESS_KEY, START_TIMEOUT, collect_log, lock,
};
use crate::support::key_arn;
use crate::test_ca::{TestCa, path_text, replace};

/// Connects every channel to one Unix socket.
#[derive(Clone)]
struct UnixConnector(PathBuf);

impl tower_service::Service<Uri> for UnixConnector {
    type Response = TokioIo<UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move { UnixStream::connect(path).await.map(TokioIo::new) })
    }
}

/// A running `keyshard kms-plugin`, killed when dropped.
struct Plugin {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Plugin {
    /// Starts the plugin for `key_arn` against the gateway at `endpoint`, with `extra` flags.
    async fn start(socket: &Path, endpoint: &str, key_arn: &str, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyshard"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KEYSHARD_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .arg("kms-plugin")
            .arg("--socket")
            .arg(socket)
            .args(["--endpoint", endpoint])
            .args(["--key-id", key_arn])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env_remove("AWS_SESSION_TOKEN")
            .env("KEYSHARD_LOG", "info,keyshard=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the keyshard binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel();
        std::thread::spawn({
            let log = Arc::clone(&log);
            move || collect_log(stderr, &log, &lines_tx)
        });
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines_rx.recv().await {
                if line.contains("kms plugin ready to serve") {
                    return true;
                }
            }
            false
        })
        .await;
        let plugin = Self { child, log };
        assert_eq!(
            ready,
            Ok(true),
            "the plugin did not become ready; its log:\n{}",
            String::from_utf8_lossy(&lock(&plugin.log))
        );
        plugin
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        // The process may have exited already; either way it is reaped.
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

async fn connect(socket: &Path) -> KeyManagementServiceClient<Channel> {
    let channel = Endpoint::from_static("http://kms-plugin")
        .connect_with_connector(UnixConnector(socket.to_owned()))
        .await
        .expect("the plugin accepts connections on its socket");
    KeyManagementServiceClient::new(channel)
}

async fn status(client: &mut KeyManagementServiceClient<Channel>) -> v2::StatusResponse {
    client
        .status(v2::StatusRequest {})
        .await
        .expect("Status")
        .into_inner()
}

#[tokio::test]
async fn the_kms_v2_plugin_encrypts_and_reports_rotation_in_its_key_id() {
    let keyshard = start().await;
    let json = keyshard.client();
    let key_id = crate::support::create_key(&json).await;
    let arn = key_arn(&key_id);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("kms.sock");
    let endpoint = format!("http://{}", keyshard.grpc_address());
    let plugin = Plugin::start(&socket, &endpoint, &arn, &[]).await;
    let mut client = connect(&socket).await;

    let first = status(&mut client).await;
    assert_eq!(
        (first.version.as_str(), first.healthz.as_str()),
        ("v2", "ok")
    );
    let material = crate::support::key_metadata(&json, &key_id)
        .await
        .current_key_material_id()
        .expect("a key material id")
        .to_owned();
    assert_eq!(first.key_id, format!("{arn}#{material}"));

    let seed = b"a 32-byte data encryption key!!!".to_vec();
    keyshard.observe_secret(&seed);
    let encrypted = client
        .encrypt(v2::EncryptRequest {
            plaintext: seed.clone(),
            uid: "uid-1".to_owned(),
        })
        .await
        .expect("Encrypt")
        .into_inner();
    assert_eq!(encrypted.key_id, first.key_id);
    let decrypted = client
        .decrypt(v2::DecryptRequest {
            ciphertext: encrypted.ciphertext.clone(),
            uid: "uid-2".to_owned(),
            key_id: encrypted.key_id.clone(),
            annotations: encrypted.annotations.clone(),
        })
        .await
        .expect("Decrypt")
        .into_inner();
    assert_eq!(decrypted.plaintext, seed);

    json.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    // The rotation is announced to the shard's cache; in `keyshard dev` that takes moments.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let rotated = loop {
        let now = status(&mut client).await;
        if now.key_id != first.key_id || tokio::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rotated.healthz, "ok");
    assert_ne!(rotated.key_id, first.key_id);
    assert!(
        rotated.key_id.starts_with(&format!("{arn}#")),
        "{}",
        rotated.key_id
    );

    let after = client
        .encrypt(v2::EncryptRequest {
            plaintext: seed.clone(),
            uid: "uid-3".to_owned(),
        })
        .await
        .expect("Encrypt after rotation")
        .into_inner();
    assert_eq!(after.key_id, rotated.key_id);
    let old = client
        .decrypt(v2::DecryptRequest {
            ciphertext: encrypted.ciphertext,
            uid: "uid-4".to_owned(),
            key_id: first.key_id.clone(),
            annotations: Default::default(),
        })
        .await
        .expect("Decrypt of a ciphertext from before the rotation")
        .into_inner();
    assert_eq!(old.plaintext, seed);

    json.disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");
    let unhealthy = status(&mut client).await;
    assert_eq!(unhealthy.healthz, format!("key {arn} is Disabled"));

    drop(plugin);
    keyshard.finish();
}

#[tokio::test]
async fn the_kms_v2_plugin_reaches_a_gateway_over_tls() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("plugin test CA");
    let leaf = ca.issue(ExtendedKeyUsagePurpose::ServerAuth);
    let (cert, key) = leaf.write(dir.path(), "gateway");
    let ca_file = dir.path().join("ca.crt");
    replace(&ca_file, &ca.pem());
    let keyshard = Keyshard::start_with_args(&[
        "--grpc-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        path_text(&cert),
        "--tls-key-file",
        path_text(&key),
    ])
    .await;
    keyshard.observe_secret(&leaf.key_der);

    let files = ClientTlsFiles {
        ca: ca_file.clone(),
        identity: None,
        server_name: None,
    };
    let tls = ClientTls::load(&files, Duration::from_secs(60)).expect("the test CA loads");
    let endpoint = format!("https://{}", keyshard.grpc_address());
    let uri: Uri = endpoint.parse().expect("a valid endpoint");
    let channel = Endpoint::from(uri.clone())
        .connect_with_connector(tls)
        .await
        .expect("the public gRPC API accepts TLS connections");
    let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None);
    let api = Client::with_channel(channel, uri, REGION, credentials);
    let arn = key_arn(&super::create_key(&api).await);

    let socket = dir.path().join("kms.sock");
    let plugin = Plugin::start(
        &socket,
        &endpoint,
        &arn,
        &["--endpoint-ca-file", path_text(&ca_file)],
    )
    .await;
    let mut client = connect(&socket).await;
    let answer = status(&mut client).await;
    assert_eq!(
        (answer.version.as_str(), answer.healthz.as_str()),
        ("v2", "ok")
    );
    assert!(
        answer.key_id.starts_with(&format!("{arn}#")),
        "{}",
        answer.key_id
    );

    let seed = b"another 32-byte encryption key!!".to_vec();
    keyshard.observe_secret(&seed);
    let encrypted = client
        .encrypt(v2::EncryptRequest {
            plaintext: seed.clone(),
            uid: "uid-tls".to_owned(),
        })
        .await
        .expect("Encrypt through TLS")
        .into_inner();
    let decrypted = client
        .decrypt(v2::DecryptRequest {
            ciphertext: encrypted.ciphertext,
            uid: "uid-tls-2".to_owned(),
            key_id: encrypted.key_id,
            annotations: encrypted.annotations,
        })
        .await
        .expect("Decrypt through TLS")
        .into_inner();
    assert_eq!(decrypted.plaintext, seed);

    drop(plugin);
    keyshard.finish();
}
