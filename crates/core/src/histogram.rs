//! A latency histogram in the Prometheus text format, shared by the gateway's request metrics
//! and the store's statement timings.

use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds, in seconds, of every latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Durations counted into [`LATENCY_BUCKETS`], with their count and sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each bound of `LATENCY_BUCKETS`.
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (count, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines of the histogram `name` to `out`, each
    /// with `labels` (such as `operation="Encrypt"`, or nothing) besides `le`.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let (braced, prefix) = if labels.is_empty() {
            (String::new(), String::new())
        } else {
            (format!("{{{labels}}}"), format!("{labels},"))
        };
        for (count, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{braced} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{braced} {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_count_in_every_bucket_at_or_above_them() {
        let mut histogram = Histogram::default();
        histogram.observe(Duration::from_micros(400));
        histogram.observe(Duration::from_millis(30));
        histogram.observe(Duration::from_secs(2));
        let mut out = String::new();
        histogram.render(&mut out, "x_seconds", "");

        assert!(out.contains("x_seconds_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.025\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum 2.0304\n"), "{out}");
        assert!(out.contains("x_seconds_count 3\n"), "{out}");
        assert_eq!(histogram.count(), 3);
    }

    #[test]
    fn labels_go_before_the_bucket_bound_and_on_sum_and_count() {
        let mut histogram = Histogram::default();
        histogram.observe(Duration::from_millis(2));
        let mut out = String::new();
        histogram.render(&mut out, "y", "operation=\"Encrypt\"");

        assert!(
            out.contains("y_bucket{operation=\"Encrypt\",le=\"0.0025\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("y_sum{operation=\"Encrypt\"} 0.002\n"),
            "{out}"
        );
        assert!(out.contains("y_count{operation=\"Encrypt\"} 1\n"), "{out}");
    }
}
