//! A configuration built from files and rebuilt when their contents change.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::TlsError;
use crate::files::{self, Contents};

/// The newest valid configuration built from a set of files.
pub(crate) struct Reloading<T> {
    current: watch::Receiver<Arc<T>>,
}

impl<T> Clone for Reloading<T> {
    fn clone(&self) -> Self {
        Self {
            current: self.current.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Reads `paths` and builds the first configuration from their contents, then reads them
    /// again every `every` for as long as a clone of the returned value lives. Contents that
    /// differ from the last ones read are built into a new configuration, which replaces the
    /// current one; a failure is logged once per change and the current one kept. Needs a
    /// tokio runtime.
    pub(crate) fn start<B>(
        what: &'static str,
        paths: Vec<PathBuf>,
        every: Duration,
        build: B,
    ) -> Result<Self, TlsError>
    where
        B: Fn(&[Contents]) -> Result<T, TlsError> + Send + 'static,
    {
        let first = read_all(&paths)?;
        let (updates, current) = watch::channel(Arc::new(build(&first)?));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks.tick().await;
            // `None` after a failed read, so that a file that stays unreadable warns once.
            let mut seen = Some(first);
            loop {
                tokio::select! {
                    () = updates.closed() => return,
                    _ = ticks.tick() => {}
                }
                let contents = match read_all(&paths) {
                    Ok(contents) => contents,
                    Err(err) => {
                        if seen.take().is_some() {
                            tracing::warn!(what, error = %error_chain(&err), "cannot read the TLS files again; keeping the current ones");
                        }
                        continue;
                    }
                };
                if seen.as_ref() == Some(&contents) {
                    continue;
                }
                match build(&contents) {
                    Ok(config) => {
                        updates.send_replace(Arc::new(config));
                        tracing::info!(what, "TLS files changed; new connections use them");
                    }
                    Err(err) => {
                        tracing::warn!(what, error = %error_chain(&err), "the changed TLS files are not usable; keeping the current ones");
                    }
                }
                seen = Some(contents);
            }
        });
        Ok(Self { current })
    }

    /// The configuration a new connection uses.
    pub(crate) fn current(&self) -> Arc<T> {
        Arc::clone(&self.current.borrow())
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Contents>, TlsError> {
    paths.iter().map(|path| files::read(path)).collect()
}

/// An error and its causes, as one line.
fn error_chain(err: &TlsError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
