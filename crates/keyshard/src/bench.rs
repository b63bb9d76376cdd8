//! `keyshard bench`: Keyshard's GenerateDataKey and Decrypt measured against the ceilings of the
//! same machine (a bare HTTP server, a bare HTTP-to-gRPC two-hop) and against a peer (moto), in
//! one run and with one load generator, so that the ratios mean something on a shared machine
//! where absolute figures drift. Every server is a child process the bench starts and kills.

mod batch;
mod calls;
mod load;
mod memory;
mod moto;
mod output;
mod process;
mod reference;
mod report;
mod signing;
mod topology;
mod window;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::BenchArgs;
use crate::net;
use crate::root_key::RootKeyError;
use calls::{create_keys, decrypt_calls, encryption_context, generate_data_key_calls};
use load::{Call, CallError, Load};
use output::{Results, machine, print, unix_now, write_json};
use process::{ProcessError, Server};
use report::{Kind, Sample, TargetReport};
use signing::Signer;
use topology::{Launcher, PrivateDatabase};
use window::{Workload, measure_once};

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

/// Installs and starts moto and creates its keys; any failure is a reason to skip it.
async fn start_moto(venv: &Path, signer: &Signer) -> Result<(Server, Arc<[Call]>), String> {
    let moto_server = moto::install(venv).await?;
    let server = moto::start(&moto_server).await?;
    let keys = create_keys(server.address(), signer, KEYS)
        .await
        .map_err(|err| format!("moto did not create keys: {err}"))?;
    Ok((server, generate_data_key_calls(&keys)))
}
