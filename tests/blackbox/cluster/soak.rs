//! A soak (RELIABILITY.md): mixed operations from three accounts through two gateways and
//! three shards, each shard behind a relay, while a fault schedule kills and restarts a shard,
//! pauses one, stops Postgres and cuts a link. Afterwards every ciphertext made during the run
//! decrypts to its plaintext, resident memory stayed flat after warm-up, and no log holds a
//! plaintext, data key or secret access key. `KEYSHARD_SOAK_SECONDS` sets the length of the
//! run (`scripts/soak`); without it the run takes about 35 seconds.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::GrantOperation;
use tokio::time::Instant;

use super::FAILOVER_WARNING;
use super::nodes::Cluster;
use super::relay::{Link, Relay};
use super::tally::{OK, Tally, UNAVAILABLE, WRONG_PLAINTEXT};
use crate::harness::ACCOUNT;

const SECONDS_VAR: &str = "KEYSHARD_SOAK_SECONDS";

/// The length of the run in `cargo test`.
const CI_SECONDS: u64 = 35;

/// Load after the last fault, before the last memory reading.
const COOL_DOWN: Duration = Duration::from_secs(5);

/// Load between two faults.
const BETWEEN_FAULTS: Duration = Duration::from_secs(1);

const ACCOUNTS: [&str; 3] = [ACCOUNT, "444455556666", "777788889999"];

const WORKERS_PER_ACCOUNT: usize = 2;

/// Concurrent Decrypt calls in the final check.
const CHECKERS: usize = 6;

/// Keys a worker uses at once; a new key replaces the oldest.
const WORKING_SET: usize = 6;

/// How much a process's resident memory may grow after warm-up (the first seventh of the run,
/// when caches and connection pools fill).
const MEMORY_GROWTH_LIMIT_KIB: u64 = 32 * 1024;

/// The shard killed and restarted, the one paused, and the one whose link is cut: each fault
/// has its own, so that two never hit one shard's keys at once.
const KILLED: usize = 2;
const PAUSED: usize = 1;
const CUT_OFF: usize = 0;

/// A fault the schedule applies, in this order, for as long as the run lasts.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
enum Fault {
    KillAndRestart,
    Pause,
    PostgresOutage,
    LinkReset,
    LinkBlackhole,
}

const SCHEDULE: [Fault; 5] = [
    Fault::KillAndRestart,
    Fault::Pause,
    Fault::PostgresOutage,
    Fault::LinkReset,
    Fault::LinkBlackhole,
];

/// A ciphertext made during the run and what it must decrypt to.
struct Sealed {
    account: usize,
    plaintext: Vec<u8>,
    ciphertext: Blob,
    context: HashMap<String, String>,
}

#[tokio::test]
async fn a_soak_under_faults_loses_no_ciphertext_grows_no_memory_and_logs_no_secret() {
    let length = Duration::from_secs(soak_seconds());
    let mut cluster = Cluster::start_exclusive(3, 0).await;
    let mut relays = Vec::new();
    for shard in &cluster.shards {
        relays.push(Relay::start(&shard.address).await);
    }
    let addresses: Vec<String> = relays.iter().map(|r| r.address.clone()).collect();
    for _ in 0..2 {
        cluster.add_gateway_over(&addresses).await;
    }

    let tally = Arc::new(Tally::default());
    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    let mut workers = Vec::new();
    for (account, account_id) in ACCOUNTS.iter().enumerate() {
        let credentials = cluster.create_access_key(account_id, None, None);
        for n in 0..WORKERS_PER_ACCOUNT {
            let worker = Worker {
                id: account * WORKERS_PER_ACCOUNT + n,
                account,
                client: cluster.client_as(n % 2, credentials.clone()),
                tally: Arc::clone(&tally),
                keys: Vec::new(),
                toggled: None,
                aliases: Vec::new(),
                grants: Vec::new(),
                sealed: Vec::new(),
            };
            workers.push(tokio::spawn(worker.run(Arc::clone(&running))));
        }
        clients.push(cluster.client_as(0, credentials));
    }

    let started = Instant::now();
    tokio::time::sleep(length / 7).await;
    // Processes that live through the whole run: the gateways and the shards never killed.
    let watched: Vec<(&str, u32)> = [
        ("gateway 0", &cluster.gateways[0]),
        ("gateway 1", &cluster.gateways[1]),
        ("shard 0", &cluster.shards[0]),
        ("shard 1", &cluster.shards[1]),
    ]
    .into_iter()
    .map(|(name, node)| (name, node.pid()))
    .collect();
    let warm: Vec<u64> = watched.iter().map(|&(_, pid)| resident_kib(pid)).collect();
    let mut samples = vec![(started.elapsed(), warm.clone())];

    let mut applied: BTreeMap<Fault, u64> = BTreeMap::new();
    let mut serving = [0, 1, 2];
    let faults_end = started + length.saturating_sub(COOL_DOWN);
    for (n, &fault) in SCHEDULE.iter().cycle().enumerate() {
        if n >= SCHEDULE.len() && Instant::now() >= faults_end {
            break;
        }
        apply(fault, &mut cluster, &relays, &mut serving).await;
        *applied.entry(fault).or_default() += 1;
        tokio::time::sleep(BETWEEN_FAULTS).await;
        if n % SCHEDULE.len() == SCHEDULE.len() - 1 {
            let sample = watched.iter().map(|&(_, pid)| resident_kib(pid)).collect();
            samples.push((started.elapsed(), sample));
        }
    }
    tokio::time::sleep(COOL_DOWN).await;
    let after: Vec<u64> = watched.iter().map(|&(_, pid)| resident_kib(pid)).collect();
    samples.push((started.elapsed(), after.clone()));
    running.store(false, Ordering::Relaxed);
    let mut sealed = Vec::new();
    for worker in workers {
        sealed.extend(worker.await.expect("a soak worker does not panic"));
    }
    let elapsed = started.elapsed();
    let names: Vec<&str> = watched.iter().map(|&(name, _)| name).collect();
    let summary = report(elapsed, &applied, sealed.len(), &tally, &names, &samples);
    println!("{summary}");

    // Every ciphertext made during the run, by any gateway, shard or account, decrypts.
    let mut shares: Vec<Vec<Sealed>> = (0..CHECKERS).map(|_| Vec::new()).collect();
    for (n, item) in sealed.into_iter().enumerate() {
        shares[n % CHECKERS].push(item);
    }
    let mut checkers = Vec::new();
    for share in shares {
        checkers.push(tokio::spawn(check_decrypts(clients.clone(), share)));
    }
    for checker in checkers {
        checker
            .await
            .expect("every ciphertext decrypts to its plaintext");
    }

    assert_eq!(tally.other_than(&[OK, UNAVAILABLE]), Vec::<String>::new());
    assert_eq!(tally.total(WRONG_PLAINTEXT), 0);
    assert!(tally.total(OK) > 500, "too little load:\n{summary}");
    assert_eq!(applied.len(), SCHEDULE.len());
    for ((name, _), (warm, after)) in watched.iter().zip(warm.iter().zip(&after)) {
        assert!(
            *after <= warm + MEMORY_GROWTH_LIMIT_KIB,
            "{name} grew from {warm} KiB to {after} KiB"
        );
    }

    drop(relays);
    cluster.expect_unavailable();
    cluster.finish(&[
        FAILOVER_WARNING,
        "request failed",
        "key store unavailable",
        "listener",
        "change feed",
        // sqlx, on connections Postgres dropped or was slow to give while it stopped and
        // started, and on statements a paused shard saw take over a second.
        "sqlx::",
        "sqlx_core::",
    ]);
}

/// The run's summary: faults applied, calls by operation and outcome, and memory over time.
fn report(
    elapsed: Duration,
    applied: &BTreeMap<Fault, u64>,
    sealed: usize,
    tally: &Tally,
    processes: &[&str],
    samples: &[(Duration, Vec<u64>)],
) -> String {
    let mut summary = format!(
        "soak: {:.0} s of load, {} workers over {} accounts; faults applied:",
        elapsed.as_secs_f64(),
        ACCOUNTS.len() * WORKERS_PER_ACCOUNT,
        ACCOUNTS.len()
    );
    for (fault, n) in applied {
        write!(summary, " {fault:?} {n},").expect("writing to a String");
    }
    writeln!(
        summary,
        " {sealed} ciphertexts made, to decrypt afterwards\n\n{}",
        tally.summary()
    )
    .expect("writing to a String");
    summary.push_str("\nVmRSS (KiB) after warm-up, after each round of faults and at the end:\n\n");
    summary.push_str("| seconds |");
    for name in processes {
        write!(summary, " {name} |").expect("writing to a String");
    }
    summary.push_str("\n|---|");
    summary.push_str(&"---|".repeat(processes.len()));
    summary.push('\n');
    for (at, sample) in samples {
        write!(summary, "| {:.0} |", at.as_secs_f64()).expect("writing to a String");
        for kib in sample {
            write!(summary, " {kib} |").expect("writing to a String");
        }
        summary.push('\n');
    }
    summary
}

/// Decrypts each of `sealed` with its account's client and checks the plaintext.
async fn check_decrypts(clients: Vec<Client>, sealed: Vec<Sealed>) {
    for item in sealed {
        let answer = clients[item.account]
            .decrypt()
            .ciphertext_blob(item.ciphertext)
            .set_encryption_context(Some(item.context))
            .send()
            .await
            .expect("Decrypt after the soak");
        assert_eq!(
            answer.plaintext().map(Blob::as_ref),
            Some(item.plaintext.as_slice())
        );
    }
}

/// The run's length in seconds: `KEYSHARD_SOAK_SECONDS`, or the CI default.
fn soak_seconds() -> u64 {
    match std::env::var(SECONDS_VAR) {
        Ok(seconds) => seconds
            .parse()
            .unwrap_or_else(|_| panic!("{SECONDS_VAR} is not a number of seconds: {seconds}")),
        Err(_) => CI_SECONDS,
    }
}

/// Applies one fault and undoes it; `serving` maps each relay to the shard behind it.
async fn apply(fault: Fault, cluster: &mut Cluster, relays: &[Relay], serving: &mut [usize; 3]) {
    match fault {
        Fault::KillAndRestart => {
            cluster.shards[serving[KILLED]].kill();
            tokio::time::sleep(Duration::from_secs(2)).await;
            // The killed node stays in the cluster, so its log is checked at the end.
            let restarted = cluster.start_shard(&[]).await;
            relays[KILLED].redirect(&restarted.address);
            cluster.shards.push(restarted);
            serving[KILLED] = cluster.shards.len() - 1;
        }
        Fault::Pause => {
            let paused = &cluster.shards[serving[PAUSED]];
            paused.signal("STOP");
            tokio::time::sleep(Duration::from_secs(3)).await;
            paused.signal("CONT");
        }
        Fault::PostgresOutage => {
            cluster.postgres_ctl("stop");
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.postgres_ctl("start");
            let back = Instant::now();
            for &shard in serving.iter() {
                while Cluster::readiness(&cluster.shards[shard]).await != 200 {
                    assert!(
                        back.elapsed() < Duration::from_secs(20),
                        "shard {shard} is not ready 20 s after Postgres returned"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Fault::LinkReset | Fault::LinkBlackhole => {
            let cut = if fault == Fault::LinkReset {
                Link::Reset
            } else {
                Link::Blackhole
            };
            relays[CUT_OFF].set(cut);
            tokio::time::sleep(Duration::from_secs(3)).await;
            relays[CUT_OFF].set(Link::Up);
        }
    }
}

/// A process's resident memory in KiB, from `/proc/<pid>/status`.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the process's status is readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// One client's share of the load, with what it made so far.
struct Worker {
    id: usize,
    account: usize,
    client: Client,
    tally: Arc<Tally>,
    /// The keys it encrypts under, newest last.
    keys: Vec<String>,
    /// The key it disables and enables, and whether it asked last to disable it.
    toggled: Option<(String, bool)>,
    aliases: Vec<String>,
    /// Grants it created: key id and grant id.
    grants: Vec<(String, String)>,
    sealed: Vec<Sealed>,
}

impl Worker {
    /// Runs operations in a fixed rotation until `running` is cleared, and returns every
    /// ciphertext it made.
    async fn run(mut self, running: Arc<AtomicBool>) -> Vec<Sealed> {
        let mut step = 0usize;
        while running.load(Ordering::Relaxed) {
            step += 1;
            if self.keys.is_empty() || step.is_multiple_of(24) {
                self.create_key().await;
                continue;
            }
            match step % 8 {
                0 => self.generate_data_key(step).await,
                1 => self.encrypt(step, None).await,
                2 => self.decrypt(step).await,
                3 => self.re_encrypt(step).await,
                4 => self.alias(step).await,
                5 => self.toggle().await,
                6 => self.grant(step).await,
                _ => self.describe(step).await,
            }
        }
        self.sealed
    }

    fn key(&self, step: usize) -> String {
        self.keys[step % self.keys.len()].clone()
    }

    fn context(&self, step: usize) -> HashMap<String, String> {
        HashMap::from([
            ("tenant".to_owned(), ACCOUNTS[self.account].to_owned()),
            ("step".to_owned(), format!("{}-{step}", self.id)),
        ])
    }

    async fn create_key(&mut self) {
        let created = self
            .client
            .create_key()
            .description(format!("soak worker {}", self.id))
            .send()
            .await;
        let Some(created) = self.tally.record("CreateKey", created) else {
            return;
        };
        let key_id = created.key_metadata().expect("KeyMetadata").key_id();
        if self.toggled.is_none() {
            self.toggled = Some((key_id.to_owned(), false));
            return;
        }
        self.keys.push(key_id.to_owned());
        if self.keys.len() > WORKING_SET {
            self.keys.remove(0);
        }
    }

    async fn generate_data_key(&mut self, step: usize) {
        let context = self.context(step);
        let generated = self
            .client
            .generate_data_key()
            .key_id(self.key(step))
            .number_of_bytes(32)
            .set_encryption_context(Some(context.clone()))
            .send()
            .await;
        if let Some(generated) = self.tally.record("GenerateDataKey", generated) {
            self.sealed.push(Sealed {
                account: self.account,
                plaintext: generated.plaintext().expect("Plaintext").as_ref().to_vec(),
                ciphertext: generated.ciphertext_blob().expect("CiphertextBlob").clone(),
                context,
            });
        }
    }

    /// Encrypts fresh random bytes under a key, or under `alias` when given.
    async fn encrypt(&mut self, step: usize, alias: Option<&str>) {
        let mut plaintext = vec![0; 32];
        aws_lc_rs::rand::fill(&mut plaintext).expect("random bytes");
        let context = self.context(step);
        let key_id = alias.map_or_else(|| self.key(step), str::to_owned);
        let encrypted = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext.clone()))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await;
        if let Some(encrypted) = self.tally.record("Encrypt", encrypted) {
            self.sealed.push(Sealed {
                account: self.account,
                plaintext,
                ciphertext: encrypted.ciphertext_blob().expect("CiphertextBlob").clone(),
                context,
            });
        }
    }

    /// An earlier ciphertext of this worker, picked by `step`.
    fn earlier(&self, step: usize) -> Option<&Sealed> {
        let n = self.sealed.len();
        (n > 0).then(|| &self.sealed[step.wrapping_mul(7919) % n])
    }

    async fn decrypt(&mut self, step: usize) {
        let Some(item) = self.earlier(step) else {
            return;
        };
        let decrypted = self
            .client
            .decrypt()
            .ciphertext_blob(item.ciphertext.clone())
            .set_encryption_context(Some(item.context.clone()))
            .send()
            .await;
        if let Some(decrypted) = self.tally.record("Decrypt", decrypted)
            && decrypted.plaintext().map(Blob::as_ref) != Some(item.plaintext.as_slice())
        {
            self.tally.count("Decrypt", WRONG_PLAINTEXT);
        }
    }

    async fn re_encrypt(&mut self, step: usize) {
        let destination = self.key(step + 1);
        let Some(item) = self.earlier(step) else {
            return;
        };
        let reencrypted = self
            .client
            .re_encrypt()
            .ciphertext_blob(item.ciphertext.clone())
            .set_source_encryption_context(Some(item.context.clone()))
            .destination_key_id(destination)
            .set_destination_encryption_context(Some(item.context.clone()))
            .send()
            .await;
        let (plaintext, context) = (item.plaintext.clone(), item.context.clone());
        if let Some(reencrypted) = self.tally.record("ReEncrypt", reencrypted) {
            self.sealed.push(Sealed {
                account: self.account,
                plaintext,
                ciphertext: reencrypted
                    .ciphertext_blob()
                    .expect("CiphertextBlob")
                    .clone(),
                context,
            });
        }
    }

    /// Creates an alias, encrypts through one, or deletes one, in turn.
    async fn alias(&mut self, step: usize) {
        if self.aliases.len() < 2 {
            let name = format!("alias/soak-{}-{step}", self.id);
            let created = self
                .client
                .create_alias()
                .alias_name(&name)
                .target_key_id(self.key(step))
                .send()
                .await;
            if self.tally.record("CreateAlias", created).is_some() {
                self.aliases.push(name);
            }
        } else if step.is_multiple_of(3) {
            // An alias whose deletion got no answer may or may not exist: it is not used again.
            let name = self.aliases.remove(0);
            let deleted = self.client.delete_alias().alias_name(name).send().await;
            self.tally.record("DeleteAlias", deleted);
        } else {
            let name = self.aliases[step % 2].clone();
            self.encrypt(step, Some(&name)).await;
        }
    }

    /// Disables the worker's own key, or enables it again; no ciphertext depends on it.
    async fn toggle(&mut self) {
        let Some((key_id, disabled)) = self.toggled.clone() else {
            return;
        };
        if disabled {
            let enabled = self.client.enable_key().key_id(&key_id).send().await;
            self.tally.record("EnableKey", enabled);
        } else {
            let disabled = self.client.disable_key().key_id(&key_id).send().await;
            self.tally.record("DisableKey", disabled);
        }
        self.toggled = Some((key_id, !disabled));
    }

    /// Creates a grant to a role of the account, or lists a key's grants and revokes one.
    async fn grant(&mut self, step: usize) {
        let Some((key_id, grant_id)) = self.grants.pop() else {
            let key_id = self.key(step);
            let created = self
                .client
                .create_grant()
                .key_id(&key_id)
                .grantee_principal(format!("arn:aws:iam::{}:role/soak", ACCOUNTS[self.account]))
                .operations(GrantOperation::Encrypt)
                .operations(GrantOperation::Decrypt)
                .send()
                .await;
            if let Some(created) = self.tally.record("CreateGrant", created) {
                let grant_id = created.grant_id().expect("GrantId").to_owned();
                self.grants.push((key_id, grant_id));
            }
            return;
        };
        let listed = self.client.list_grants().key_id(&key_id).send().await;
        self.tally.record("ListGrants", listed);
        let revoked = self
            .client
            .revoke_grant()
            .key_id(&key_id)
            .grant_id(grant_id)
            .send()
            .await;
        self.tally.record("RevokeGrant", revoked);
    }

    async fn describe(&mut self, step: usize) {
        if step.is_multiple_of(2) {
            let listed = self.client.list_keys().send().await;
            self.tally.record("ListKeys", listed);
        } else {
            let described = self
                .client
                .describe_key()
                .key_id(self.key(step))
                .send()
                .await;
            self.tally.record("DescribeKey", described);
        }
    }
}
