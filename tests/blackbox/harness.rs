//! One `keyshard dev` process per test: start it on a free port, talk to it with the AWS SDK for
//! Rust or raw HTTP/1.1, and check its log for warnings, errors and leaked secrets at the end.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_kms::error::BoxError;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::mpsc;

use crate::raw_http::{RawRequest, RawResponse, exchange};

/// The account and region `keyshard dev` serves by default.
pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const REGION: &str = "us-east-1";

pub(crate) const ACCESS_KEY_ID: &str = "AKIDBLACKBOXTESTS000";
pub(crate) const SECRET_ACCESS_KEY: &str = "blackbox+secret/access-key-0123456789ABCDEF";
const READY_LINE: &str = "keyshard ready to serve";
/// The one WARN line `keyshard dev` is expected to log, once per start.
const EXPECTED_WARNING: &str = "development mode:";
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Secrets shorter than this are not searched for in the log: they would match by chance.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// What the test saw of the service: secrets it must never log and every response status.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) secrets: Vec<Vec<u8>>,
    pub(crate) responses: Vec<Seen>,
}

#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) request: String,
    pub(crate) status: u16,
    pub(crate) has_request_id: bool,
}

impl Observed {
    /// Registers the `Plaintext` member of a JSON request or response body as a secret.
    fn plaintext_in(&mut self, body: &[u8]) {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let decoded = value
            .get("Plaintext")
            .and_then(Value::as_str)
            .and_then(|b64| STANDARD.decode(b64).ok());
        if let Some(secret) = decoded {
            self.secrets.push(secret);
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running `keyshard dev` owned by one test.
pub(crate) struct Keyshard {
    child: Option<Child>,
    address: String,
    /// The public gRPC API's `host:port`, when started with `--grpc-listen`.
    grpc_address: Option<String>,
    log: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
    observed: Arc<Mutex<Observed>>,
    data_dir: PathBuf,
    /// Flags given after the fixed ones, and environment variables, kept for a restart.
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
    /// A command `keyshard` runs under, such as `unshare`, its path and arguments following.
    wrapper: Vec<String>,
    _temp_dir: Option<TempDir>,
    checked: bool,
    /// Whether 503 answers and these WARN or ERROR lines are expected outcomes of the test.
    unavailable_expected: bool,
    allowed_warnings: Vec<String>,
}

impl Keyshard {
    /// Starts Keyshard on a fresh data directory that lives as long as the returned value.
    pub(crate) async fn start() -> Self {
        Self::start_with_args(&[]).await
    }

    /// Starts Keyshard on a fresh data directory with `args` added to `keyshard dev`'s flags.
    pub(crate) async fn start_with_args(args: &[&str]) -> Self {
        Self::start_with_env(args, &[]).await
    }

    /// Starts Keyshard on a fresh data directory with `args` added to `keyshard dev`'s flags
    /// and `env` to its environment.
    pub(crate) async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let temp_dir = tempfile::tempdir().expect("a temporary data directory");
        let args: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
        let env = env
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let mut keyshard = Self::launch(temp_dir.path(), args, env, Vec::new()).await;
        keyshard._temp_dir = Some(temp_dir);
        keyshard
    }

    /// Starts Keyshard on `data_dir`, which may hold the data of an earlier run.
    pub(crate) async fn start_in(data_dir: &Path) -> Self {
        Self::launch(data_dir, Vec::new(), Vec::new(), Vec::new()).await
    }

    /// Starts Keyshard on `data_dir` as the last arguments of `wrapper`, a command that
    /// prepares the process's surroundings and then runs them.
    pub(crate) async fn start_wrapped(data_dir: &Path, wrapper: &[&str]) -> Self {
        let wrapper = wrapper.iter().map(|&arg| arg.to_owned()).collect();
        Self::launch(data_dir, Vec::new(), Vec::new(), wrapper).await
    }

    async fn launch(
        data_dir: &Path,
        extra_args: Vec<String>,
        extra_env: Vec<(String, String)>,
        wrapper: Vec<String>,
    ) -> Self {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_keyshard"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_keyshard")),
        };
        // Settings come from flags only, whatever the environment of the test run holds.
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("KEYSHARD_") || name_text.starts_with("OTEL_") {
                command.env_remove(name);
            }
        }
        command.envs(extra_env.iter().map(|(n, v)| (n, v)));
        let mut child = command
            .arg("dev")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(&extra_args)
            // Keyshard's own debug lines too, so the secret scan covers them.
            .env("KEYSHARD_LOG", "info,keyshard=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the keyshard binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel();
        let reader = std::thread::spawn({
            let log = Arc::clone(&log);
            move || collect_log(stderr, &log, &lines_tx)
        });
        let observed = Observed {
            secrets: vec![SECRET_ACCESS_KEY.as_bytes().to_vec()],
            responses: Vec::new(),
        };
        let mut keyshard = Self {
            child: Some(child),
            address: String::new(),
            grpc_address: None,
            log,
            reader: Some(reader),
            observed: Arc::new(Mutex::new(observed)),
            data_dir: data_dir.to_owned(),
            extra_args,
            extra_env,
            wrapper,
            _temp_dir: None,
            checked: false,
            unavailable_expected: false,
            allowed_warnings: Vec::new(),
        };

        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines_rx.recv().await {
                if line.contains(READY_LINE) {
                    return listen_address(&line).map(|address| (address, line));
                }
            }
            None
        })
        .await;
        match ready {
            Ok(Some((address, line))) => {
                keyshard.address = address;
                keyshard.grpc_address = log_field(&line, "grpc_listen");
            }
            _ => {
                keyshard.stop();
                keyshard.checked = true;
                panic!(
                    "keyshard did not log `{READY_LINE}` with its address within {START_TIMEOUT:?}; \
                     its log:\n{}",
                    keyshard.log_text()
                );
            }
        }
        keyshard
    }

    /// Checks this run's log, then starts Keyshard again on the same data directory.
    pub(crate) async fn restart(mut self) -> Self {
        self.stop();
        self.check();
        self.checked = true;
        let temp_dir = self._temp_dir.take();
        let mut next = Self::launch(
            &self.data_dir,
            self.extra_args.clone(),
            self.extra_env.clone(),
            self.wrapper.clone(),
        )
        .await;
        next._temp_dir = temp_dir;
        next.observed = Arc::clone(&self.observed);
        next.unavailable_expected = self.unavailable_expected;
        next.allowed_warnings = std::mem::take(&mut self.allowed_warnings);
        next
    }

    /// The `host:port` of the JSON API.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The `host:port` of the public gRPC API; the test must have passed `--grpc-listen`.
    pub(crate) fn grpc_address(&self) -> &str {
        self.grpc_address
            .as_deref()
            .expect("keyshard was started with --grpc-listen")
    }

    /// Registers bytes the test handled that must never appear in the log.
    pub(crate) fn observe_secret(&self, secret: &[u8]) {
        lock(&self.observed).secrets.push(secret.to_vec());
    }

    /// The process id, for reaching the process's view of the file system under
    /// `/proc/<pid>/root`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("keyshard is running").id()
    }

    /// Lets the test's calls be answered with HTTP 503 and the service log these WARN or ERROR
    /// lines, as it does while its store cannot write.
    pub(crate) fn expect_unavailable(&mut self, warnings: &[&str]) {
        self.unavailable_expected = true;
        self.allowed_warnings
            .extend(warnings.iter().map(|&w| w.to_owned()));
    }

    /// The data directory this Keyshard runs on.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// An SDK client for this Keyshard. Retries are off, so a 5xx reaches the test.
    pub(crate) fn client(&self) -> Client {
        sdk_client(&self.address, &self.observed)
    }

    /// Sends `body` to `TrentService.<target>` with the headers an SDK sends, and returns the
    /// status and the JSON body.
    pub(crate) async fn raw(&self, target: &str, body: &Value) -> (u16, Value) {
        let response = self
            .send_raw(RawRequest::new(target, body.to_string()))
            .await;
        (response.status, response.json())
    }

    /// Sends a hand-built request over a fresh TCP connection.
    pub(crate) async fn send_raw(&self, request: RawRequest) -> RawResponse {
        send_recorded(&self.address, &self.observed, request).await
    }

    /// Sends SIGTERM, as Kubernetes does to stop a pod.
    pub(crate) fn terminate(&self) {
        let child = self.child.as_ref().expect("keyshard is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM could not be sent");
    }

    /// Waits for the process to exit by itself, for at most `limit`; true if it did so
    /// successfully.
    pub(crate) async fn exited_within(&mut self, limit: Duration) -> bool {
        let child = self.child.as_mut().expect("keyshard is running");
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("the process can be polled") {
                return status.success();
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops Keyshard and fails on any unexpected WARN or ERROR line, any panic, any 5xx
    /// answer, any answer without `x-amzn-RequestId`, and any secret the test handled appearing
    /// in the log raw, in hex or in base64.
    pub(crate) fn finish(mut self) {
        self.stop();
        self.checked = true;
        self.check();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The process may have exited already; either way it is reaped below.
            child.kill().ok();
            child
                .wait()
                .expect("the keyshard process can be waited for");
        }
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the log reader does not panic");
        }
    }

    /// Everything the process logged so far.
    pub(crate) fn log_text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.log)).into_owned()
    }

    fn check(&self) {
        let log = lock(&self.log).clone();
        let text = String::from_utf8_lossy(&log);
        let unexpected: Vec<&str> = text
            .lines()
            .filter(|l| {
                is_unexpected_line(l) && !self.allowed_warnings.iter().any(|w| l.contains(w))
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "unexpected lines in the keyshard log:\n{}\n--- full log ---\n{text}",
            unexpected.join("\n")
        );

        let observed = lock(&self.observed);
        for seen in &observed.responses {
            assert!(
                seen.status < 500 || (self.unavailable_expected && seen.status == 503),
                "{} was answered with HTTP {}",
                seen.request,
                seen.status
            );
            assert!(
                seen.has_request_id,
                "{} was answered without x-amzn-RequestId",
                seen.request
            );
        }
        if let Some(form) = SecretScan::new(&observed.secrets).leaked_form(&log) {
            panic!("a secret the test handled appears in the keyshard log {form}:\n{text}");
        }
    }
}

impl Drop for Keyshard {
    fn drop(&mut self) {
        self.stop();
        if !self.checked && !std::thread::panicking() {
            self.checked = true;
            self.check();
        }
    }
}

/// An SDK client for the JSON API at `address` that records what it sees into `observed`,
/// signing with the fixed test credentials that `keyshard dev` accepts. Retries are off, so a
/// 5xx reaches the test.
pub(crate) fn sdk_client(address: &str, observed: &Arc<Mutex<Observed>>) -> Client {
    let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "blackbox");
    sdk_client_with(address, observed, credentials)
}

/// [`sdk_client`] signing with `credentials`.
pub(crate) fn sdk_client_with(
    address: &str,
    observed: &Arc<Mutex<Observed>>,
    credentials: Credentials,
) -> Client {
    Client::from_conf(sdk_config_with(address, observed, credentials).build())
}

/// The configuration of [`sdk_client_with`], for a test to change before building a client.
pub(crate) fn sdk_config_with(
    address: &str,
    observed: &Arc<Mutex<Observed>>,
    credentials: Credentials,
) -> aws_sdk_kms::config::Builder {
    aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .endpoint_url(format!("http://{address}"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(IO_TIMEOUT)
                .build(),
        )
        .interceptor(Recorder {
            observed: Arc::clone(observed),
        })
}

/// Sends a hand-built request to `address` over a fresh TCP connection, recording its answer
/// and the plaintexts it carries into `observed`.
pub(crate) async fn send_recorded(
    address: &str,
    observed: &Mutex<Observed>,
    request: RawRequest,
) -> RawResponse {
    lock(observed).plaintext_in(&request.body);
    let address = address.to_owned();
    let what = format!("raw {}", request.describe());
    let response = tokio::task::spawn_blocking(move || exchange(&address, &request))
        .await
        .expect("the raw HTTP exchange does not panic")
        .unwrap_or_else(|err| panic!("{what} got no complete response: {err}"));
    let mut observed = lock(observed);
    observed.plaintext_in(&response.body);
    observed.responses.push(Seen {
        request: what,
        status: response.status,
        has_request_id: response.header("x-amzn-requestid").is_some(),
    });
    response
}

pub(crate) fn collect_log(
    stderr: ChildStderr,
    log: &Mutex<Vec<u8>>,
    lines: &mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                lock(log).extend_from_slice(&line);
                // Nobody listens once Keyshard is ready; the log is still kept above.
                lines.send(String::from_utf8_lossy(&line).into_owned()).ok();
            }
        }
    }
}

/// The value of the field `name` on a log line.
pub(crate) fn log_field(line: &str, name: &str) -> Option<String> {
    let (_, rest) = line.split_once(&format!(" {name}="))?;
    let value = rest.split_whitespace().next()?;
    Some(value.to_owned())
}

pub(crate) fn listen_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("listen=")?;
    let address = rest.split_whitespace().next()?;
    Some(address.to_owned())
}

/// A WARN or ERROR line other than the development-mode warning, or a panic.
fn is_unexpected_line(line: &str) -> bool {
    let level = line.split_whitespace().nth(1);
    let warning_or_error = matches!(level, Some("WARN" | "ERROR"));
    (warning_or_error && !line.contains(EXPECTED_WARNING)) || line.contains("panicked")
}

/// Every form in which the secrets a test handled could leak into a log (raw, hex, base64, a
/// `Debug` byte list), searched for in one pass however many secrets there are.
pub(crate) struct SecretScan {
    /// Each form's bytes and name, by its first [`MIN_SECRET_LEN`] bytes; no form is shorter.
    forms: HashMap<[u8; MIN_SECRET_LEN], Vec<(Vec<u8>, &'static str)>>,
}

impl SecretScan {
    /// A scan for the secrets of at least [`MIN_SECRET_LEN`] bytes among `secrets`.
    pub(crate) fn new(secrets: &[Vec<u8>]) -> Self {
        let unique: HashSet<&[u8]> = secrets
            .iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .map(Vec::as_slice)
            .collect();
        let mut forms: HashMap<_, Vec<_>> = HashMap::new();
        for secret in unique {
            let lower_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let encoded = [
                ("raw", secret.to_vec()),
                ("as lowercase hex", lower_hex.clone().into_bytes()),
                ("as uppercase hex", lower_hex.to_uppercase().into_bytes()),
                ("as base64", STANDARD_NO_PAD.encode(secret).into_bytes()),
                (
                    "as URL-safe base64",
                    URL_SAFE_NO_PAD.encode(secret).into_bytes(),
                ),
                ("as a Debug byte list", format!("{secret:?}").into_bytes()),
            ];
            for (name, bytes) in encoded {
                let mut prefix = [0; MIN_SECRET_LEN];
                prefix.copy_from_slice(&bytes[..MIN_SECRET_LEN]);
                forms.entry(prefix).or_default().push((bytes, name));
            }
        }
        Self { forms }
    }

    /// How one of the secrets appears in `log`, if one does.
    pub(crate) fn leaked_form(&self, log: &[u8]) -> Option<&'static str> {
        log.windows(MIN_SECRET_LEN)
            .enumerate()
            .find_map(|(at, window)| {
                let candidates = self.forms.get(window)?;
                candidates
                    .iter()
                    .find(|(bytes, _)| log[at..].starts_with(bytes))
                    .map(|&(_, name)| name)
            })
    }
}

/// Records every SDK response and registers the plaintexts SDK calls send and receive.
#[derive(Debug)]
struct Recorder {
    observed: Arc<Mutex<Observed>>,
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "blackbox-recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(body) = context.request().body().bytes() {
            lock(&self.observed).plaintext_in(body);
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let mut observed = lock(&self.observed);
        if let Some(body) = response.body().bytes() {
            observed.plaintext_in(body);
        }
        observed.responses.push(Seen {
            request: "an SDK call".to_owned(),
            status: response.status().as_u16(),
            has_request_id: response.headers().get("x-amzn-requestid").is_some(),
        });
        Ok(())
    }
}

mod tests {
    use super::*;

    #[test]
    fn the_log_check_flags_warnings_errors_and_panics_but_not_the_development_mode_line() {
        let line = |level: &str, message: &str| {
            format!("2026-01-01T00:00:00.000000Z {level:>5} keyshard::dev: {message}")
        };
        assert!(!is_unexpected_line(&line("INFO", "key created")));
        assert!(!is_unexpected_line(&line(
            "WARN",
            "development mode: do not"
        )));
        assert!(is_unexpected_line(&line("WARN", "shard call failed")));
        assert!(is_unexpected_line(&line("ERROR", "key store failed")));
        assert!(is_unexpected_line(
            "thread 'tokio-runtime-worker' panicked at src/x.rs:1:1"
        ));
    }

    #[test]
    fn the_secret_scan_finds_raw_hex_base64_and_debug_forms() {
        let secret = [0xfbu8, 0xff, 0x10, 0x00, 0x41, 0x42, 0x43, 0x44, 0x45];
        let scan = SecretScan::new(&[secret.to_vec(), b"short".to_vec()]);
        let found = |log: String| scan.leaked_form(log.as_bytes());
        assert_eq!(found("short".to_owned()), None);
        assert_eq!(found("nothing here".to_owned()), None);
        assert_eq!(found("x=fbff100041424344 45".to_owned()), None);
        assert_eq!(
            found("x=fbff10004142434445".to_owned()),
            Some("as lowercase hex")
        );
        assert_eq!(
            found("x=FBFF10004142434445".to_owned()),
            Some("as uppercase hex")
        );
        assert_eq!(
            found(format!("x={}", STANDARD.encode(secret))),
            Some("as base64")
        );
        assert_eq!(
            found(format!("x={}", URL_SAFE_NO_PAD.encode(secret))),
            Some("as URL-safe base64")
        );
        assert_eq!(found(format!("x={secret:?}")), Some("as a Debug byte list"));
        let mut raw = b"x=".to_vec();
        raw.extend_from_slice(&secret);
        assert_eq!(scan.leaked_form(&raw), Some("raw"));
    }
}
