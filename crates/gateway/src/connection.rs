//! Limits every client connection of both public ports obeys: how many may be open at once,
//! how soon a new one must start speaking, and how long one may stay silent.
//!
//! hyper's header-read timeout starts only once the HTTP version has been chosen, which needs a
//! connection's first 24 bytes (the length of the HTTP/2 preface), and HTTP/2 has no idle
//! timeout at all. [`Guarded`] closes both gaps below the HTTP layer: a connection that has not
//! sent 24 bytes within [`FIRST_BYTES_TIMEOUT`] of being accepted, or that then neither sends
//! nor receives a byte for [`IDLE_TIMEOUT`], fails its next read and is closed.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

/// Connections served at once on one port. Further clients wait in the kernel's accept queue,
/// so a flood of idle connections cannot exhaust the process's file descriptors.
pub(crate) const MAX_CONNECTIONS: usize = 4096;

/// Bytes a client sends before any HTTP/1.1 request line or HTTP/2 preface can be told apart.
const PREFACE_BYTES: usize = 24;

/// Time a new connection has to send its first [`PREFACE_BYTES`] bytes.
pub(crate) const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a connection may pass without a byte in either direction once it has started. It is
/// longer than the slowest answer a gateway gives (three shard attempts of ten seconds each), so
/// it never cuts a request in flight.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A client connection holding one of its port's [`MAX_CONNECTIONS`] permits, closed when it
/// is silent too long.
pub(crate) struct Guarded<I> {
    io: I,
    /// Bytes still to read before the connection counts as started.
    preface_left: usize,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl<I> Guarded<I> {
    pub(crate) fn new(io: I, permit: OwnedSemaphorePermit) -> Self {
        Self {
            io,
            preface_left: PREFACE_BYTES,
            deadline: Box::pin(tokio::time::sleep(FIRST_BYTES_TIMEOUT)),
            _permit: permit,
        }
    }

    /// Counts `bytes` moved in either direction (`read` tells which): once the preface is in,
    /// each one restarts the idle clock. Bytes trickling in before that do not, so a client
    /// sending one byte at a time still has [`FIRST_BYTES_TIMEOUT`] in all.
    fn progressed(&mut self, bytes: usize, read: bool) {
        if bytes == 0 {
            return;
        }
        if read {
            self.preface_left = self.preface_left.saturating_sub(bytes);
        }
        if self.preface_left == 0 {
            self.deadline.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
        }
    }

    /// Whether the connection has been silent past its deadline.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Guarded<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.progressed(buf.filled().len() - before, true);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client connection was silent too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Guarded<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.progressed(written, false);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<I: Connected> Connected for Guarded<I> {
    type ConnectInfo = I::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// The connections of `incoming`, each taken only once one of [`MAX_CONNECTIONS`] permits is
/// free and guarded for as long as it stays open.
pub(crate) fn limit<S, I, E>(incoming: S) -> impl Stream<Item = Result<Guarded<I>, E>>
where
    S: Stream<Item = Result<I, E>> + Unpin,
{
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    futures_util::stream::unfold(incoming, move |mut incoming| {
        let permits = Arc::clone(&permits);
        async move {
            // The semaphore is never closed.
            let permit = permits.acquire_owned().await.ok()?;
            let next = incoming.next().await?;
            Some((next.map(|io| Guarded::new(io, permit)), incoming))
        }
    })
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn permit() -> OwnedSemaphorePermit {
        Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("a free permit")
    }

    async fn read_error(guarded: &mut Guarded<tokio::io::DuplexStream>) -> io::ErrorKind {
        let mut buf = [0u8; 64];
        loop {
            match guarded.read(&mut buf).await {
                Ok(0) => panic!("the connection ended instead of timing out"),
                Ok(_) => {}
                Err(err) => return err.kind(),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_speaks_is_closed_after_the_first_bytes_timeout() {
        let (_client, server) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(server, permit());
        let started = Instant::now();
        assert_eq!(read_error(&mut guarded).await, io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), FIRST_BYTES_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_trickling_in_before_the_preface_do_not_extend_the_first_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(server, permit());
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            for _ in 0..PREFACE_BYTES - 1 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if client.write_all(b"P").await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        });
        assert_eq!(read_error(&mut guarded).await, io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), FIRST_BYTES_TIMEOUT);
        trickle.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_connection_lives_until_it_is_idle_for_the_idle_timeout() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(server, permit());
        client
            .write_all(&[b'x'; PREFACE_BYTES])
            .await
            .expect("write");
        let mut preface = [0u8; PREFACE_BYTES];
        guarded.read_exact(&mut preface).await.expect("the preface");

        tokio::time::sleep(IDLE_TIMEOUT - Duration::from_secs(1)).await;
        guarded.write_all(b"answer").await.expect("an answer");
        let last_activity = Instant::now();
        assert_eq!(read_error(&mut guarded).await, io::ErrorKind::TimedOut);
        assert_eq!(last_activity.elapsed(), IDLE_TIMEOUT);
    }

    #[tokio::test]
    async fn only_max_connections_are_taken_until_one_closes() {
        let items = (0..MAX_CONNECTIONS + 1).map(Ok::<usize, io::Error>);
        let mut limited = Box::pin(limit(futures_util::stream::iter(items)));
        let mut open = Vec::new();
        for expected in 0..MAX_CONNECTIONS {
            let guarded = limited.next().await.expect("a connection").expect("ok");
            assert_eq!(guarded.io, expected);
            open.push(guarded);
        }
        let waiting = tokio::time::timeout(Duration::from_millis(50), limited.next()).await;
        assert!(waiting.is_err(), "a connection past the limit was taken");
        drop(open.pop());
        let next = limited.next().await.expect("a connection").expect("ok");
        assert_eq!(next.io, MAX_CONNECTIONS);
    }
}
