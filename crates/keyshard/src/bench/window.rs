//! One timed window of a target: its warm-up, then the load, with the servers' CPU time, the
//! store queries and the gateway's memory read around it.

use std::net::SocketAddr;
use std::time::Duration;

use super::load::{self, Load};
use super::process::{self, ProcessError};
use super::report::{self, Sample};
use super::signing::Signer;
use super::{BenchError, Settings, Target, batch};

/// What a target is sent.
pub(super) enum Workload {
    /// JSON 1.1 calls over HTTP/1.1.
    Http(Load),
    /// Batches of data keys over the public gRPC API.
    Batch(batch::BatchLoad),
}

impl Workload {
    async fn run(&self, signer: &Signer, concurrency: u32, duration: Duration) -> load::Window {
        match self {
            Self::Http(load) => load::run(load, signer, concurrency, duration).await,
            Self::Batch(load) => batch::run(load, duration).await,
        }
    }
}

/// Warm-up, then one timed window, with CPU time, store queries and memory read around it.
pub(super) async fn measure_once(
    target: &Target,
    round: u32,
    settings: Settings,
    signer: &Signer,
) -> Result<Sample, BenchError> {
    let warmup = target
        .load
        .run(signer, settings.concurrency, settings.warmup)
        .await;

    let queries_before = store_queries(&target.store_metrics).await?;
    let rss_before = target.gateway.map(process::resident_bytes).transpose()?;
    let server_before = cpu_of(&target.pids)?;
    let client_before = process::cpu_time(std::process::id())?;
    let mut window = target
        .load
        .run(signer, settings.concurrency, settings.duration)
        .await;
    let client_cpu = process::cpu_time(std::process::id())?.saturating_sub(client_before);
    let server_cpu = cpu_of(&target.pids)?.saturating_sub(server_before);
    let rss_after = target.gateway.map(process::resident_bytes).transpose()?;
    let queries_after = store_queries(&target.store_metrics).await?;

    window.latencies_us.sort_unstable();
    let requests = window.completed;
    let per_request = |cpu: Duration| {
        if requests == 0 {
            0.0
        } else {
            cpu.as_secs_f64() * 1e6 / requests as f64
        }
    };
    let seconds = window.elapsed.as_secs_f64();
    Ok(Sample {
        round,
        requests,
        errors: warmup.errors + window.errors,
        seconds,
        requests_per_second: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p50_ms: report::percentile_ms(&window.latencies_us, 0.5),
        p99_ms: report::percentile_ms(&window.latencies_us, 0.99),
        p999_ms: report::percentile_ms(&window.latencies_us, 0.999),
        server_cpu_us_per_request: per_request(server_cpu),
        client_cpu_us_per_request: per_request(client_cpu),
        store_queries: queries_before
            .zip(queries_after)
            .map(|(before, after)| after.saturating_sub(before)),
        gateway_rss_before_bytes: rss_before,
        gateway_rss_after_bytes: rss_after,
        first_error: window.first_error.or(warmup.first_error),
    })
}

fn cpu_of(pids: &[u32]) -> Result<Duration, ProcessError> {
    let mut total = Duration::ZERO;
    for &pid in pids {
        total += process::cpu_time(pid)?;
    }
    Ok(total)
}

/// `keyshard_store_queries_total` summed over `endpoints`; `None` when there are none.
async fn store_queries(endpoints: &[SocketAddr]) -> Result<Option<u64>, BenchError> {
    if endpoints.is_empty() {
        return Ok(None);
    }
    let mut total = 0;
    for &endpoint in endpoints {
        let body = load::get(endpoint, "/metrics")
            .await
            .map_err(|source| BenchError::Setup {
                what: "reading /metrics",
                source,
            })?;
        let text = String::from_utf8_lossy(&body);
        total +=
            counter(&text, "keyshard_store_queries_total").ok_or_else(|| BenchError::Answer {
                what: "reading /metrics",
                body: "no keyshard_store_queries_total".to_owned(),
            })?;
    }
    Ok(Some(total))
}

/// The value of an unlabelled counter in Prometheus text.
fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_is_read_from_prometheus_text() {
        let text = "# HELP keyshard_store_queries_total SQL statements sent to the store.\n\
                    # TYPE keyshard_store_queries_total counter\n\
                    keyshard_store_queries_total 42\n\
                    keyshard_store_queries_total_other 7\n";
        assert_eq!(counter(text, "keyshard_store_queries_total"), Some(42));
        assert_eq!(counter(text, "keyshard_cache_hits_total"), None);
    }
}
