//! Log lines written to standard error by a thread of their own, in batches. A request's
//! access line then costs a copy into memory instead of a `write` system call on the request's
//! path (and a wake-up of whatever reads the pipe), which under load was a sixth of a gateway's
//! CPU time.
//!
//! A line reaches standard error within [`LINGER`] of being logged, or at once when
//! [`LogOutput::flush`] asks, which the process does before it exits and before a panic's
//! message is printed. When the writer falls [`MAX_PENDING`] bytes behind (standard error is a
//! pipe nobody reads fast enough), loggers wait for it, as a direct write would.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets lines gather after the first one before writing them all.
const LINGER: Duration = Duration::from_millis(5);

/// Bytes waiting to be written beyond which loggers wait for the writer.
const MAX_PENDING: usize = 4 << 20;

/// Longest a flush waits for the writer: a flush never hangs the process.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// The writer holds bytes it took and has not finished writing.
    writing: bool,
    /// A flush is waiting: write without lingering.
    flushing: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when lines arrive in an empty buffer, or a flush begins.
    arrived: Condvar,
    /// Signalled when the writer took the pending bytes, or finished writing them.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the log layer writes: a handle on the buffer the writer thread drains.
#[derive(Clone)]
pub(crate) struct LogOutput {
    shared: Arc<Shared>,
}

impl LogOutput {
    /// Starts the writer thread, which lives as long as the process, writing to `sink`.
    pub(crate) fn start(sink: impl std::io::Write + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("keyshard-log".to_owned())
            .spawn(move || write_batches(&writer, sink))?;
        Ok(Self { shared })
    }

    /// Waits until every line logged so far has been written, for at most [`FLUSH_TIMEOUT`].
    pub(crate) fn flush(&self) {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut state = self.shared.lock();
        state.flushing = true;
        self.shared.arrived.notify_one();
        while !state.pending.is_empty() || state.writing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .shared
                .drained
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.flushing = false;
    }

    fn append(&self, bytes: &[u8]) {
        let mut state = self.shared.lock();
        while state.pending.len() > MAX_PENDING {
            state = self
                .shared
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = state.pending.is_empty();
        state.pending.extend_from_slice(bytes);
        if was_empty {
            self.shared.arrived.notify_one();
        }
    }
}

/// The writer thread: waits for lines, lets more gather for [`LINGER`] unless a flush is
/// waiting, and writes them all at once.
fn write_batches(shared: &Shared, mut sink: impl std::io::Write) {
    let mut batch = Vec::new();
    let mut state = shared.lock();
    loop {
        if state.pending.is_empty() {
            state = shared
                .arrived
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        if !state.flushing {
            state = shared
                .arrived
                .wait_timeout(state, LINGER)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut batch, &mut state.pending);
        state.writing = true;
        drop(state);
        shared.drained.notify_all();
        // Nowhere is left to report a failed write of the log itself.
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        batch.clear();
        state = shared.lock();
        state.writing = false;
        shared.drained.notify_all();
    }
}

/// One formatted event on its way into the buffer.
pub(crate) struct Line<'a>(&'a LogOutput);

impl std::io::Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogOutput {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// A sink the test can read, counting the writes it received.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut sink = self.0.lock().expect("sink");
            sink.0.extend_from_slice(bytes);
            sink.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_logged_together_are_written_together_and_whole_after_a_flush() {
        let sink = Sink::default();
        let output = LogOutput::start(sink.clone()).expect("writer thread");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let output = output.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        let mut line = output.make_writer();
                        line.write_all(format!("thread {t} line {i}\n").as_bytes())
                            .expect("append");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("logging thread");
        }
        output.flush();

        let (written, writes) = sink.0.lock().expect("sink").clone();
        let text = String::from_utf8(written).expect("utf-8");
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1000);
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), 1000, "every line once, none torn");
        for t in 0..4 {
            let own: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|i| i.parse().expect("index"))
                .collect();
            assert_eq!(own, (0..250).collect::<Vec<_>>(), "thread {t} in order");
        }
        assert!(writes < 1000, "{writes} writes for 1000 lines");
    }

    #[test]
    fn a_flush_with_nothing_logged_returns_at_once() {
        let sink = Sink::default();
        let output = LogOutput::start(sink.clone()).expect("writer thread");
        output.flush();
        assert_eq!(sink.0.lock().expect("sink").1, 0);
    }
}
