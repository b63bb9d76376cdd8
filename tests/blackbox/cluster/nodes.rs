//! The production topology on loopback: a private database on the test Postgres, shards and
//! gateways as separate `keyshard` processes, and what the tests need to watch and break them.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::Client;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _, PgConnection};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};

use crate::harness::{
    ACCOUNT, Observed, START_TIMEOUT, SecretScan, collect_log, listen_address, lock, log_field,
    sdk_client_with, sdk_config_with, send_recorded,
};
use crate::raw_http::{RawRequest, RawResponse};

const DATABASE_URL_VAR: &str = "KEYSHARD_TEST_DATABASE_URL";
const POSTGRES_CTL_VAR: &str = "KEYSHARD_TEST_POSTGRES_CTL";

/// Clusters share the test Postgres; a test that stops it holds this exclusively.
static POSTGRES: RwLock<()> = RwLock::const_new(());

/// A cluster's claim on the test Postgres.
#[expect(
    dead_code,
    reason = "the guards are held for their Drop, which releases the claim"
)]
enum PostgresClaim {
    Shared(RwLockReadGuard<'static, ()>),
    Exclusive(RwLockWriteGuard<'static, ()>),
}
/// Quotas high enough that no cluster test is throttled unless it asks to be.
const UNTHROTTLED: &str = "all=1000000";

/// One `keyshard` process.
pub(crate) struct Node {
    name: String,
    child: Option<Child>,
    pub(crate) address: String,
    pub(crate) metrics: Option<String>,
    /// A gateway's public gRPC API.
    pub(crate) grpc: Option<String>,
    log: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Node {
    /// Starts `keyshard <args>` and waits for its ready line.
    async fn start(name: String, args: Vec<OsString>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyshard"));
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("KEYSHARD_") {
                command.env_remove(var);
            }
        }
        let mut child = command
            .args(&args)
            .env("KEYSHARD_LOG", "info,keyshard=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the keyshard binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel();
        let reader = std::thread::spawn({
            let log = Arc::clone(&log);
            move || collect_log(stderr, &log, &lines_tx)
        });
        let mut node = Self {
            name,
            child: Some(child),
            address: String::new(),
            metrics: None,
            grpc: None,
            log,
            reader: Some(reader),
        };
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            let mut metrics = None;
            while let Some(line) = lines_rx.recv().await {
                if line.contains("metrics endpoint ready") {
                    metrics = listen_address(&line);
                } else if line.contains("ready to serve") {
                    let grpc = log_field(&line, "grpc_listen");
                    return listen_address(&line).map(|address| (address, metrics, grpc));
                }
            }
            None
        })
        .await;
        match ready {
            Ok(Some((address, metrics, grpc))) => {
                node.address = address;
                node.metrics = metrics;
                node.grpc = grpc;
                node
            }
            _ => {
                node.kill();
                panic!(
                    "{} did not become ready; its log:\n{}",
                    node.name,
                    node.log_text()
                );
            }
        }
    }

    /// Sends a signal such as `STOP` or `CONT` to the process.
    pub(crate) fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("the node is running");
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(
            sent.success(),
            "SIG{name} could not be sent to {}",
            self.name
        );
    }

    /// The process id, for reading `/proc/<pid>/status`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("the node is running").id()
    }

    /// Kills the process with SIGKILL and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child
                .wait()
                .expect("the keyshard process can be waited for");
        }
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the log reader does not panic");
        }
    }

    pub(crate) fn log_text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.log)).into_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A database of its own, `shards` shards and `gateways` gateways over all of them.
pub(crate) struct Cluster {
    dir: TempDir,
    pub(crate) database_url: String,
    pub(crate) root_key_file: PathBuf,
    pub(crate) shards: Vec<Node>,
    pub(crate) gateways: Vec<Node>,
    observed: Arc<Mutex<Observed>>,
    /// The access key of [`Cluster::client`]: the root of the test account.
    credentials: Option<Credentials>,
    /// Whether a 503 (no shard could answer) is an expected outcome of the test.
    unavailable_expected: bool,
    postgres: PostgresClaim,
}

impl Cluster {
    pub(crate) async fn start(shards: usize, gateways: usize) -> Self {
        let claim = PostgresClaim::Shared(POSTGRES.read().await);
        Self::start_with(claim, shards, gateways).await
    }

    /// A cluster that may stop and start the test Postgres: no other cluster runs meanwhile.
    pub(crate) async fn start_exclusive(shards: usize, gateways: usize) -> Self {
        let claim = PostgresClaim::Exclusive(POSTGRES.write().await);
        Self::start_with(claim, shards, gateways).await
    }

    async fn start_with(postgres: PostgresClaim, shards: usize, gateways: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database_url = create_database().await;
        let root_key_file = dir.path().join("root-key");
        std::fs::write(&root_key_file, format!("{}\n", "5a".repeat(32))).expect("root key");

        let migrate = Command::new(env!("CARGO_BIN_EXE_keyshard"))
            .args(["migrate", "--database-url", &database_url])
            .output()
            .expect("keyshard migrate runs");
        assert!(
            migrate.status.success(),
            "keyshard migrate failed:\n{}",
            String::from_utf8_lossy(&migrate.stderr)
        );

        let mut cluster = Self {
            dir,
            database_url,
            root_key_file,
            shards: Vec::new(),
            gateways: Vec::new(),
            observed: Arc::new(Mutex::new(Observed::default())),
            unavailable_expected: false,
            postgres,
            credentials: None,
        };
        cluster.credentials = Some(cluster.create_access_key(ACCOUNT, None, None));
        for _ in 0..shards {
            let shard = cluster.start_shard(&[]).await;
            cluster.shards.push(shard);
        }
        let all: Vec<usize> = (0..shards).collect();
        for _ in 0..gateways {
            cluster.add_gateway(&all).await;
        }
        cluster
    }

    /// Starts a shard on this cluster's database with extra flags.
    pub(crate) async fn start_shard(&self, extra: &[&str]) -> Node {
        let mut args: Vec<OsString> = [
            "shard",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        args.extend(["--database-url".into(), self.database_url.clone().into()]);
        if !extra.contains(&"--root-key-file") {
            args.extend([
                "--root-key-file".into(),
                self.root_key_file.clone().into_os_string(),
            ]);
        }
        args.extend(extra.iter().map(OsString::from));
        Node::start(format!("shard {}", self.shards.len()), args).await
    }

    /// Starts a gateway over the shards with these indices and returns its index.
    pub(crate) async fn add_gateway(&mut self, shards: &[usize]) -> usize {
        self.add_gateway_with(shards, &["--quota", UNTHROTTLED])
            .await
    }

    /// Starts a gateway over the shards with these indices, with extra flags, and returns its
    /// index.
    pub(crate) async fn add_gateway_with(&mut self, shards: &[usize], extra: &[&str]) -> usize {
        let addresses: Vec<String> = shards
            .iter()
            .map(|&i| self.shards[i].address.clone())
            .collect();
        self.add_gateway_at(&addresses, extra).await
    }

    /// Starts a gateway over shards at these addresses, such as a relay's in front of a shard,
    /// and returns its index.
    pub(crate) async fn add_gateway_over(&mut self, addresses: &[String]) -> usize {
        self.add_gateway_at(addresses, &["--quota", UNTHROTTLED])
            .await
    }

    async fn add_gateway_at(&mut self, addresses: &[String], extra: &[&str]) -> usize {
        let args = [
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--shards",
            &addresses.join(","),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(OsString::from)
        .collect();
        let gateway = Node::start(format!("gateway {}", self.gateways.len()), args).await;
        self.gateways.push(gateway);
        self.gateways.len() - 1
    }

    /// The credentials of the test account's root, which [`Cluster::client`] signs with.
    pub(crate) fn root_credentials(&self) -> Credentials {
        self.credentials
            .clone()
            .expect("the cluster has credentials")
    }

    /// A file in the cluster's temporary directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A client of one gateway acting as the test account's root.
    pub(crate) fn client(&self, gateway: usize) -> Client {
        let credentials = self
            .credentials
            .clone()
            .expect("the cluster has credentials");
        self.client_as(gateway, credentials)
    }

    /// A client of one gateway signing with `credentials`.
    pub(crate) fn client_as(&self, gateway: usize, credentials: Credentials) -> Client {
        sdk_client_with(&self.gateways[gateway].address, &self.observed, credentials)
    }

    /// The configuration of [`Cluster::client_as`], for a test to change before building a
    /// client.
    pub(crate) fn config_as(
        &self,
        gateway: usize,
        credentials: Credentials,
    ) -> aws_sdk_kms::config::Builder {
        sdk_config_with(&self.gateways[gateway].address, &self.observed, credentials)
    }

    /// Sends a hand-built request to one gateway over a fresh TCP connection.
    pub(crate) async fn send_raw(&self, gateway: usize, request: RawRequest) -> RawResponse {
        send_recorded(&self.gateways[gateway].address, &self.observed, request).await
    }

    /// Issues an access key with `keyshard accounts create-access-key` (temporary credentials
    /// when `duration_seconds` is given) and registers its secrets as ones no log may hold.
    pub(crate) fn create_access_key(
        &self,
        account: &str,
        principal: Option<&str>,
        duration_seconds: Option<u32>,
    ) -> Credentials {
        let mut args = vec![
            "accounts".to_owned(),
            "create-access-key".to_owned(),
            "--account-id".to_owned(),
            account.to_owned(),
            "--root-key-file".to_owned(),
            self.root_key_file.display().to_string(),
        ];
        if let Some(principal) = principal {
            args.extend(["--principal".to_owned(), principal.to_owned()]);
        }
        if let Some(seconds) = duration_seconds {
            args.extend(["--duration-seconds".to_owned(), seconds.to_string()]);
        }
        let output = self.accounts_command(&args);
        let key: serde_json::Value =
            serde_json::from_slice(&output).expect("create-access-key prints JSON");
        let key = &key["AccessKey"];
        let text = |name: &str| key[name].as_str().map(str::to_owned);
        let secret = text("SecretAccessKey").expect("a secret access key");
        let token = text("SessionToken");
        {
            let mut observed = lock(&self.observed);
            observed.secrets.push(secret.clone().into_bytes());
            if let Some(token) = &token {
                observed.secrets.push(token.clone().into_bytes());
            }
        }
        Credentials::new(
            text("AccessKeyId").expect("an access key id"),
            secret,
            token,
            None,
            "keyshard accounts",
        )
    }

    /// Runs `keyshard accounts <args>` on the cluster's database and returns its stdout.
    pub(crate) fn accounts_command(&self, args: &[String]) -> Vec<u8> {
        let output = Command::new(env!("CARGO_BIN_EXE_keyshard"))
            .args(args)
            .args(["--database-url", &self.database_url])
            .env("KEYSHARD_LOG", "warn")
            .output()
            .expect("keyshard accounts runs");
        assert!(
            output.status.success(),
            "keyshard {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// The status of a node's `/readyz`: 200 when it should get requests, 503 otherwise.
    pub(crate) async fn readiness(node: &Node) -> u16 {
        let address = node.metrics.as_deref().expect("the node serves metrics");
        http_status(address, "/readyz").await.0
    }

    /// A counter from a shard's `/metrics`.
    pub(crate) async fn metric(&self, shard: usize, name: &str) -> u64 {
        read_metric(&self.shards[shard], name).await
    }

    /// A counter from a gateway's `/metrics`, named with its labels.
    pub(crate) async fn gateway_metric(&self, gateway: usize, name: &str) -> u64 {
        read_metric(&self.gateways[gateway], name).await
    }

    /// Stops (`"stop"`) or starts (`"start"`) the test Postgres; needs an exclusive cluster.
    pub(crate) fn postgres_ctl(&self, action: &str) {
        assert!(
            matches!(self.postgres, PostgresClaim::Exclusive(_)),
            "only a cluster started with start_exclusive may stop Postgres"
        );
        let ctl = std::env::var_os(POSTGRES_CTL_VAR)
            .unwrap_or_else(|| panic!("{POSTGRES_CTL_VAR} is not set: run `scripts/test`"));
        let status = Command::new(ctl)
            .arg(action)
            .status()
            .expect("the Postgres control script runs");
        assert!(status.success(), "postgres {action} failed");
    }

    /// A connection to the cluster's database, for reading what it stores.
    pub(crate) async fn database(&self) -> PgConnection {
        PgConnection::connect(&self.database_url)
            .await
            .expect("the test database accepts connections")
    }

    /// Lets the test's calls be answered with HTTP 503, as they are when every shard a gateway
    /// knows is gone.
    pub(crate) fn expect_unavailable(&mut self) {
        self.unavailable_expected = true;
    }

    /// Stops every process and fails on WARN or ERROR lines other than the allowed ones, on
    /// panics, on any 5xx, and on any secret the
    /// test handled appearing in a log.
    pub(crate) fn finish(mut self, allowed_warnings: &[&str]) {
        let mut nodes: Vec<Node> = self
            .shards
            .drain(..)
            .chain(self.gateways.drain(..))
            .collect();
        for node in &mut nodes {
            node.kill();
        }
        let observed = lock(&self.observed);
        let scan = SecretScan::new(&observed.secrets);
        for seen in &observed.responses {
            let allowed = self.unavailable_expected && seen.status == 503;
            assert!(
                seen.status < 500 || allowed,
                "{} was answered with HTTP {}",
                seen.request,
                seen.status
            );
        }
        let mut unexpected = Vec::new();
        for node in &nodes {
            let log = lock(&node.log).clone();
            let text = String::from_utf8_lossy(&log);
            for line in text.lines() {
                let level = line.split_whitespace().nth(1);
                let flagged = matches!(level, Some("WARN" | "ERROR"))
                    && !allowed_warnings.iter().any(|w| line.contains(w));
                if flagged || line.contains("panicked") {
                    unexpected.push(format!("{}: {line}", node.name));
                }
            }
            if let Some(form) = scan.leaked_form(&log) {
                panic!("a secret appears in the log of {} {form}", node.name);
            }
        }
        assert!(
            unexpected.is_empty(),
            "unexpected log lines:\n{}",
            unexpected.join("\n")
        );
    }

    /// Registers bytes the test handled that no log may hold.
    pub(crate) fn observe_secret(&self, secret: &[u8]) {
        lock(&self.observed).secrets.push(secret.to_vec());
    }

    /// Every secret the test's clients sent or received.
    pub(crate) fn secrets(&self) -> Vec<Vec<u8>> {
        lock(&self.observed).secrets.clone()
    }
}

/// A counter from a node's `/metrics`.
async fn read_metric(node: &Node, name: &str) -> u64 {
    metric_in(&scrape(node).await, name)
}

/// A node's `/metrics` text, for reading several values of one moment with [`metric_in`].
pub(crate) async fn scrape(node: &Node) -> String {
    let address = node.metrics.as_deref().expect("the node serves metrics");
    http_get(address, "/metrics").await
}

/// The value of the sample `name` (with its labels) in metrics text.
pub(crate) fn metric_in(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{name} is not in the metrics:\n{metrics}"))
}

/// Creates an empty database on the test server and returns its URL.
pub(crate) async fn create_database() -> String {
    let Ok(server_url) = std::env::var(DATABASE_URL_VAR) else {
        panic!(
            "{DATABASE_URL_VAR} is not set: run `scripts/test`, which starts a private Postgres \
             for these tests and sets it"
        );
    };
    let name = format!("cluster_{}", uuid_like());
    let mut server = PgConnection::connect(&server_url)
        .await
        .expect("the test Postgres accepts connections");
    server
        .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("CREATE DATABASE");
    server.close().await.ok();
    PgConnectOptions::from_str(&server_url)
        .expect("a valid URL")
        .database(&name)
        .to_url_lossy()
        .to_string()
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:x}{:x}", std::process::id())
}

/// A plain HTTP/1.1 GET, for the metrics endpoint.
async fn http_get(address: &str, path: &str) -> String {
    let (status, body) = http_status(address, path).await;
    assert_eq!(status, 200, "{path} answered {body}");
    body
}

/// The status and body of a GET on an admin endpoint.
async fn http_status(address: &str, path: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("the metrics endpoint accepts");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response read");
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the metrics endpoint answers");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}
