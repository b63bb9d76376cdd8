//! Results: one sample per target and round, medians over rounds, ratios of each case to each
//! reference, printed as tables and written as JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// Whether a target is a ceiling to compare with or a Keyshard case.
#[derive(Clone, Copy, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Reference,
    Case,
}

/// One timed window of one target.
#[derive(Clone, Default, Serialize)]
pub(crate) struct Sample {
    pub(crate) round: u32,
    /// Calls answered with HTTP 200 in the window.
    pub(crate) requests: u64,
    /// Failed calls, warm-up included.
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) requests_per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    /// CPU time of the target's server processes per answered call.
    pub(crate) server_cpu_us_per_request: f64,
    /// CPU time of the bench itself (the load generator) per answered call.
    pub(crate) client_cpu_us_per_request: f64,
    /// SQL statements the target's shards sent during the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) store_queries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) gateway_rss_before_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) gateway_rss_after_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) first_error: Option<String>,
}

/// Medians over a target's rounds (errors and queries summed).
#[derive(Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) requests_per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) errors: u64,
    pub(crate) server_cpu_us_per_request: f64,
    pub(crate) client_cpu_us_per_request: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) store_queries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) store_queries_per_request: Option<f64>,
}

/// A reference or case, measured or not.
#[derive(Serialize)]
pub(crate) struct TargetReport {
    pub(crate) id: &'static str,
    pub(crate) kind: Kind,
    pub(crate) title: &'static str,
    /// Why the target was not measured, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) not_measured: Option<String>,
    pub(crate) samples: Vec<Sample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) median: Option<Summary>,
}

/// A case's medians divided by a reference's.
#[derive(Serialize)]
pub(crate) struct Ratio {
    pub(crate) case: &'static str,
    pub(crate) reference: &'static str,
    pub(crate) requests_per_second: f64,
    pub(crate) p99: f64,
    pub(crate) server_cpu_per_request: f64,
}

impl TargetReport {
    pub(crate) fn measured(
        id: &'static str,
        kind: Kind,
        title: &'static str,
        samples: Vec<Sample>,
    ) -> Self {
        let median = summarize(&samples);
        Self {
            id,
            kind,
            title,
            not_measured: None,
            samples,
            median,
        }
    }

    pub(crate) fn not_measured(
        id: &'static str,
        kind: Kind,
        title: &'static str,
        why: String,
    ) -> Self {
        Self {
            id,
            kind,
            title,
            not_measured: Some(why),
            samples: Vec::new(),
            median: None,
        }
    }

    /// Failed calls over every round.
    pub(crate) fn errors(&self) -> u64 {
        self.samples.iter().map(|s| s.errors).sum()
    }
}

/// Latency percentile `q` (0 < q <= 1) of `sorted` microsecond values, in milliseconds, by the
/// nearest-rank method.
pub(crate) fn percentile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let count = sorted.len() as f64;
    let rank = (q * count).ceil().clamp(1.0, count) as usize;
    f64::from(sorted[rank - 1]) / 1000.0
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn summarize(samples: &[Sample]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let of = |field: fn(&Sample) -> f64| median(samples.iter().map(field));
    let store_queries = samples.iter().map(|s| s.store_queries).sum::<Option<u64>>();
    let requests: u64 = samples.iter().map(|s| s.requests).sum();
    Some(Summary {
        requests_per_second: of(|s| s.requests_per_second),
        p50_ms: of(|s| s.p50_ms),
        p99_ms: of(|s| s.p99_ms),
        p999_ms: of(|s| s.p999_ms),
        errors: samples.iter().map(|s| s.errors).sum(),
        server_cpu_us_per_request: of(|s| s.server_cpu_us_per_request),
        client_cpu_us_per_request: of(|s| s.client_cpu_us_per_request),
        store_queries,
        store_queries_per_request: store_queries
            .filter(|_| requests > 0)
            .map(|q| q as f64 / requests as f64),
    })
}

/// Every measured case against every measured reference.
pub(crate) fn ratios(targets: &[TargetReport]) -> Vec<Ratio> {
    let measured = |kind| {
        targets
            .iter()
            .filter(move |t| t.kind == kind)
            .filter_map(|t| Some((t.id, t.median.as_ref()?)))
    };
    let divide = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let mut ratios = Vec::new();
    for (case, c) in measured(Kind::Case) {
        for (reference, r) in measured(Kind::Reference) {
            ratios.push(Ratio {
                case,
                reference,
                requests_per_second: divide(c.requests_per_second, r.requests_per_second),
                p99: divide(c.p99_ms, r.p99_ms),
                server_cpu_per_request: divide(
                    c.server_cpu_us_per_request,
                    r.server_cpu_us_per_request,
                ),
            });
        }
    }
    ratios
}

/// The results table: one row per target, medians over rounds.
pub(crate) fn results_table(targets: &[TargetReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<46} {:>9} {:>8} {:>8} {:>8} {:>7} {:>10} {:>10}",
        "target",
        "what",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
        "server µs",
        "client µs"
    );
    for target in targets {
        match (&target.median, &target.not_measured) {
            (Some(m), _) => {
                let _ = writeln!(
                    out,
                    "{:<12} {:<46} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>10.1} {:>10.1}",
                    target.id,
                    target.title,
                    m.requests_per_second,
                    m.p50_ms,
                    m.p99_ms,
                    m.p999_ms,
                    m.errors,
                    m.server_cpu_us_per_request,
                    m.client_cpu_us_per_request,
                );
            }
            (None, why) => {
                let why = why.as_deref().unwrap_or("not measured");
                let _ = writeln!(out, "{:<12} {:<46} {why}", target.id, target.title);
            }
        }
    }
    out
}

/// The ratio table: each case's requests/s, p99 and server CPU per request divided by each
/// reference's.
pub(crate) fn ratio_table(ratios: &[Ratio]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<14} {:>12} {:>12} {:>16}",
        "case", "÷ reference", "req/s ratio", "p99 ratio", "server CPU ratio"
    );
    for ratio in ratios {
        let _ = writeln!(
            out,
            "{:<12} {:<14} {:>12.3} {:>12.2} {:>16.2}",
            ratio.case,
            ratio.reference,
            ratio.requests_per_second,
            ratio.p99,
            ratio.server_cpu_per_request,
        );
    }
    out
}

/// Store queries and gateway memory of the cases that have them.
pub(crate) fn store_and_memory_lines(targets: &[TargetReport]) -> String {
    let mut out = String::new();
    for target in targets {
        let Some(median) = &target.median else {
            continue;
        };
        if let (Some(queries), Some(per_request)) =
            (median.store_queries, median.store_queries_per_request)
        {
            let _ = writeln!(
                out,
                "{}: {queries} store queries in the timed windows ({per_request:.3} per request)",
                target.id
            );
        }
        let before = target
            .samples
            .first()
            .and_then(|s| s.gateway_rss_before_bytes);
        let after = target
            .samples
            .last()
            .and_then(|s| s.gateway_rss_after_bytes);
        if let (Some(before), Some(after)) = (before, after) {
            let _ = writeln!(
                out,
                "{}: gateway resident memory {:.1} MiB before the first window, {:.1} MiB after the last",
                target.id,
                mib(before),
                mib(after)
            );
        }
    }
    out
}

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `YYYY-MM-DD` of a Unix time, in UTC.
pub(crate) fn utc_date(unix_seconds: u64) -> String {
    // Days to a proleptic Gregorian date, counting 400-year eras from 0000-03-01.
    let days = unix_seconds / 86_400 + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<u32> = (1..=1000).map(|n| n * 10).collect();
        assert_eq!(percentile_ms(&sorted, 0.5), 5.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 9.9);
        assert_eq!(percentile_ms(&sorted, 0.999), 9.99);
        assert_eq!(percentile_ms(&[250], 0.999), 0.25);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn medians_take_the_middle_or_the_mean_of_the_two_middles() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
    }

    fn sample(round: u32, rps: f64, p99: f64, errors: u64, queries: u64) -> Sample {
        Sample {
            round,
            requests: 1000,
            errors,
            requests_per_second: rps,
            p99_ms: p99,
            server_cpu_us_per_request: 50.0,
            store_queries: Some(queries),
            ..Sample::default()
        }
    }

    #[test]
    fn a_summary_takes_medians_and_sums_errors_and_queries() {
        let samples = [
            sample(1, 900.0, 3.0, 0, 0),
            sample(2, 1100.0, 1.0, 2, 10),
            sample(3, 1000.0, 2.0, 1, 20),
        ];
        let summary = summarize(&samples).unwrap();
        assert_eq!(summary.requests_per_second, 1000.0);
        assert_eq!(summary.p99_ms, 2.0);
        assert_eq!(summary.errors, 3);
        assert_eq!(summary.store_queries, Some(30));
        assert_eq!(summary.store_queries_per_request, Some(0.01));
    }

    #[test]
    fn ratios_divide_each_case_by_each_reference() {
        let targets = [
            TargetReport::measured(
                "http",
                Kind::Reference,
                "h",
                vec![sample(1, 4000.0, 1.0, 0, 0)],
            ),
            TargetReport::measured(
                "two-hop",
                Kind::Reference,
                "t",
                vec![sample(1, 2000.0, 2.0, 0, 0)],
            ),
            TargetReport::measured(
                "case-2",
                Kind::Case,
                "c",
                vec![sample(1, 1000.0, 3.0, 0, 0)],
            ),
            TargetReport::not_measured("case-5", Kind::Case, "b", "not available".to_owned()),
        ];
        let found: Vec<(&str, &str, f64, f64)> = ratios(&targets)
            .iter()
            .map(|r| (r.case, r.reference, r.requests_per_second, r.p99))
            .collect();
        assert_eq!(
            found,
            vec![
                ("case-2", "http", 0.25, 3.0),
                ("case-2", "two-hop", 0.5, 1.5)
            ]
        );
    }

    #[test]
    fn unix_times_become_utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_767_225_599), "2025-12-31");
        assert_eq!(utc_date(1_772_323_200), "2026-03-01");
    }
}
