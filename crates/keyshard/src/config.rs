//! Command-line flags and their environment variables, for every subcommand. This file is the
//! one place settings are defined; the README's configuration table mirrors it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keyshard_core::id::Scope;
use keyshard_core::rotation::DEFAULT_ON_DEMAND_ROTATION_LIMIT;

/// Where callers act: the account and the region used in ARNs.
#[derive(clap::Args, Clone)]
pub(crate) struct ScopeArgs {
    /// Region used in key and alias ARNs. Keys are bound to it: keep it fixed for a deployment.
    #[arg(long, env = "KEYSHARD_REGION", default_value = "us-east-1")]
    pub(crate) region: String,

    /// The account every caller acts in when signatures are not verified (`keyshard dev`, or
    /// `--auth danger-accept-any-credentials`); unused under `--auth sigv4`, where each access
    /// key names its account.
    #[arg(long, env = "KEYSHARD_ACCOUNT_ID", default_value = "111122223333")]
    pub(crate) account_id: String,
}

/// An account or region flag with a malformed value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScopeError {
    #[error("invalid --account-id `{0}`: an account id is 12 digits")]
    Account(String),

    #[error("invalid --region `{0}`")]
    Region(String),
}

impl ScopeArgs {
    pub(crate) fn parse(&self) -> Result<Scope, ScopeError> {
        Ok(Scope {
            account: self
                .account_id
                .parse()
                .map_err(|_| ScopeError::Account(self.account_id.clone()))?,
            region: self
                .region
                .parse()
                .map_err(|_| ScopeError::Region(self.region.clone()))?,
        })
    }
}

/// How long a stopping process lets open requests finish.
#[derive(clap::Args, Clone, Copy)]
pub(crate) struct ShutdownArgs {
    /// On SIGTERM, the process reports itself not ready, stops taking connections and lets
    /// requests in flight finish for at most this many seconds before it exits.
    #[arg(long, env = "KEYSHARD_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub(crate) shutdown_grace_seconds: u64,
}

impl ShutdownArgs {
    pub(crate) fn grace(self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// TLS on the client-facing ports: the AWS KMS JSON API and the public gRPC API.
#[derive(clap::Args)]
pub(crate) struct ClientPortTlsArgs {
    /// PEM certificate chain, leaf first, served on the JSON API and the public gRPC API;
    /// plaintext HTTP without it. Needs `--tls-key-file`.
    #[arg(long, env = "KEYSHARD_TLS_CERT_FILE")]
    pub(crate) tls_cert_file: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert-file`.
    #[arg(long, env = "KEYSHARD_TLS_KEY_FILE")]
    pub(crate) tls_key_file: Option<PathBuf>,
}

/// How often TLS files are read again.
#[derive(clap::Args, Clone, Copy)]
pub(crate) struct TlsReloadArgs {
    /// Seconds between reads of every TLS file; changed files that make a valid configuration
    /// apply to new connections, and invalid ones are logged and ignored.
    #[arg(
        long,
        env = "KEYSHARD_TLS_RELOAD_INTERVAL_SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) tls_reload_interval_seconds: u64,
}

impl TlsReloadArgs {
    pub(crate) fn interval(self) -> Duration {
        Duration::from_secs(self.tls_reload_interval_seconds)
    }
}

/// TLS from a gateway to its shards.
#[derive(clap::Args)]
pub(crate) struct ShardClientTlsArgs {
    /// PEM CA bundle the shards' certificates must chain to; shards are reached over TLS when
    /// it is given, and over plaintext gRPC otherwise.
    #[arg(long, env = "KEYSHARD_SHARD_TLS_CA_FILE")]
    pub(crate) shard_tls_ca_file: Option<PathBuf>,

    /// PEM client certificate chain the gateway presents to shards that require one. Needs
    /// `--shard-tls-key-file` and `--shard-tls-ca-file`.
    #[arg(long, env = "KEYSHARD_SHARD_TLS_CERT_FILE")]
    pub(crate) shard_tls_cert_file: Option<PathBuf>,

    /// PEM private key of `--shard-tls-cert-file`.
    #[arg(long, env = "KEYSHARD_SHARD_TLS_KEY_FILE")]
    pub(crate) shard_tls_key_file: Option<PathBuf>,

    /// Name every shard's certificate must carry (a DNS name or an IP address); by default the
    /// host of each `--shards` address.
    #[arg(long, env = "KEYSHARD_SHARD_TLS_SERVER_NAME")]
    pub(crate) shard_tls_server_name: Option<String>,
}

/// TLS on a shard's gRPC port.
#[derive(clap::Args)]
pub(crate) struct ShardTlsArgs {
    /// PEM certificate chain, leaf first, served on the internal gRPC API; plaintext without
    /// it. Needs `--tls-key-file`.
    #[arg(long, env = "KEYSHARD_TLS_CERT_FILE")]
    pub(crate) tls_cert_file: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert-file`.
    #[arg(long, env = "KEYSHARD_TLS_KEY_FILE")]
    pub(crate) tls_key_file: Option<PathBuf>,

    /// PEM CA bundle: when given, every caller must present a client certificate signed by
    /// one of these CAs (mutual TLS). Needs `--tls-cert-file`.
    #[arg(long, env = "KEYSHARD_TLS_CLIENT_CA_FILE")]
    pub(crate) tls_client_ca_file: Option<PathBuf>,
}

/// `keyshard dev`.
#[derive(clap::Args)]
pub(crate) struct DevArgs {
    /// Address the AWS KMS JSON API listens on.
    #[arg(long, env = "KEYSHARD_LISTEN", default_value = "127.0.0.1:8300")]
    pub(crate) listen: SocketAddr,

    /// Directory holding the embedded database and the generated root key.
    #[arg(long, env = "KEYSHARD_DATA_DIR", default_value = "keyshard-data")]
    pub(crate) data_dir: PathBuf,

    /// Address of the public gRPC API (`keyshard.kms.v1`); not served unless given.
    #[arg(long, env = "KEYSHARD_GRPC_LISTEN")]
    pub(crate) grpc_listen: Option<SocketAddr>,

    /// Address of the HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "KEYSHARD_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<SocketAddr>,

    #[command(flatten)]
    pub(crate) key_deletion: KeyDeletionArgs,

    #[command(flatten)]
    pub(crate) scope: ScopeArgs,

    #[command(flatten)]
    pub(crate) rotation: RotationArgs,

    #[command(flatten)]
    pub(crate) shutdown: ShutdownArgs,

    #[command(flatten)]
    pub(crate) tls: ClientPortTlsArgs,

    #[command(flatten)]
    pub(crate) tls_reload: TlsReloadArgs,

    /// Request quotas as `CLASS=REQUESTS_PER_SECOND`, enforced only when given: CLASS is
    /// `symmetric`, an operation name or `all` (AWS's defaults for the rest);
    /// comma-separated in the environment variable.
    #[arg(long = "quota", env = "KEYSHARD_QUOTAS", value_delimiter = ',')]
    pub(crate) quotas: Vec<String>,
}

/// `keyshard gateway --auth`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum GatewayAuth {
    Sigv4,
    DangerAcceptAnyCredentials,
}

/// `keyshard gateway`.
#[derive(clap::Args)]
pub(crate) struct GatewayArgs {
    /// Address the AWS KMS JSON API listens on.
    #[arg(long, env = "KEYSHARD_LISTEN", default_value = "127.0.0.1:8300")]
    pub(crate) listen: SocketAddr,

    /// Shard gRPC addresses (`host:port`), comma-separated.
    #[arg(long, env = "KEYSHARD_SHARDS", value_delimiter = ',', required = true)]
    pub(crate) shards: Vec<String>,

    /// Address of the public gRPC API (`keyshard.kms.v1`); not served unless given.
    #[arg(long, env = "KEYSHARD_GRPC_LISTEN")]
    pub(crate) grpc_listen: Option<SocketAddr>,

    /// Address of the HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "KEYSHARD_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<SocketAddr>,

    #[command(flatten)]
    pub(crate) scope: ScopeArgs,

    /// Request quotas as `CLASS=REQUESTS_PER_SECOND`, overriding AWS's defaults for every
    /// account (an account's own settings win). CLASS is `symmetric`, an operation name or
    /// `all`; comma-separated in the environment variable.
    #[arg(long = "quota", env = "KEYSHARD_QUOTAS", value_delimiter = ',')]
    pub(crate) quotas: Vec<String>,

    /// How callers are authenticated: `sigv4` verifies every signature against the access keys
    /// of `keyshard accounts`; `danger-accept-any-credentials` accepts any well-formed
    /// signature as the root of `--account-id`, for testing only.
    #[arg(long, env = "KEYSHARD_AUTH", value_enum, default_value_t = GatewayAuth::Sigv4)]
    pub(crate) auth: GatewayAuth,

    #[command(flatten)]
    pub(crate) shutdown: ShutdownArgs,

    /// How many gateways serve the deployment: each enforces this share of every quota.
    #[arg(long, env = "KEYSHARD_GATEWAY_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) gateway_replicas: u32,

    #[command(flatten)]
    pub(crate) tls: ClientPortTlsArgs,

    #[command(flatten)]
    pub(crate) shard_tls: ShardClientTlsArgs,

    #[command(flatten)]
    pub(crate) tls_reload: TlsReloadArgs,
}

/// `keyshard kms-plugin`. The access key it signs with comes from `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and, for temporary credentials, `AWS_SESSION_TOKEN`.
#[derive(clap::Args)]
pub(crate) struct KmsPluginArgs {
    /// Unix socket kube-apiserver connects to (its EncryptionConfiguration's `endpoint`,
    /// without `unix://`). A socket file left there by an earlier run is replaced; the new one
    /// is owner-only.
    #[arg(long, env = "KEYSHARD_KMS_PLUGIN_SOCKET")]
    pub(crate) socket: PathBuf,

    /// Keyshard's public gRPC API, such as `http://keyshard-gateway:8310`.
    #[arg(long, env = "KEYSHARD_ENDPOINT")]
    pub(crate) endpoint: String,

    /// ARN of the key that encrypts the API server's data encryption keys.
    #[arg(long, env = "KEYSHARD_KMS_PLUGIN_KEY_ID")]
    pub(crate) key_id: String,

    /// Region the gateway serves, which signatures are scoped to.
    #[arg(long, env = "KEYSHARD_REGION", default_value = "us-east-1")]
    pub(crate) region: String,

    /// PEM CA bundle the gateway's certificate must chain to: the endpoint is reached over TLS
    /// when it is given (use an `https://` endpoint), over plaintext otherwise.
    #[arg(long, env = "KEYSHARD_ENDPOINT_CA_FILE")]
    pub(crate) endpoint_ca_file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) tls_reload: TlsReloadArgs,
}

/// Root keys: the active one, from a file or an environment variable, and previous ones that
/// still unwrap key versions not yet re-wrapped.
#[derive(clap::Args)]
pub(crate) struct RootKeyArgs {
    /// File holding the active root key (64 hex digits or 32 bytes), such as a mounted
    /// Kubernetes Secret. Without it, `KEYSHARD_ROOT_KEY` must hold the key as hex.
    #[arg(long, env = "KEYSHARD_ROOT_KEY_FILE")]
    pub(crate) root_key_file: Option<PathBuf>,

    /// Files of previous root keys, kept during a root-key rotation; comma-separated in the
    /// environment variable.
    #[arg(long, env = "KEYSHARD_PREVIOUS_ROOT_KEY_FILES", value_delimiter = ',')]
    pub(crate) previous_root_key_file: Vec<PathBuf>,
}

/// `keyshard shard`.
#[derive(clap::Args)]
pub(crate) struct ShardArgs {
    /// Address the internal gRPC API listens on.
    #[arg(long, env = "KEYSHARD_LISTEN", default_value = "127.0.0.1:8400")]
    pub(crate) listen: SocketAddr,

    #[command(flatten)]
    pub(crate) shutdown: ShutdownArgs,

    /// Postgres URL, such as `postgres://keyshard@db:5432/keyshard`.
    #[arg(long, env = "KEYSHARD_DATABASE_URL")]
    pub(crate) database_url: String,

    #[command(flatten)]
    pub(crate) root_keys: RootKeyArgs,

    /// Apply pending migrations before serving.
    #[arg(long, env = "KEYSHARD_MIGRATE")]
    pub(crate) migrate: bool,

    /// Most keys (and, separately, aliases and key versions) the cache holds.
    #[arg(long, env = "KEYSHARD_CACHE_CAPACITY", default_value_t = 10_000)]
    pub(crate) cache_capacity: u64,

    /// Seconds a cached entry is trusted without a change announcement.
    #[arg(long, env = "KEYSHARD_CACHE_TTL_SECONDS", default_value_t = 60)]
    pub(crate) cache_ttl_seconds: u64,

    /// Address of the HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "KEYSHARD_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<SocketAddr>,

    /// Region of the key ARNs the gateways serve. Automatic rotation binds new key versions to
    /// them: keep it the same as the gateways'.
    #[arg(long, env = "KEYSHARD_REGION", default_value = "us-east-1")]
    pub(crate) region: String,

    #[command(flatten)]
    pub(crate) rotation: RotationArgs,

    #[command(flatten)]
    pub(crate) key_deletion: KeyDeletionArgs,

    #[command(flatten)]
    pub(crate) tls: ShardTlsArgs,

    #[command(flatten)]
    pub(crate) tls_reload: TlsReloadArgs,
}

/// Key rotation, for the subcommands that run a shard.
#[derive(clap::Args, Clone)]
pub(crate) struct RotationArgs {
    /// RotateKeyOnDemand calls allowed per key (AWS allows 25).
    #[arg(
        long,
        env = "KEYSHARD_ON_DEMAND_ROTATION_LIMIT",
        default_value_t = DEFAULT_ON_DEMAND_ROTATION_LIMIT
    )]
    pub(crate) on_demand_rotation_limit: u32,

    /// Seconds between checks for keys whose automatic rotation is due.
    #[arg(
        long,
        env = "KEYSHARD_ROTATION_CHECK_INTERVAL_SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) rotation_check_interval_seconds: u64,
}

impl RotationArgs {
    pub(crate) fn config(&self) -> keyshard_shard::RotationConfig {
        keyshard_shard::RotationConfig {
            on_demand_limit: self.on_demand_rotation_limit,
        }
    }

    pub(crate) fn check_interval(&self) -> Duration {
        Duration::from_secs(self.rotation_check_interval_seconds)
    }
}

/// The task that deletes keys whose waiting period (ScheduleKeyDeletion) is over. Every shard
/// runs it; several at once on one database delete each key once.
#[derive(clap::Args)]
pub(crate) struct KeyDeletionArgs {
    /// Seconds between looks for keys whose deletion date has come; the first look is at start.
    #[arg(
        long,
        env = "KEYSHARD_KEY_DELETION_INTERVAL_SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) key_deletion_interval_seconds: u64,
}

impl KeyDeletionArgs {
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_secs(self.key_deletion_interval_seconds)
    }
}

/// `keyshard migrate`.
#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// Postgres URL.
    #[arg(long, env = "KEYSHARD_DATABASE_URL")]
    pub(crate) database_url: String,
}

/// `keyshard rewrap-root-key`.
#[derive(clap::Args)]
pub(crate) struct RewrapArgs {
    /// Postgres URL.
    #[arg(long, env = "KEYSHARD_DATABASE_URL")]
    pub(crate) database_url: String,

    /// The new root key as `--root-key-file`, the old ones as `--previous-root-key-file`.
    #[command(flatten)]
    pub(crate) root_keys: RootKeyArgs,

    /// Region the deployment's key ARNs use: wrapped keys are bound to their ARN.
    #[arg(long, env = "KEYSHARD_REGION", default_value = "us-east-1")]
    pub(crate) region: String,

    /// Key versions re-wrapped per batch.
    #[arg(long, default_value_t = 500)]
    pub(crate) batch_size: u32,
}

/// `keyshard accounts`.
#[derive(clap::Args)]
pub(crate) struct AccountsArgs {
    /// Postgres URL (required; before or after the command's name).
    #[arg(long, env = "KEYSHARD_DATABASE_URL", global = true)]
    pub(crate) database_url: Option<String>,

    #[command(subcommand)]
    pub(crate) command: AccountsCommand,
}

#[derive(clap::Subcommand)]
pub(crate) enum AccountsCommand {
    /// Add an account (access keys add theirs when it is missing).
    Create {
        /// The 12-digit account id.
        #[arg(long)]
        account_id: String,
    },
    /// Show an account and its quota settings.
    Describe {
        /// The 12-digit account id.
        #[arg(long)]
        account_id: String,
    },
    /// Set an account's request quota for one class, or return it to the gateways' default.
    SetQuota {
        /// The 12-digit account id.
        #[arg(long)]
        account_id: String,
        /// `symmetric`, an operation name such as `CreateKey`, or `all`.
        #[arg(long)]
        class: String,
        /// Requests per second across all gateways; omit to use the default again.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        requests_per_second: Option<u32>,
    },
    /// Issue an access key and print its secret, once.
    CreateAccessKey {
        /// The 12-digit account id.
        #[arg(long)]
        account_id: String,
        /// The user or role ARN the key acts as; the account's root by default.
        #[arg(long)]
        principal: Option<String>,
        /// Issue temporary credentials (an `ASIA` key and a session token) valid this long.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=129_600))]
        duration_seconds: Option<u32>,
        /// The root key that wraps the secret.
        #[command(flatten)]
        root_keys: RootKeyArgs,
    },
    /// List an account's access keys, without secrets.
    ListAccessKeys {
        /// The 12-digit account id.
        #[arg(long)]
        account_id: String,
    },
    /// Delete an access key; gateways stop accepting it within their credential cache time.
    DeleteAccessKey {
        /// The 12-digit account id.
        #[arg(long)]
        account_id: String,
        /// The access key to delete.
        #[arg(long)]
        access_key_id: String,
    },
}

/// `keyshard bench`.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// Seconds each case and reference is measured for, in every round.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) duration: u64,

    /// Seconds of load before each measurement, not counted.
    #[arg(long, default_value_t = 2)]
    pub(crate) warmup: u64,

    /// Rounds; each round measures every reference and case once, and the report gives
    /// medians over rounds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rounds: u32,

    /// Requests in flight at once: one keep-alive connection per concurrent worker.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) concurrency: u32,

    /// About two seconds per case and one round, to check that every case runs; overrides
    /// `--duration`, `--warmup` and `--rounds`.
    #[arg(long)]
    pub(crate) quick: bool,

    /// Postgres server for the production-topology cases; the bench creates a database of its
    /// own there and drops it at the end.
    #[arg(long, env = "KEYSHARD_DATABASE_URL")]
    pub(crate) database_url: Option<String>,

    /// Also measure moto's server, installed from PyPI into `--moto-venv` on first use.
    #[arg(long)]
    pub(crate) with_moto: bool,

    /// Python virtual environment holding moto.
    #[arg(long, default_value = "target/bench-venv")]
    pub(crate) moto_venv: PathBuf,

    /// Also run the memory checks: a shard's growth with 100,000 cached keys, and a gateway's
    /// resident memory over 60 seconds of load.
    #[arg(long)]
    pub(crate) memory: bool,

    /// Where the results are written as JSON.
    #[arg(long, default_value = "target/bench.json")]
    pub(crate) json: PathBuf,
}

/// `keyshard bench-server`: one of the benchmark's reference servers, started by
/// `keyshard bench` as a child process.
#[derive(clap::Args)]
pub(crate) struct BenchServerArgs {
    /// Which reference server to run.
    #[arg(value_enum)]
    pub(crate) role: BenchServerRole,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,

    /// gRPC address of the `seal` server, for `two-hop`.
    #[arg(long, required_if_eq("role", "two-hop"))]
    pub(crate) backend: Option<SocketAddr>,
}

/// The reference servers of `keyshard bench`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum BenchServerRole {
    /// HTTP/1.1 answering every request with one fixed JSON body.
    FixedJson,
    /// gRPC: a new data key sealed with AES-256-GCM per call.
    Seal,
    /// HTTP/1.1 JSON in front, one gRPC call to `seal` per request.
    TwoHop,
}
