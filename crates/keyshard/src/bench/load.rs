//! The load generator: closed-loop workers, each on its own HTTP/1.1 keep-alive connection,
//! sending SigV4-signed AWS JSON 1.1 calls as fast as they are answered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::signing::{SignError, Signer};

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// A call that failed to open a connection or to complete cannot end a whole run: it is
/// counted as an error, and the worker reconnects after this pause.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// One AWS JSON 1.1 call: `X-Amz-Target` and body.
#[derive(Clone)]
pub(crate) struct Call {
    pub(crate) target: &'static str,
    pub(crate) body: Bytes,
}

/// The AWS KMS operations the bench calls, as `X-Amz-Target` values.
pub(crate) const CREATE_KEY: &str = "TrentService.CreateKey";
pub(crate) const DECRYPT: &str = "TrentService.Decrypt";
pub(crate) const GENERATE_DATA_KEY: &str = "TrentService.GenerateDataKey";

impl Call {
    /// A call to `target` (one of the constants above) with a JSON body.
    pub(crate) fn new(target: &'static str, body: &serde_json::Value) -> Self {
        Self {
            target,
            body: Bytes::from(body.to_string()),
        }
    }
}

/// What a run sends and where: the calls are sent in turn, each worker starting at its own
/// offset so that all of them are in use at once.
#[derive(Clone)]
pub(crate) struct Load {
    pub(crate) address: SocketAddr,
    pub(crate) calls: Arc<[Call]>,
}

/// What one timed run saw.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// Calls answered with HTTP 200 within the window.
    pub(crate) completed: u64,
    /// Calls answered otherwise, or not answered.
    pub(crate) errors: u64,
    /// The first error, described for the report.
    pub(crate) first_error: Option<String>,
    /// Latency of each completed call, in microseconds.
    pub(crate) latencies_us: Vec<u32>,
    /// From the first call's start to the last answer.
    pub(crate) elapsed: Duration,
}

/// A call that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: SocketAddr,
        source: std::io::Error,
    },

    #[error("HTTP/1.1 handshake with {address} failed: {source}")]
    Handshake {
        address: SocketAddr,
        source: hyper::Error,
    },

    #[error(transparent)]
    Sign(#[from] SignError),

    #[error("request failed: {0}")]
    Http(#[from] hyper::Error),

    #[error("bad request: {0}")]
    Request(#[from] http::Error),

    #[error("HTTP {status}: {body}")]
    Status { status: StatusCode, body: String },

    #[error("a load worker failed: {0}")]
    Worker(String),
}

/// One keep-alive HTTP/1.1 connection.
pub(crate) struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    host: HeaderValue,
    signer: Signer,
    /// False once the server has said it closes the connection after its answer.
    reusable: bool,
}

impl Connection {
    pub(crate) async fn open(address: SocketAddr, signer: Signer) -> Result<Self, CallError> {
        Ok(Self {
            sender: handshake(address).await?,
            host: host(address)?,
            signer,
            reusable: true,
        })
    }

    /// Whether another call may be sent on this connection.
    pub(crate) fn reusable(&self) -> bool {
        self.reusable && !self.sender.is_closed()
    }

    /// Sends `call` and returns the body of a 200 answer.
    pub(crate) async fn send(&mut self, call: &Call) -> Result<Bytes, CallError> {
        let mut request = Request::post("/")
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, JSON_1_1)
            .header("x-amz-target", call.target)
            .body(Full::new(call.body.clone()))?;
        self.signer.sign(&mut request, &call.body)?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        if response
            .headers()
            .get(CONNECTION)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"))
            || response.version() == Version::HTTP_10
        {
            self.reusable = false;
        }
        let body = response.into_body().collect().await?.to_bytes();
        if status != StatusCode::OK {
            return Err(CallError::Status {
                status,
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            });
        }
        Ok(body)
    }
}

/// The body of a 200 answer to `GET path` on `address`, such as a metrics endpoint's.
pub(crate) async fn get(address: SocketAddr, path: &str) -> Result<Bytes, CallError> {
    let mut sender = handshake(address).await?;
    let request = Request::get(path)
        .header(HOST, host(address)?)
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != StatusCode::OK {
        return Err(CallError::Status {
            status,
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        });
    }
    Ok(body)
}

async fn handshake(address: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, CallError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|source| CallError::Connect { address, source })?;
    stream
        .set_nodelay(true)
        .map_err(|source| CallError::Connect { address, source })?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| CallError::Handshake { address, source })?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; a failure shows on the next
        // call.
        let _ = connection.await;
    });
    Ok(sender)
}

fn host(address: SocketAddr) -> Result<HeaderValue, CallError> {
    HeaderValue::from_str(&address.to_string()).map_err(|err| CallError::Request(err.into()))
}

/// Sends `load` with `concurrency` workers for `duration` and reports what they saw. Workers
/// start no call after the window closes; calls still open then are waited for and counted.
pub(crate) async fn run(
    load: &Load,
    signer: &Signer,
    concurrency: u32,
    duration: Duration,
) -> Window {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let load = load.clone();
        let signer = signer.clone();
        let offset = usize::try_from(worker).unwrap_or(0);
        workers.push(tokio::spawn(async move {
            work(load, signer, offset, deadline).await
        }));
    }
    let mut total = Window::default();
    for worker in workers {
        match worker.await {
            Ok(window) => total.merge(window),
            Err(err) => total.error(&CallError::Worker(err.to_string())),
        }
    }
    total.elapsed = started.elapsed();
    total
}

impl Window {
    pub(crate) fn merge(&mut self, other: Self) {
        self.completed += other.completed;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_us.extend(other.latencies_us);
    }

    fn error(&mut self, err: &CallError) {
        self.record_error(err.to_string());
    }

    /// Counts one failed call, keeping the first one's description.
    pub(crate) fn record_error(&mut self, description: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(description);
        }
    }
}

async fn work(load: Load, signer: Signer, offset: usize, deadline: Instant) -> Window {
    let mut window = Window::default();
    let mut connection = None;
    let mut next = offset % load.calls.len().max(1);
    while Instant::now() < deadline {
        let Some(call) = load.calls.get(next) else {
            break;
        };
        next = (next + 1) % load.calls.len();
        let open = match connection.take() {
            Some(open) => open,
            None => match Connection::open(load.address, signer.clone()).await {
                Ok(open) => open,
                Err(err) => {
                    window.error(&err);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let mut open = open;
        let sent = Instant::now();
        match open.send(call).await {
            Ok(_) => {
                let micros = sent.elapsed().as_micros();
                window.completed += 1;
                window
                    .latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                connection = open.reusable().then_some(open);
            }
            // A refused call leaves the connection usable; a broken one is replaced.
            Err(err @ CallError::Status { .. }) => {
                window.error(&err);
                connection = open.reusable().then_some(open);
            }
            Err(err) => {
                window.error(&err);
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
    window
}

/// Sends every call of `calls` once, over `concurrency` connections, and returns the answers in
/// the order of `calls`; the first failure ends it.
pub(crate) async fn send_each(
    address: SocketAddr,
    signer: &Signer,
    calls: Arc<[Call]>,
    concurrency: u32,
) -> Result<Vec<Bytes>, CallError> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (calls, next, signer) = (Arc::clone(&calls), Arc::clone(&next), signer.clone());
        workers.spawn(async move {
            let mut answers = Vec::new();
            let mut connection = Connection::open(address, signer.clone()).await?;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(call) = calls.get(index) else {
                    return Ok::<_, CallError>(answers);
                };
                if !connection.reusable() {
                    connection = Connection::open(address, signer.clone()).await?;
                }
                answers.push((index, connection.send(call).await?));
            }
        });
    }
    let mut answers = Vec::with_capacity(calls.len());
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(worker) => answers.extend(worker?),
            Err(err) => return Err(CallError::Worker(err.to_string())),
        }
    }
    answers.sort_unstable_by_key(|(index, _)| *index);
    Ok(answers.into_iter().map(|(_, body)| body).collect())
}
