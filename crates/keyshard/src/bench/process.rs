//! The servers the benchmark measures, as child processes: started, waited for until they
//! serve, read from `/proc` for CPU time and resident memory, and killed by PID when dropped.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// Longest wait for a server to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Log lines kept per server, for the message when it fails.
const LOG_TAIL_LINES: usize = 40;

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, 100 a second on Linux's architectures.
const TICKS_PER_SECOND: u64 = 100;

/// A server that did not start or cannot be observed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    #[error("cannot start {name}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{name} did not start serving within {timeout:?}; the end of its log:\n{log}")]
    NotReady {
        name: String,
        timeout: Duration,
        log: String,
    },

    #[error("cannot read /proc for process {pid}")]
    Proc {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// How the bench learns that a server serves.
pub(crate) enum Ready {
    /// A Keyshard process: its log line containing `ready to serve` names the address it bound
    /// (`listen=...`), and a `metrics endpoint ready` line before it the admin address.
    LogLine,
    /// Any other server: it accepts TCP connections on this address.
    Accepts(SocketAddr),
}

/// A running child process, killed when dropped.
pub(crate) struct Server {
    name: String,
    child: Option<Child>,
    pid: u32,
    address: SocketAddr,
    metrics: Option<SocketAddr>,
    log: Arc<Mutex<VecDeque<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `program args` with `env` added to an environment cleared of `KEYSHARD_*`
    /// variables, and waits until it serves.
    pub(crate) async fn start(
        name: &str,
        program: &Path,
        args: &[OsString],
        env: &[(&str, &str)],
        ready: Ready,
    ) -> Result<Self, ProcessError> {
        let mut command = Command::new(program);
        // Settings come from the arguments only, whatever the bench's own environment holds.
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("KEYSHARD_") {
                command.env_remove(var);
            }
        }
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                name: name.to_owned(),
                source,
            })?;
        let pid = child.id();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (lines_tx, lines_rx) = mpsc::unbounded_channel();
        let reader = child.stderr.take().map(|stderr| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || keep_log(stderr, &log, &lines_tx))
        });
        let mut server = Self {
            name: name.to_owned(),
            child: Some(child),
            pid,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics: None,
            log,
            reader,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        let started = match ready {
            Ready::LogLine => server.ready_line(lines_rx, deadline).await,
            Ready::Accepts(address) => accepts(address, deadline).await.then_some((address, None)),
        };
        let Some((address, metrics)) = started else {
            server.stop();
            return Err(ProcessError::NotReady {
                name: server.name.clone(),
                timeout: START_TIMEOUT,
                log: server.log_tail(),
            });
        };
        server.address = address;
        server.metrics = metrics;
        Ok(server)
    }

    /// The address it serves on.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address of its `/metrics` endpoint, for Keyshard processes started with one.
    pub(crate) fn metrics(&self) -> Option<SocketAddr> {
        self.metrics
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the process by its PID and reaps it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // It may have exited already; either way it is reaped here.
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// The last lines it logged.
    pub(crate) fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().map(String::as_str).collect()
    }

    async fn ready_line(
        &self,
        mut lines: mpsc::UnboundedReceiver<String>,
        deadline: Instant,
    ) -> Option<(SocketAddr, Option<SocketAddr>)> {
        let wait = async {
            let mut metrics = None;
            while let Some(line) = lines.recv().await {
                if line.contains("metrics endpoint ready") {
                    metrics = listen_address(&line);
                } else if line.contains("ready to serve") {
                    return listen_address(&line).map(|address| (address, metrics));
                }
            }
            None
        };
        tokio::time::timeout_at(deadline, wait).await.ok().flatten()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CPU time (user and system) a process has used so far, all its threads included.
pub(crate) fn cpu_time(pid: u32) -> Result<Duration, ProcessError> {
    let proc_error = |source| ProcessError::Proc { pid, source };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(proc_error)?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| {
        proc_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "unexpected /proc/<pid>/stat format",
        ))
    })?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Resident memory of a process, in bytes.
pub(crate) fn resident_bytes(pid: u32) -> Result<u64, ProcessError> {
    let proc_error = |source| ProcessError::Proc { pid, source };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(proc_error)?;
    parse_rss_kib(&status).map(|kib| kib * 1024).ok_or_else(|| {
        proc_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no VmRSS line in /proc/<pid>/status",
        ))
    })
}

/// A loopback port nothing listens on now, for a server that cannot report the port it bound.
pub(crate) fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `utime + stime` from the text of `/proc/<pid>/stat`. The command name in parentheses may
/// hold spaces, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmRSS` value of `/proc/<pid>/status`, in KiB.
fn parse_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn listen_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listen=")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Whether `address` accepts a TCP connection before `deadline`.
async fn accepts(address: SocketAddr, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Reads the log until the process closes it, keeping the last lines and passing each on.
fn keep_log(
    stderr: ChildStderr,
    log: &Mutex<VecDeque<String>>,
    lines: &mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line).into_owned();
                {
                    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                    if log.len() == LOG_TAIL_LINES {
                        log.pop_front();
                    }
                    log.push_back(text.clone());
                }
                // Nobody listens once the server is ready.
                let _ = lines.send(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_add_user_and_system_time_after_a_name_with_spaces() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 1200 0 0 0 731 96 0 0 20 0 \
                    6 0 123456 987654321 2345 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(827));
    }

    #[test]
    fn resident_memory_is_read_from_the_vmrss_line() {
        let status = "Name:\tkeyshard\nVmPeak:\t  90000 kB\nVmRSS:\t   23456 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kib(status), Some(23456));
        assert_eq!(parse_rss_kib("Name:\tkeyshard\n"), None);
    }

    #[test]
    fn the_listen_address_is_read_from_a_ready_line() {
        let line = "2026-01-01T00:00:00Z  INFO keyshard::gateway: keyshard gateway ready to serve \
                    listen=127.0.0.1:40123 shards=127.0.0.1:1";
        assert_eq!(
            listen_address(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
    }
}
