//! The answers of calls made under a fault, counted by operation and outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

use crate::harness::lock;

/// A call that succeeded.
pub(crate) const OK: &str = "ok";

/// The retryable answer of a call no shard could serve in time.
pub(crate) const UNAVAILABLE: &str = "503 DependencyTimeoutException";

/// A call that succeeded with a plaintext other than the one sealed, counted besides its
/// [`OK`].
pub(crate) const WRONG_PLAINTEXT: &str = "wrong plaintext";

/// Outcomes by operation.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    counts: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Tally {
    /// Counts the answer of one call and hands back its output when it succeeded.
    pub(crate) fn record<O, E>(
        &self,
        operation: &'static str,
        result: Result<O, SdkError<E, HttpResponse>>,
    ) -> Option<O>
    where
        E: ProvideErrorMetadata,
    {
        match result {
            Ok(output) => {
                self.count(operation, OK);
                Some(output)
            }
            Err(err) => {
                let outcome = match err.raw_response() {
                    Some(raw) => format!(
                        "{} {}",
                        raw.status().as_u16(),
                        err.code().unwrap_or("(no __type)")
                    ),
                    None => format!("no answer ({})", sdk_failure_kind(&err)),
                };
                self.count(operation, &outcome);
                None
            }
        }
    }

    /// Counts one outcome the caller decided, such as [`WRONG_PLAINTEXT`].
    pub(crate) fn count(&self, operation: &'static str, outcome: &str) {
        *lock(&self.counts)
            .entry((operation, outcome.to_owned()))
            .or_default() += 1;
    }

    /// How many calls of every operation had `outcome`.
    pub(crate) fn total(&self, outcome: &str) -> u64 {
        lock(&self.counts)
            .iter()
            .filter(|((_, o), _)| o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// The outcomes other than `allowed`, as `operation outcome: count` lines.
    pub(crate) fn other_than(&self, allowed: &[&str]) -> Vec<String> {
        lock(&self.counts)
            .iter()
            .filter(|((_, outcome), _)| !allowed.contains(&outcome.as_str()))
            .map(|((operation, outcome), n)| format!("{operation} {outcome}: {n}"))
            .collect()
    }

    /// A table of every operation and outcome, for the test output.
    pub(crate) fn summary(&self) -> String {
        let mut table = String::from("| operation | outcome | calls |\n|---|---|---|\n");
        for ((operation, outcome), n) in lock(&self.counts).iter() {
            writeln!(table, "| {operation} | {outcome} | {n} |").expect("writing to a String");
        }
        table
    }
}

/// Why an SDK call got no HTTP answer, in a word.
fn sdk_failure_kind<E>(err: &SdkError<E, HttpResponse>) -> &'static str {
    match err {
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ConstructionFailure(_) => "construction failure",
        _ => "unreadable response",
    }
}
