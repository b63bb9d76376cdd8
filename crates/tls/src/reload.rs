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

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration that is the number a file holds.
    fn number(contents: &[Contents]) -> Result<u32, TlsError> {
        std::str::from_utf8(&contents[0])
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| TlsError::NoCertificate {
                path: PathBuf::from("number"),
            })
    }

    #[tokio::test(start_paused = true)]
    async fn changed_files_replace_the_configuration_and_unusable_ones_are_ignored() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("number");
        std::fs::write(&path, "1").expect("the file is written");
        let every = Duration::from_secs(10);
        let reloading = Reloading::start("test", vec![path.clone()], every, number)
            .expect("the first contents build");
        assert_eq!(*reloading.current(), 1);

        std::fs::write(&path, "not a number").expect("the file is written");
        tokio::time::sleep(every + Duration::from_secs(1)).await;
        assert_eq!(*reloading.current(), 1);

        std::fs::remove_file(&path).expect("the file is removed");
        tokio::time::sleep(every).await;
        assert_eq!(*reloading.current(), 1);

        std::fs::write(&path, "2").expect("the file is written");
        tokio::time::sleep(every).await;
        assert_eq!(*reloading.current(), 2);
    }

    #[tokio::test]
    async fn unusable_files_at_start_are_an_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("number");
        let missing = Reloading::start("test", vec![path.clone()], Duration::from_secs(1), number);
        assert!(matches!(missing, Err(TlsError::Read { .. })));

        std::fs::write(&path, "x").expect("the file is written");
        let unusable = Reloading::start("test", vec![path], Duration::from_secs(1), number);
        assert!(matches!(unusable, Err(TlsError::NoCertificate { .. })));
    }
}
