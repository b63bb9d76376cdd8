//! A TCP relay on loopback between a gateway and a shard, so a test can cut the link while both
//! processes live: reset it (every connection closed, new ones closed at once) or blackhole it
//! (connections stay open and no byte passes, as in a network partition), then restore it.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::harness::lock;

/// What the relay does with the bytes and connections it carries.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Link {
    /// Bytes pass both ways.
    Up,
    /// Connections are closed on both sides, and new ones as soon as they are accepted.
    Reset,
    /// Connections stay open, new ones are accepted, and no byte passes either way.
    Blackhole,
}

/// A relay from its own loopback port to a shard's, stopped when dropped.
pub(crate) struct Relay {
    /// The `host:port` a gateway is given instead of the shard's.
    pub(crate) address: String,
    /// Where new connections go: a restarted shard listens on a new port.
    upstream: Arc<Mutex<String>>,
    link: watch::Sender<Link>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying connections to `upstream`.
    pub(crate) async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the relay binds a loopback port");
        let address = listener
            .local_addr()
            .expect("the relay has an address")
            .to_string();
        let upstream = Arc::new(Mutex::new(upstream.to_owned()));
        let (link, _) = watch::channel(Link::Up);
        let accept = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&upstream),
            link.subscribe(),
        ));
        Self {
            address,
            upstream,
            link,
            accept,
        }
    }

    /// Sends new connections to `upstream` from now on.
    pub(crate) fn redirect(&self, upstream: &str) {
        *lock(&self.upstream) = upstream.to_owned();
    }

    /// Cuts the link (`Link::Reset` or `Link::Blackhole`) or restores it (`Link::Up`).
    pub(crate) fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Connection tasks end with the sender.
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: Arc<Mutex<String>>,
    link: watch::Receiver<Link>,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if *link.borrow() == Link::Reset {
            continue;
        }
        let upstream = lock(&upstream).clone();
        tokio::spawn(relay_connection(inbound, upstream, link.clone()));
    }
}

/// Carries one connection until either side closes it or the link is reset, then closes both.
async fn relay_connection(inbound: TcpStream, upstream: String, mut link: watch::Receiver<Link>) {
    let Ok(outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    inbound.set_nodelay(true).ok();
    outbound.set_nodelay(true).ok();
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let (inward, outward) = (link.clone(), link.clone());
    // `wait_for` also returns when the relay is dropped.
    tokio::select! {
        _ = pump(in_read, out_write, outward) => {}
        _ = pump(out_read, in_write, inward) => {}
        _ = link.wait_for(|state| *state == Link::Reset) => {}
    }
}

/// Copies bytes from `from` to `to` while the link is up, holding them while it is blackholed.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
) -> io::Result<()> {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        passable(&mut link).await?;
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        passable(&mut link).await?;
        to.write_all(&buffer[..read]).await?;
    }
}

/// Waits until bytes may pass; fails once the link is reset or the relay is gone.
async fn passable(link: &mut watch::Receiver<Link>) -> io::Result<()> {
    let state = link
        .wait_for(|state| *state != Link::Blackhole)
        .await
        .map_err(|_| io::Error::other("the relay stopped"))?;
    match *state {
        Link::Reset => Err(io::Error::other("the link was reset")),
        Link::Up | Link::Blackhole => Ok(()),
    }
}
