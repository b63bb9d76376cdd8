//! The `keyshard` command: parses flags and environment, sets up logging, and starts the parts
//! a subcommand names.

mod dev;
mod root_key;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
    Dev(DevArgs),
}

/// Flags of `keyshard dev`; each can also be set by the environment variable shown.
#[derive(clap::Args)]
struct DevArgs {
    /// Address the AWS KMS JSON API listens on.
    #[arg(long, env = "KEYSHARD_LISTEN", default_value = "127.0.0.1:8300")]
    listen: SocketAddr,

    /// Directory holding the embedded database and the generated root key.
    #[arg(long, env = "KEYSHARD_DATA_DIR", default_value = "keyshard-data")]
    data_dir: PathBuf,

    /// Region used in key ARNs.
    #[arg(long, env = "KEYSHARD_REGION", default_value = "us-east-1")]
    region: String,

    /// The one account every caller acts in.
    #[arg(long, env = "KEYSHARD_ACCOUNT_ID", default_value = "111122223333")]
    account_id: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("KEYSHARD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Dev(args) => dev::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "keyshard stopped");
            ExitCode::FAILURE
        }
    }
}
