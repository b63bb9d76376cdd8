//! The gateway's request metrics, in the Prometheus text format: a counter per operation and
//! outcome, and a latency histogram per operation. Labels come from fixed sets (operation
//! names, AWS error types), never from request data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use keyshard_core::histogram::Histogram;

/// Counts of answered requests.
#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
}

impl Metrics {
    /// Records one answered request. `outcome` is `ok` or the AWS error type.
    pub(crate) fn record(&self, operation: &'static str, outcome: &'static str, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((operation, outcome))
            .or_default() += 1;
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(operation)
            .or_default()
            .observe(elapsed);
    }

    /// The metrics as Prometheus text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from(
            "# HELP keyshard_requests_total Requests answered, by operation and outcome.\n\
             # TYPE keyshard_requests_total counter\n",
        );
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        for ((operation, outcome), count) in requests.iter() {
            let _ = writeln!(
                out,
                "keyshard_requests_total{{operation=\"{operation}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        drop(requests);

        out.push_str(
            "# HELP keyshard_request_duration_seconds Time to answer a request, by operation.\n\
             # TYPE keyshard_request_duration_seconds histogram\n",
        );
        let latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        for (operation, histogram) in latency.iter() {
            histogram.render(
                &mut out,
                "keyshard_request_duration_seconds",
                &format!("operation=\"{operation}\""),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_operation_and_outcome() {
        let metrics = Metrics::default();
        metrics.record("Encrypt", "ok", Duration::from_millis(2));
        metrics.record("Encrypt", "ok", Duration::from_millis(30));
        metrics.record("Encrypt", "NotFoundException", Duration::from_millis(1));
        let text = metrics.render();
        assert!(text.contains("keyshard_requests_total{operation=\"Encrypt\",outcome=\"ok\"} 2\n"));
        assert!(text.contains(
            "keyshard_requests_total{operation=\"Encrypt\",outcome=\"NotFoundException\"} 1\n"
        ));
        assert!(text.contains(
            "keyshard_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.0025\"} 2\n"
        ));
        assert!(text.contains(
            "keyshard_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"0.05\"} 3\n"
        ));
        assert!(
            text.contains("keyshard_request_duration_seconds_count{operation=\"Encrypt\"} 3\n")
        );
    }
}
