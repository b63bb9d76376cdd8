//! Raw HTTP/1.1 over a TCP connection, for requests an SDK would refuse to send: missing or
//! altered headers, malformed bodies, oversized bodies.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{ACCESS_KEY_ID, IO_TIMEOUT, REGION};

/// An HTTP/1.1 request built by hand, for inputs an SDK would refuse to send.
#[derive(Clone, Debug)]
pub(crate) struct RawRequest {
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawRequest {
    /// `POST /` to `TrentService.<target>` with the headers an SDK sends: content type, target,
    /// date and a SigV4-shaped `Authorization`.
    pub(crate) fn new(target: &str, body: impl Into<Vec<u8>>) -> Self {
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
            "0".repeat(64)
        );
        Self {
            headers: vec![
                (
                    "Content-Type".to_owned(),
                    "application/x-amz-json-1.1".to_owned(),
                ),
                ("X-Amz-Target".to_owned(), format!("TrentService.{target}")),
                ("X-Amz-Date".to_owned(), "20260101T000000Z".to_owned()),
                ("Authorization".to_owned(), authorization),
            ],
            body: body.into(),
        }
    }

    /// Leaves out a header (names compare case-insensitively).
    pub(crate) fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Sets a header, replacing any of the same name.
    pub(crate) fn with(self, name: &str, value: &str) -> Self {
        let mut request = self.without(name);
        request.headers.push((name.to_owned(), value.to_owned()));
        request
    }

    /// Signs the request as the AWS SDK signs it, with `credentials` at `time`, for sending to
    /// `address` (whose `Host` header [`exchange`] writes): sets `X-Amz-Date` and
    /// `Authorization`, and `X-Amz-Security-Token` for temporary credentials.
    pub(crate) fn signed(self, address: &str, credentials: &Credentials, time: SystemTime) -> Self {
        let request = self.without("Authorization").without("X-Amz-Date");
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("kms")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .expect("every signing parameter is set")
            .into();
        let headers = request
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain([("host", address)]);
        let signable = SignableRequest::new(
            "POST",
            format!("http://{address}/"),
            headers,
            SignableBody::Bytes(&request.body),
        )
        .expect("the gateway's address makes a valid URI");
        let (instructions, _signature) = sign(signable, &params)
            .expect("a request with credentials can be signed")
            .into_parts();
        let (added, _query) = instructions.into_parts();
        let added: Vec<(String, String)> = added
            .iter()
            .map(|header| (header.name().to_owned(), header.value().to_owned()))
            .collect();
        added
            .iter()
            .fold(request, |request, (name, value)| request.with(name, value))
    }

    /// The request line and headers, `Content-Length` and `Connection: close` included, for
    /// sending to `address`.
    pub(crate) fn head(&self, address: &str) -> String {
        let mut head = format!("POST / HTTP/1.1\r\nHost: {address}\r\n");
        for (name, value) in &self.headers {
            write!(head, "{name}: {value}\r\n").expect("writing to a String cannot fail");
        }
        write!(
            head,
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        )
        .expect("writing to a String cannot fail");
        head
    }

    pub(crate) fn describe(&self) -> String {
        let target = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-target"))
            .map_or("(no target)", |(_, v)| v.as_str());
        format!("{target} ({} body bytes)", self.body.len())
    }
}

/// A response read off the wire.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "HTTP {} body is not JSON ({err}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One request on its own connection. The body is written from another thread, so a server
/// that answers before reading all of it cannot deadlock the exchange.
pub(crate) fn exchange(address: &str, request: &RawRequest) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;

    let head = request.head(address);
    let mut writer = stream.try_clone()?;
    let body = request.body.clone();
    let sender = std::thread::spawn(move || {
        writer.write_all(head.as_bytes())?;
        writer.write_all(&body)?;
        writer.flush()
    });

    let mut received = Vec::new();
    let read = stream.read_to_end(&mut received);
    // A server may answer and close before taking the whole body; the answer is what counts.
    let _written: std::io::Result<()> = sender.join().unwrap_or(Ok(()));
    match parse_response(&received) {
        Some(response) => Ok(response),
        None => Err(read.err().unwrap_or_else(|| {
            std::io::Error::other(format!(
                "incomplete response: {:?}",
                String::from_utf8_lossy(&received)
            ))
        })),
    }
}

/// How the body of a request goes on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pace {
    /// All at once.
    AtOnce,
    /// In `chunks` pieces with `pause` after each.
    Slowly { chunks: usize, pause: Duration },
    /// The first `sent` bytes under a `Content-Length` of the whole body, then the connection
    /// is closed without waiting for an answer.
    CloseAfter(usize),
}

/// [`exchange`] on tokio with the body sent at `pace`; writing and reading run together, so a
/// server that answers early cannot deadlock it. `Ok(None)` after [`Pace::CloseAfter`].
pub(crate) async fn exchange_paced(
    address: &str,
    request: &RawRequest,
    pace: Pace,
) -> std::io::Result<Option<RawResponse>> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut reader, mut writer) = stream.into_split();
    let head = request.head(address);
    let body = &request.body;
    if let Pace::CloseAfter(sent) = pace {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(&body[..sent.min(body.len())]).await?;
        return Ok(None);
    }

    let send = async {
        writer.write_all(head.as_bytes()).await?;
        match pace {
            Pace::Slowly { chunks, pause } => {
                for chunk in body.chunks(body.len().div_ceil(chunks.max(1)).max(1)) {
                    writer.write_all(chunk).await?;
                    writer.flush().await?;
                    tokio::time::sleep(pause).await;
                }
            }
            Pace::AtOnce | Pace::CloseAfter(_) => writer.write_all(body).await?,
        }
        writer.flush().await
    };
    let mut received = Vec::new();
    let (_sent, read) = tokio::join!(send, reader.read_to_end(&mut received));
    // A server may answer and close before taking the whole body; the answer is what counts.
    match parse_response(&received) {
        Some(response) => Ok(Some(response)),
        None => Err(read.err().unwrap_or_else(|| {
            std::io::Error::other(format!(
                "incomplete response: {:?}",
                String::from_utf8_lossy(&received)
            ))
        })),
    }
}

/// Parses a complete HTTP/1.1 response, skipping interim 1xx responses.
pub(crate) fn parse_response(mut bytes: &[u8]) -> Option<RawResponse> {
    loop {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        let rest = &bytes[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        if (100..200).contains(&status) {
            bytes = rest;
            continue;
        }
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        response.body = match response.header("content-length") {
            Some(len) => rest.get(..len.parse::<usize>().ok()?)?.to_vec(),
            None if response
                .header("transfer-encoding")
                .is_some_and(|te| te.eq_ignore_ascii_case("chunked")) =>
            {
                dechunk(rest)?
            }
            None => rest.to_vec(),
        };
        return Some(response);
    }
}

fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let end = bytes.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        let data = bytes.get(end + 2..end + 2 + size)?;
        body.extend_from_slice(data);
        bytes = bytes.get(end + 2 + size + 2..)?;
    }
}

mod tests {
    use super::*;

    #[test]
    fn raw_responses_parse_past_interim_answers_and_chunked_bodies() {
        let wire =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\
                     x-amzn-RequestId: r1\r\n\r\n{}";
        let response = parse_response(wire).expect("a complete response");
        assert_eq!(
            (response.status, response.body.as_slice()),
            (400, &b"{}"[..])
        );
        assert_eq!(response.header("X-Amzn-RequestId"), Some("r1"));

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let response = parse_response(chunked).expect("a complete response");
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"{}"[..])
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").is_none());
    }
}
