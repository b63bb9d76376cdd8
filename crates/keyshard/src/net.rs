//! Listening sockets and shutdown signals shared by the subcommands that serve.

use tokio::net::TcpListener;

/// A socket that could not be bound or inspected.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}")]
pub(crate) struct ListenError {
    address: String,
    #[source]
    source: std::io::Error,
}

pub(crate) async fn bind(address: &str) -> Result<TcpListener, ListenError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ListenError {
            address: address.to_owned(),
            source,
        })
}

/// The address a listener actually bound, which differs from the requested one for port 0.
pub(crate) fn local_address(listener: &TcpListener) -> Result<String, ListenError> {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .map_err(|source| ListenError {
            address: "a bound socket".to_owned(),
            source,
        })
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
