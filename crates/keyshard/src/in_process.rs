//! An in-memory transport between the gateway and the shard of `keyshard dev`: each gRPC
//! connection is a tokio duplex pipe, so the shard listens on no socket another process could
//! reach.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

/// Bytes buffered in each direction of a connection.
const PIPE_CAPACITY: usize = 256 * 1024;

/// A client channel and the stream of connections a tonic server serves for it.
pub(crate) fn transport() -> (Channel, impl Stream<Item = io::Result<Pipe>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    // The URI only names the shard in logs; the connector ignores it.
    let channel = Endpoint::from_static("http://in-process.shard")
        .connect_with_connector_lazy(Connector { tx });
    let incoming = UnboundedReceiverStream::new(rx).map(|pipe| Ok(Pipe(pipe)));
    (channel, incoming)
}

/// Opens a pipe per connection and hands its server end to the shard.
#[derive(Clone)]
struct Connector {
    tx: mpsc::UnboundedSender<DuplexStream>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<DuplexStream>;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (client, server) = tokio::io::duplex(PIPE_CAPACITY);
        let sent = self.tx.send(server).map_err(|_| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the in-process shard has stopped",
            )
        });
        std::future::ready(sent.map(|()| TokioIo::new(client)))
    }
}

/// The shard's end of a connection.
pub(crate) struct Pipe(DuplexStream);

impl Connected for Pipe {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
