//! `keyshard bench`: Keyshard's GenerateDataKey and Decrypt measured against the ceilings of the
//! same machine (a bare HTTP server, a bare HTTP-to-gRPC two-hop) and against a peer (moto), in
//! one run and with one load generator, so that the ratios mean something on a shared machine
//! where absolute figures drift. Every server is a child process the bench starts and kills.

mod batch;
mod load;
mod memory;
mod moto;
mod process;
mod reference;
mod report;
mod signing;
mod topology;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::BenchArgs;
use crate::net;
use crate::root_key::RootKeyError;
use load::{CREATE_KEY, Call, CallError, DECRYPT, GENERATE_DATA_KEY, Load};
use process::{ProcessError, Server};
use report::{Kind, Ratio, Sample, TargetReport};
use signing::Signer;
use topology::{Launcher, PrivateDatabase};

pub(crate) use reference::serve as serve_reference;

/// Keys each Keyshard case spreads its calls over, so that both shards of a cluster serve.
const KEYS: usize = 16;

/// Ciphertext blobs the Decrypt case cycles through.
const BLOBS: usize = 256;

/// `--quick`: enough to show that every case runs.
const QUICK_DURATION: Duration = Duration::from_secs(2);
const QUICK_WARMUP: Duration = Duration::from_millis(500);

/// Shards of the warm cluster trust cached entries this long, so that no TTL refresh falls
/// into a timed window (with the default 60 s, a cached key costs two queries a minute).
const WARM_CACHE_TTL_SECONDS: &str = "600";

/// Why the benchmark could not run or found failures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error(
        "cases 2 to 4 run on Postgres: give --database-url or set KEYSHARD_DATABASE_URL \
         (scripts/bench starts a private server)"
    )]
    NoDatabase,

    #[error("cannot find the running executable")]
    CurrentExe(#[source] std::io::Error),

    #[error("cannot create a temporary directory")]
    WorkDir(#[source] std::io::Error),

    #[error("cannot create the bench's database")]
    Database(#[source] sqlx::Error),

    #[error(transparent)]
    RootKey(#[from] RootKeyError),

    #[error(transparent)]
    Process(#[from] ProcessError),

    #[error("{what} failed: {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: CallError,
    },

    #[error("{what}: unexpected answer {body}")]
    Answer { what: &'static str, body: String },

    #[error("cannot write {path}")]
    Json {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot find a free port")]
    Port(#[source] std::io::Error),

    #[error("cannot issue the bench's access key: {0}")]
    AccessKey(String),

    #[error("interrupted")]
    Interrupted,

    #[error("{count} calls failed; the first: {first}")]
    Failures { count: u64, first: String },
}

/// Durations and sizes of a run.
#[derive(Clone, Copy, Serialize)]
struct Settings {
    #[serde(serialize_with = "seconds")]
    duration: Duration,
    #[serde(serialize_with = "seconds")]
    warmup: Duration,
    rounds: u32,
    concurrency: u32,
    quick: bool,
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

impl Settings {
    fn new(args: &BenchArgs) -> Self {
        if args.quick {
            return Self {
                duration: QUICK_DURATION,
                warmup: QUICK_WARMUP,
                rounds: 1,
                concurrency: args.concurrency,
                quick: true,
            };
        }
        Self {
            duration: Duration::from_secs(args.duration),
            warmup: Duration::from_secs(args.warmup),
            rounds: args.rounds,
            concurrency: args.concurrency,
            quick: false,
        }
    }
}

/// One thing measured: where its load goes and what to read around each window.
struct Target {
    id: &'static str,
    kind: Kind,
    title: &'static str,
    load: Workload,
    /// The server processes whose CPU time a call costs.
    pids: Vec<u32>,
    /// `/metrics` of the processes that count store queries.
    store_metrics: Vec<SocketAddr>,
    /// The process whose resident memory is watched.
    gateway: Option<u32>,
}

/// Everything a run found, as written to the JSON file.
#[derive(Serialize)]
struct Results {
    date: String,
    machine: Machine,
    settings: Settings,
    targets: Vec<TargetReport>,
    ratios: Vec<Ratio>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<memory::MemoryReport>,
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    logical_cpus: usize,
}

pub(crate) async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let settings = Settings::new(&args);
    let server_url = args.database_url.clone().ok_or(BenchError::NoDatabase)?;
    let exe = std::env::current_exe().map_err(BenchError::CurrentExe)?;
    let work = tempfile::tempdir().map_err(BenchError::WorkDir)?;
    let database = PrivateDatabase::create(&server_url)
        .await
        .map_err(BenchError::Database)?;

    // Every server is dropped, and so killed, when `measure` returns or is abandoned here.
    let measured = tokio::select! {
        measured = measure(&args, settings, &exe, work.path(), database.url()) => measured,
        () = net::shutdown_signal() => Err(BenchError::Interrupted),
    };
    if let Err(err) = database.drop().await {
        tracing::warn!(error = %err, "cannot drop the bench's database");
    }
    let (targets, memory) = measured?;

    let results = Results {
        date: report::utc_date(unix_now()),
        machine: machine(),
        settings,
        ratios: report::ratios(&targets),
        targets,
        memory,
    };
    print(&results);
    write_json(&args.json, &results)?;

    let count: u64 = results.targets.iter().map(TargetReport::errors).sum();
    if count > 0 {
        let first = results
            .targets
            .iter()
            .flat_map(|t| &t.samples)
            .find_map(|s| s.first_error.clone())
            .unwrap_or_default();
        return Err(BenchError::Failures { count, first });
    }
    Ok(())
}

async fn measure(
    args: &BenchArgs,
    settings: Settings,
    exe: &Path,
    work: &Path,
    database_url: &str,
) -> Result<(Vec<TargetReport>, Option<memory::MemoryReport>), BenchError> {
    let launcher = Launcher::new(exe.to_owned(), work);

    tracing::info!("starting the reference servers, keyshard dev and two clusters on Postgres");
    let fixed = launcher.reference("fixed-json", None).await?;
    let seal = launcher.reference("seal", None).await?;
    let two_hop = launcher.reference("two-hop", Some(seal.address())).await?;
    let dev = launcher.dev().await?;
    let warm = launcher
        .cluster(
            "warm",
            database_url,
            2,
            &["--cache-ttl-seconds", WARM_CACHE_TTL_SECONDS],
        )
        .await?;
    // Entries expire at once, so every call reads the key and its version from Postgres.
    let cold = launcher
        .cluster("cold", database_url, 2, &["--cache-ttl-seconds", "0"])
        .await?;
    // The clusters' gateways verify signatures: every request is signed with an access key
    // issued on their database (the references and `keyshard dev` accept it too).
    let credentials = launcher.issue_access_key(database_url)?;
    let signer = credentials.signer();

    tracing::info!("creating keys and blobs");
    let dev_calls = generate_data_key_calls(&create_keys(dev.address(), &signer, KEYS).await?);
    let cluster_keys = create_keys(warm.gateway.address(), &signer, KEYS).await?;
    let cluster_calls = generate_data_key_calls(&cluster_keys);
    let batches = batch::BatchLoad {
        endpoint: format!("http://{}", warm.grpc),
        keys: cluster_keys.into(),
        context: serde_json::from_value(encryption_context()).unwrap_or_default(),
        credentials: credentials.client_credentials(),
    };
    let decrypt_calls = decrypt_calls(warm.gateway.address(), &signer, &cluster_calls).await?;

    let mut moto = None;
    let moto_unavailable = if args.with_moto {
        match start_moto(&args.moto_venv, &signer).await {
            Ok(started) => {
                moto = Some(started);
                None
            }
            Err(why) => {
                tracing::warn!(reason = %why, "moto is skipped");
                Some(format!("skipped: {why}"))
            }
        }
    } else {
        Some("not measured: run with --with-moto".to_owned())
    };

    let load = |address: SocketAddr, calls: &Arc<[Call]>| {
        Workload::Http(Load {
            address,
            calls: Arc::clone(calls),
        })
    };
    let mut targets = vec![
        Target {
            id: "http",
            kind: Kind::Reference,
            title: "reference: bare hyper, fixed JSON body",
            load: load(fixed.address(), &cluster_calls),
            pids: vec![fixed.pid()],
            store_metrics: Vec::new(),
            gateway: None,
        },
        Target {
            id: "two-hop",
            kind: Kind::Reference,
            title: "reference: hyper → tonic → AES-256-GCM",
            load: load(two_hop.address(), &cluster_calls),
            pids: vec![two_hop.pid(), seal.pid()],
            store_metrics: Vec::new(),
            gateway: None,
        },
    ];
    if let Some((server, calls)) = &moto {
        targets.push(Target {
            id: "moto",
            kind: Kind::Reference,
            title: "reference: moto_server GenerateDataKey",
            load: load(server.address(), calls),
            pids: vec![server.pid()],
            store_metrics: Vec::new(),
            gateway: None,
        });
    }
    targets.extend([
        Target {
            id: "case-1",
            kind: Kind::Case,
            title: "GenerateDataKey, keyshard dev",
            load: load(dev.address(), &dev_calls),
            pids: vec![dev.pid()],
            store_metrics: dev.metrics().into_iter().collect(),
            gateway: Some(dev.pid()),
        },
        Target {
            id: "case-2",
            kind: Kind::Case,
            title: "GenerateDataKey, gateway → 2 shards, warm",
            load: load(warm.gateway.address(), &cluster_calls),
            pids: warm.pids(),
            store_metrics: warm.shard_metrics(),
            gateway: Some(warm.gateway.pid()),
        },
        Target {
            id: "case-3",
            kind: Kind::Case,
            title: "GenerateDataKey, cold: shard cache off",
            load: load(cold.gateway.address(), &cluster_calls),
            pids: cold.pids(),
            store_metrics: cold.shard_metrics(),
            gateway: Some(cold.gateway.pid()),
        },
        Target {
            id: "case-4",
            kind: Kind::Case,
            title: "Decrypt of case 2's blobs, warm",
            load: load(warm.gateway.address(), &decrypt_calls),
            pids: warm.pids(),
            store_metrics: warm.shard_metrics(),
            gateway: Some(warm.gateway.pid()),
        },
        Target {
            id: "case-5",
            kind: Kind::Case,
            title: "batch gRPC API, data keys/s",
            load: Workload::Batch(batches),
            pids: warm.pids(),
            store_metrics: warm.shard_metrics(),
            gateway: Some(warm.gateway.pid()),
        },
    ]);

    // References and cases alternate: every round measures each of them once, in this order.
    let mut samples: Vec<Vec<Sample>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=settings.rounds {
        for (target, samples) in targets.iter().zip(&mut samples) {
            tracing::info!(round, target = target.id, "measuring");
            samples.push(measure_once(target, round, settings, &signer).await?);
        }
    }

    let memory = if args.memory {
        Some(
            memory::check(
                &launcher,
                database_url,
                &warm,
                &cluster_calls,
                settings,
                &signer,
            )
            .await?,
        )
    } else {
        None
    };

    let mut reports = Vec::new();
    for (target, samples) in targets.into_iter().zip(samples) {
        reports.push(TargetReport::measured(
            target.id,
            target.kind,
            target.title,
            samples,
        ));
        if target.id == "two-hop"
            && let Some(why) = moto_unavailable.clone()
        {
            reports.push(TargetReport::not_measured(
                "moto",
                Kind::Reference,
                "reference: moto_server GenerateDataKey",
                why,
            ));
        }
    }
    Ok((reports, memory))
}

/// What a target is sent.
enum Workload {
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
async fn measure_once(
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

/// The small encryption context every data key is bound to.
fn encryption_context() -> serde_json::Value {
    serde_json::json!({ "purpose": "keyshard-bench", "tenant": "bench" })
}

/// Creates `count` symmetric keys through the JSON API at `address` and returns their ids.
async fn create_keys(
    address: SocketAddr,
    signer: &Signer,
    count: usize,
) -> Result<Vec<String>, BenchError> {
    let setup = |source| BenchError::Setup {
        what: "CreateKey",
        source,
    };
    let mut connection = load::Connection::open(address, signer.clone())
        .await
        .map_err(setup)?;
    let call = Call::new(
        CREATE_KEY,
        &serde_json::json!({ "Description": "keyshard bench" }),
    );
    let mut keys = Vec::new();
    for _ in 0..count {
        let body = connection.send(&call).await.map_err(setup)?;
        keys.push(json_field(&body, &["KeyMetadata", "KeyId"], "CreateKey")?);
        if !connection.reusable() {
            connection = load::Connection::open(address, signer.clone())
                .await
                .map_err(setup)?;
        }
    }
    Ok(keys)
}

/// GenerateDataKey calls for AES-256 data keys under each of `keys`, with the bench's context.
fn generate_data_key_calls(keys: &[String]) -> Arc<[Call]> {
    keys.iter()
        .map(|key| {
            let body = serde_json::json!({
                "EncryptionContext": encryption_context(),
                "KeyId": key,
                "KeySpec": "AES_256",
            });
            Call::new(GENERATE_DATA_KEY, &body)
        })
        .collect()
}

/// Decrypt calls for [`BLOBS`] blobs made by `generate` through `address`.
async fn decrypt_calls(
    address: SocketAddr,
    signer: &Signer,
    generate: &[Call],
) -> Result<Arc<[Call]>, BenchError> {
    let setup = |source| BenchError::Setup {
        what: "GenerateDataKey for the Decrypt case",
        source,
    };
    let mut connection = load::Connection::open(address, signer.clone())
        .await
        .map_err(setup)?;
    let mut calls = Vec::new();
    for call in generate.iter().cycle().take(BLOBS) {
        let body = connection.send(call).await.map_err(setup)?;
        let blob = json_field(&body, &["CiphertextBlob"], "GenerateDataKey")?;
        let body = serde_json::json!({
            "CiphertextBlob": blob,
            "EncryptionContext": encryption_context(),
        });
        calls.push(Call::new(DECRYPT, &body));
    }
    Ok(calls.into())
}

/// Installs and starts moto and creates its keys; any failure is a reason to skip it.
async fn start_moto(venv: &Path, signer: &Signer) -> Result<(Server, Arc<[Call]>), String> {
    let moto_server = moto::install(venv).await?;
    let server = moto::start(&moto_server).await?;
    let keys = create_keys(server.address(), signer, KEYS)
        .await
        .map_err(|err| format!("moto did not create keys: {err}"))?;
    Ok((server, generate_data_key_calls(&keys)))
}

/// The string at `path` in a JSON answer.
fn json_field(body: &[u8], path: &[&str], what: &'static str) -> Result<String, BenchError> {
    let unexpected = || BenchError::Answer {
        what,
        body: String::from_utf8_lossy(body).chars().take(300).collect(),
    };
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| unexpected())?;
    path.iter()
        .try_fold(&json, |value, field| value.get(field))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(unexpected)
}

fn print(results: &Results) {
    let s = &results.settings;
    println!(
        "Keyshard benchmark, {} on {} ({} logical CPUs); {} round(s) of {:.1} s after {:.1} s \
         of warm-up, concurrency {}, medians over rounds{}",
        results.date,
        results.machine.cpu,
        results.machine.logical_cpus,
        s.rounds,
        s.duration.as_secs_f64(),
        s.warmup.as_secs_f64(),
        s.concurrency,
        if s.quick {
            " (quick smoke run: not a measurement)"
        } else {
            ""
        },
    );
    println!(
        "server µs and client µs: CPU time per answered call of the servers and of the load generator\n"
    );
    println!("{}", report::results_table(&results.targets));
    println!("{}", report::ratio_table(&results.ratios));
    print!("{}", report::store_and_memory_lines(&results.targets));
    if let Some(memory) = &results.memory {
        print!("{}", memory.lines());
    }
}

fn write_json(path: &Path, results: &Results) -> Result<(), BenchError> {
    let json_error = |source| BenchError::Json {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(json_error)?;
    }
    let text = serde_json::to_string_pretty(results).map_err(|err| json_error(err.into()))?;
    std::fs::write(path, text + "\n").map_err(json_error)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The processor's model name and the number of logical CPUs.
fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown processor".to_owned());
    Machine {
        cpu,
        logical_cpus: std::thread::available_parallelism().map_or(0, usize::from),
    }
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

    #[test]
    fn a_string_field_is_read_from_a_json_answer() {
        let body = br#"{"KeyMetadata":{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}}"#;
        assert_eq!(
            json_field(body, &["KeyMetadata", "KeyId"], "CreateKey").unwrap(),
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        let missing = json_field(body, &["CiphertextBlob"], "GenerateDataKey").unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!(
                "GenerateDataKey: unexpected answer {}",
                String::from_utf8_lossy(body)
            )
        );
    }
}
