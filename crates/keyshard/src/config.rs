//! Command-line flags and their environment variables, for every subcommand. This file is the
//! one place settings are defined; the README's configuration table mirrors it.

use std::net::SocketAddr;
use std::path::PathBuf;

use keyshard_core::id::Scope;

/// Where callers act: the account and the region used in ARNs.
#[derive(clap::Args, Clone)]
pub(crate) struct ScopeArgs {
    /// Region used in key and alias ARNs. Keys are bound to it: keep it fixed for a deployment.
    #[arg(long, env = "KEYSHARD_REGION", default_value = "us-east-1")]
    pub(crate) region: String,

    /// The one account every caller acts in.
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

/// `keyshard dev`.
#[derive(clap::Args)]
pub(crate) struct DevArgs {
    /// Address the AWS KMS JSON API listens on.
    #[arg(long, env = "KEYSHARD_LISTEN", default_value = "127.0.0.1:8300")]
    pub(crate) listen: SocketAddr,

    /// Directory holding the embedded database and the generated root key.
    #[arg(long, env = "KEYSHARD_DATA_DIR", default_value = "keyshard-data")]
    pub(crate) data_dir: PathBuf,

    #[command(flatten)]
    pub(crate) scope: ScopeArgs,
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

    #[command(flatten)]
    pub(crate) scope: ScopeArgs,
}
