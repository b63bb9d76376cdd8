//! What the Keyshard cases run on: `keyshard dev` on a temporary data directory, and gateways
//! in front of shards on a Postgres database the bench creates for itself, every process a
//! child of the bench.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr as _;

use keyshard_core::id::KeyId;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _, PgConnection};

use super::BenchError;
use super::process::{self, ProcessError, Ready, Server};
use super::signing::BenchCredentials;
use crate::root_key;

/// The account the bench's requests act in, as the root.
const BENCH_ACCOUNT: &str = "111122223333";

/// A database of the bench's own on the given server, dropped by [`PrivateDatabase::drop`].
pub(crate) struct PrivateDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl PrivateDatabase {
    pub(crate) async fn create(server_url: &str) -> Result<Self, sqlx::Error> {
        let name = format!(
            "keyshard_bench_{}",
            KeyId::generate().to_string().replace('-', "")
        );
        let mut server = PgConnection::connect(server_url).await?;
        server
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        server.close().await?;
        let url = PgConnectOptions::from_str(server_url)?
            .database(&name)
            .to_url_lossy()
            .to_string();
        Ok(Self {
            server_url: server_url.to_owned(),
            name,
            url,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database; every process using it must have stopped.
    pub(crate) async fn drop(self) -> Result<(), sqlx::Error> {
        let mut server = PgConnection::connect(&self.server_url).await?;
        server
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await?;
        server.close().await
    }
}

/// Starts Keyshard processes from the bench's own executable.
pub(crate) struct Launcher {
    exe: PathBuf,
    work: PathBuf,
}

/// A gateway and the shards behind it.
pub(crate) struct Cluster {
    pub(crate) gateway: Server,
    /// The gateway's public gRPC API.
    pub(crate) grpc: SocketAddr,
    pub(crate) shards: Vec<Server>,
}

impl Cluster {
    /// The PIDs whose CPU time a request through this cluster costs.
    pub(crate) fn pids(&self) -> Vec<u32> {
        std::iter::once(&self.gateway)
            .chain(&self.shards)
            .map(Server::pid)
            .collect()
    }

    /// The shards' `/metrics` addresses.
    pub(crate) fn shard_metrics(&self) -> Vec<SocketAddr> {
        self.shards.iter().filter_map(Server::metrics).collect()
    }
}

impl Launcher {
    /// `exe` is `keyshard`; `work` a private directory for data directories and root keys.
    pub(crate) fn new(exe: PathBuf, work: &Path) -> Self {
        Self {
            exe,
            work: work.to_owned(),
        }
    }

    /// Starts a reference server (`keyshard bench-server`).
    pub(crate) async fn reference(
        &self,
        role: &str,
        backend: Option<SocketAddr>,
    ) -> Result<Server, ProcessError> {
        let mut args = args(&["bench-server", role, "--listen", "127.0.0.1:0"]);
        if let Some(backend) = backend {
            args.extend(self::args(&["--backend", &backend.to_string()]));
        }
        self.start(&format!("bench-server {role}"), args).await
    }

    /// Starts `keyshard dev` on a new data directory.
    pub(crate) async fn dev(&self) -> Result<Server, ProcessError> {
        let mut args = args(&[
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ]);
        args.extend(["--data-dir".into(), self.work.join("dev").into_os_string()]);
        self.start("keyshard dev", args).await
    }

    /// Starts `shards` shards on `database_url` (the first one applies the migrations) with
    /// `shard_flags` added, and a gateway in front of them.
    pub(crate) async fn cluster(
        &self,
        name: &str,
        database_url: &str,
        shards: usize,
        shard_flags: &[&str],
    ) -> Result<Cluster, BenchError> {
        let root_key = self.root_key_file()?;
        let mut started = Vec::new();
        for index in 0..shards {
            let mut args = args(&[
                "shard",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ]);
            args.extend(["--root-key-file".into(), root_key.clone().into_os_string()]);
            if index == 0 {
                args.push("--migrate".into());
            }
            args.extend(self::args(shard_flags));
            started.push(self.start(&format!("{name} shard {index}"), args).await?);
        }
        let addresses: Vec<String> = started.iter().map(|s| s.address().to_string()).collect();
        let grpc_port = process::free_port().map_err(BenchError::Port)?;
        let grpc = SocketAddr::from(([127, 0, 0, 1], grpc_port));
        let gateway = self
            .start(
                &format!("{name} gateway"),
                args(&[
                    "gateway",
                    "--listen",
                    "127.0.0.1:0",
                    "--shards",
                    &addresses.join(","),
                    // The bench measures capacity, not the default request quotas.
                    "--quota",
                    "all=1000000000",
                    "--grpc-listen",
                    &grpc.to_string(),
                ]),
            )
            .await?;
        Ok(Cluster {
            gateway,
            grpc,
            shards: started,
        })
    }

    /// Issues an access key for the bench account with `keyshard accounts create-access-key` on
    /// `database_url`, which a cluster has migrated.
    pub(crate) fn issue_access_key(
        &self,
        database_url: &str,
    ) -> Result<BenchCredentials, BenchError> {
        let root_key = self.root_key_file()?;
        let output = Command::new(&self.exe)
            .args([
                "accounts",
                "create-access-key",
                "--account-id",
                BENCH_ACCOUNT,
            ])
            .args(["--database-url", database_url])
            .arg("--root-key-file")
            .arg(&root_key)
            .env("KEYSHARD_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| BenchError::AccessKey(err.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return Err(BenchError::AccessKey(stderr));
        }
        let printed: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|err| BenchError::AccessKey(err.to_string()))?;
        let field = |name: &str| {
            printed["AccessKey"][name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| BenchError::AccessKey(format!("no {name} in its output")))
        };
        Ok(BenchCredentials::new(
            field("AccessKeyId")?,
            field("SecretAccessKey")?,
        ))
    }

    async fn start(&self, name: &str, args: Vec<OsString>) -> Result<Server, ProcessError> {
        Server::start(name, &self.exe, &args, &[], Ready::LogLine).await
    }

    /// The deployment's root key, made on first use.
    fn root_key_file(&self) -> Result<PathBuf, BenchError> {
        let path = self.work.join("root-key");
        root_key::ensure_generated(&path)?;
        Ok(path)
    }
}

fn args(parts: &[&str]) -> Vec<OsString> {
    parts.iter().map(OsString::from).collect()
}
