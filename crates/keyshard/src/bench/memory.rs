//! `--memory`: how much a shard grows to hold 100,000 keys in its cache, and whether a
//! gateway's resident memory stays flat over a minute of load.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::calls::{generate_data_key_calls, json_field};
use super::load::{self, CREATE_KEY, Call, Load};
use super::process;
use super::report::mib;
use super::signing::Signer;
use super::topology::{Cluster, Launcher};
use super::{BenchError, Settings};

/// Keys the shard caches.
const CACHED_KEYS: usize = 100_000;
/// Most a shard may grow to hold them.
const SHARD_GROWTH_LIMIT: u64 = 64 * 1024 * 1024;

/// How long the gateway is loaded, how long it may take to settle, and how much it may grow
/// after that.
const GATEWAY_SECONDS: u64 = 60;
const GATEWAY_SETTLE_SECONDS: usize = 10;
const GATEWAY_GROWTH_LIMIT: u64 = 4 * 1024 * 1024;

/// The memory checks' findings.
#[derive(Serialize)]
pub(crate) struct MemoryReport {
    shard: ShardGrowth,
    gateway: GatewayDrift,
}

#[derive(Serialize)]
struct ShardGrowth {
    cached_keys: usize,
    rss_before_bytes: u64,
    rss_after_bytes: u64,
    growth_bytes: u64,
    limit_bytes: u64,
    passed: bool,
}

#[derive(Serialize)]
struct GatewayDrift {
    seconds: u64,
    /// Resident memory once a second from the start of the load.
    rss_bytes: Vec<u64>,
    settle_seconds: usize,
    /// From the sample at `settle_seconds` to the last one.
    growth_after_settling_bytes: u64,
    limit_bytes: u64,
    passed: bool,
}

impl MemoryReport {
    pub(crate) fn lines(&self) -> String {
        let verdict = |passed| if passed { "within" } else { "OVER" };
        let shard = &self.shard;
        let gateway = &self.gateway;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "memory: a shard caching {} keys grew {:.1} MiB ({:.1} -> {:.1} MiB), {} the {:.0} MiB limit",
            shard.cached_keys,
            mib(shard.growth_bytes),
            mib(shard.rss_before_bytes),
            mib(shard.rss_after_bytes),
            verdict(shard.passed),
            mib(shard.limit_bytes),
        );
        let first = gateway.rss_bytes.first().copied().unwrap_or_default();
        let last = gateway.rss_bytes.last().copied().unwrap_or_default();
        let _ = writeln!(
            out,
            "memory: the warm gateway over {} s of load: {:.1} MiB at the start, {:.1} MiB at the end, \
             {:.1} MiB grown after the first {} s, {} the {:.0} MiB limit",
            gateway.seconds,
            mib(first),
            mib(last),
            mib(gateway.growth_after_settling_bytes),
            gateway.settle_seconds,
            verdict(gateway.passed),
            mib(gateway.limit_bytes),
        );
        out
    }
}

/// Runs both checks: the gateway of `warm` under case 2's load, then a new shard on the same
/// database caching [`CACHED_KEYS`] keys made for it.
pub(crate) async fn check(
    launcher: &Launcher,
    database_url: &str,
    warm: &Cluster,
    warm_calls: &Arc<[Call]>,
    settings: Settings,
    signer: &Signer,
) -> Result<MemoryReport, BenchError> {
    tracing::info!(
        seconds = GATEWAY_SECONDS,
        "memory: loading the warm gateway"
    );
    let gateway = gateway_drift(warm, warm_calls, settings, signer).await?;

    tracing::info!(keys = CACHED_KEYS, "memory: creating keys");
    let setup = |what| move |source| BenchError::Setup { what, source };
    let create = Call::new(
        CREATE_KEY,
        &serde_json::json!({ "Description": "keyshard bench" }),
    );
    let creates: Arc<[Call]> = vec![create; CACHED_KEYS].into();
    let answers = load::send_each(
        warm.gateway.address(),
        signer,
        creates,
        settings.concurrency,
    )
    .await
    .map_err(setup("CreateKey"))?;
    let mut keys = Vec::with_capacity(answers.len());
    for answer in &answers {
        keys.push(json_field(answer, &["KeyMetadata", "KeyId"], "CreateKey")?);
    }
    let touches = generate_data_key_calls(&keys);

    let capacity = (CACHED_KEYS + CACHED_KEYS / 10).to_string();
    let fresh = launcher
        .cluster(
            "memory",
            database_url,
            1,
            &["--cache-capacity", &capacity, "--cache-ttl-seconds", "3600"],
        )
        .await?;
    let shard_pid = fresh
        .shards
        .first()
        .map(process::Server::pid)
        .unwrap_or_default();
    let first: Arc<[Call]> = touches.iter().take(1).cloned().collect();
    load::send_each(fresh.gateway.address(), signer, first, 1)
        .await
        .map_err(setup("GenerateDataKey"))?;
    let rss_before = process::resident_bytes(shard_pid)?;
    tracing::info!(
        keys = CACHED_KEYS,
        "memory: caching every key in a new shard"
    );
    load::send_each(
        fresh.gateway.address(),
        signer,
        touches,
        settings.concurrency,
    )
    .await
    .map_err(setup("GenerateDataKey"))?;
    let rss_after = process::resident_bytes(shard_pid)?;
    let growth = rss_after.saturating_sub(rss_before);

    Ok(MemoryReport {
        shard: ShardGrowth {
            cached_keys: CACHED_KEYS,
            rss_before_bytes: rss_before,
            rss_after_bytes: rss_after,
            growth_bytes: growth,
            limit_bytes: SHARD_GROWTH_LIMIT,
            passed: growth < SHARD_GROWTH_LIMIT,
        },
        gateway,
    })
}

/// Case 2's load on `warm` for [`GATEWAY_SECONDS`], with the gateway's memory read each second.
async fn gateway_drift(
    warm: &Cluster,
    calls: &Arc<[Call]>,
    settings: Settings,
    signer: &Signer,
) -> Result<GatewayDrift, BenchError> {
    let load = Load {
        address: warm.gateway.address(),
        calls: Arc::clone(calls),
    };
    let pid = warm.gateway.pid();
    let sample = async {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        let mut samples = Vec::new();
        for _ in 0..=GATEWAY_SECONDS {
            ticks.tick().await;
            samples.push(process::resident_bytes(pid)?);
        }
        Ok::<_, BenchError>(samples)
    };
    let run = load::run(
        &load,
        signer,
        settings.concurrency,
        Duration::from_secs(GATEWAY_SECONDS),
    );
    let (samples, window) = tokio::join!(sample, run);
    let samples = samples?;
    if window.errors > 0 {
        return Err(BenchError::Answer {
            what: "the gateway memory check",
            body: window.first_error.unwrap_or_default(),
        });
    }
    let settled = samples
        .get(GATEWAY_SETTLE_SECONDS)
        .copied()
        .unwrap_or_default();
    let last = samples.last().copied().unwrap_or_default();
    let growth = last.saturating_sub(settled);
    Ok(GatewayDrift {
        seconds: GATEWAY_SECONDS,
        rss_bytes: samples,
        settle_seconds: GATEWAY_SETTLE_SECONDS,
        growth_after_settling_bytes: growth,
        limit_bytes: GATEWAY_GROWTH_LIMIT,
        passed: growth < GATEWAY_GROWTH_LIMIT,
    })
}
