//! The `keyshard` command: parses flags and environment, sets up logging, and starts the parts
//! a subcommand names.

mod accounts;
mod admin;
mod bench;
mod config;
mod config_file;
mod data_dir;
mod dev;
mod gateway;
mod in_process;
mod kms_plugin;
mod migrate;
mod net;
mod rewrap;
mod root_key;
mod shard;
mod telemetry;
mod tls;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Variable holding the log filter, in `tracing` syntax.
const LOG_ENV: &str = "KEYSHARD_LOG";
const DEFAULT_LOG: &str = "info";

/// Flags, then the environment, then the settings file `KEYSHARD_CONFIG` names.
fn parse_cli() -> Result<Cli, config_file::ConfigFileError> {
    let path = std::env::var_os(config_file::CONFIG_ENV).map(std::path::PathBuf::from);
    let command = config_file::apply(<Cli as clap::CommandFactory>::command(), path)?;
    let matches = command.get_matches();
    // The matches come from this very command definition, so they always convert.
    Ok(<Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|err| err.exit()))
}

/// A key management service that speaks the AWS KMS API.
#[derive(Parser)]
#[command(name = "keyshard", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run gateway and shard in one process on an embedded store: for development only.
    Dev(config::DevArgs),
    /// Run a gateway: the AWS KMS JSON API in front of shards.
    Gateway(config::GatewayArgs),
    /// Run a shard: the key-holding gRPC service on Postgres.
    Shard(config::ShardArgs),
    /// Apply pending Postgres migrations and exit.
    Migrate(config::MigrateArgs),
    /// Re-wrap every stored key version and secret access key under the active root key,
    /// online.
    RewrapRootKey(config::RewrapArgs),
    /// Manage accounts, their quotas and their access keys.
    Accounts(config::AccountsArgs),
    /// Serve the Kubernetes KMS v2 plugin API on a Unix socket, with one Keyshard key.
    KmsPlugin(config::KmsPluginArgs),
    /// Measure Keyshard against the ceilings of this machine and against a peer.
    Bench(config::BenchArgs),
    /// Run one of `keyshard bench`'s reference servers; the bench starts these itself.
    #[command(hide = true)]
    BenchServer(config::BenchServerArgs),
}

// Every request allocates many small, short-lived buffers; mimalloc serves them faster than
// glibc's allocator and returns freed memory instead of keeping it fragmented.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

impl Command {
    /// The service name exported spans carry unless `OTEL_SERVICE_NAME` says otherwise.
    fn service_name(&self) -> &'static str {
        match self {
            Self::Dev(_) => "keyshard-dev",
            Self::Gateway(_) => "keyshard-gateway",
            Self::Shard(_) => "keyshard-shard",
            _ => "keyshard",
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("keyshard: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (filter, bad_filter) = match std::env::var(LOG_ENV) {
        Ok(text) => match EnvFilter::try_new(&text) {
            Ok(filter) => (filter, None),
            Err(err) => (EnvFilter::new(DEFAULT_LOG), Some((text, err))),
        },
        Err(_) => (EnvFilter::new(DEFAULT_LOG), None),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keyshard: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let initialized = {
        let _in_runtime = runtime.enter();
        telemetry::init(filter, cli.command.service_name())
    };
    let (telemetry, trace_warning) = match initialized {
        Ok(initialized) => initialized,
        Err(err) => {
            eprintln!("keyshard: cannot start the log writer: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some((text, err)) = bad_filter {
        tracing::warn!(value = %text, error = %err, "{LOG_ENV} is not a valid filter; logging at {DEFAULT_LOG}");
    }
    if let Some(warning) = trace_warning {
        tracing::warn!("{warning}");
    }

    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async {
        match cli.command {
            Command::Dev(args) => dev::run(args).await.map_err(Into::into),
            Command::Gateway(args) => gateway::run(args).await.map_err(Into::into),
            Command::Shard(args) => shard::run(args).await.map_err(Into::into),
            Command::Migrate(args) => migrate::run(args).await.map_err(Into::into),
            Command::RewrapRootKey(args) => rewrap::run(args).await.map_err(Into::into),
            Command::Accounts(args) => accounts::run(args).await.map_err(Into::into),
            Command::KmsPlugin(args) => kms_plugin::run(args).await.map_err(Into::into),
            Command::Bench(args) => bench::run(args).await.map_err(Into::into),
            Command::BenchServer(args) => bench::serve_reference(args).await.map_err(Into::into),
        }
    });
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut chain = err.to_string();
            let mut source = err.source();
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(error = %chain, "keyshard stopped");
            ExitCode::FAILURE
        }
    };
    runtime.block_on(telemetry.shutdown());
    code
}
