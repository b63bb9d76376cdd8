//! Request quotas per account: an account over its quota for symmetric cryptographic calls is
//! answered ThrottlingException while another account sending at the same time is served in
//! full (behaviour reference, section 8).

use std::time::Duration;

use aws_sdk_kms::Client;
use tokio::time::Instant;

use super::{OTHER_ACCOUNT, root_client};
use crate::cluster::nodes::{Cluster, metric_in, scrape};
use crate::harness::ACCOUNT;
use crate::support::{Failure, failure};

/// The symmetric quota under test, in requests per second.
const QUOTA: usize = 20;

/// Calls the throttled account sends at once.
const NOISY_CALLS: usize = 60;

/// Calls the other account sends at the same time.
const QUIET_CALLS: usize = 10;

/// Bytes each GenerateRandom asks for.
const RANDOM_BYTES: i32 = 16;

/// How a burst of calls was answered.
#[derive(Debug)]
struct Burst {
    admitted: usize,
    throttled: usize,
    elapsed: Duration,
}

impl Burst {
    /// The most calls a token bucket of `QUOTA` requests, full at the start and refilled at
    /// `QUOTA` per second, can admit during the burst.
    fn most_admissible(&self) -> usize {
        let refilled = (self.elapsed.as_secs_f64() * QUOTA as f64).ceil();
        QUOTA + refilled as usize
    }
}

/// Sends `calls` GenerateRandom calls at once; every call not served must be throttled.
async fn burst(client: &Client, calls: usize) -> Burst {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .generate_random()
                .number_of_bytes(RANDOM_BYTES)
                .send()
                .await
        }));
    }
    let (mut admitted, mut throttled) = (0, 0);
    for task in tasks {
        match task.await.expect("a call task does not panic") {
            Ok(random) => {
                let length = random.plaintext().map(|p| p.as_ref().len());
                assert_eq!(length, Some(16));
                admitted += 1;
            }
            Err(err) => {
                let refused = failure::<(), _>(Err(err));
                assert_eq!(
                    refused,
                    Failure::new(400, "ThrottlingException", Some("Rate exceeded"))
                );
                throttled += 1;
            }
        }
    }
    Burst {
        admitted,
        throttled,
        elapsed: started.elapsed(),
    }
}

/// Both accounts send at once, after a call of another class that brings each one's
/// credentials into the gateway's cache; the first is throttled, the second is not. Returns
/// how each burst was answered.
async fn assert_only_the_noisy_account_is_throttled(
    noisy: &Client,
    quiet: &Client,
) -> (Burst, Burst) {
    for client in [noisy, quiet] {
        client.list_keys().send().await.expect("ListKeys");
    }

    let (loud, calm) = tokio::join!(burst(noisy, NOISY_CALLS), burst(quiet, QUIET_CALLS));
    assert_eq!(loud.admitted + loud.throttled, NOISY_CALLS);
    assert!(
        (QUOTA..=loud.most_admissible()).contains(&loud.admitted),
        "{loud:?} admitted outside {QUOTA}..={}",
        loud.most_admissible()
    );
    assert!(loud.throttled >= 1, "{loud:?}");
    assert_eq!(
        (calm.admitted, calm.throttled),
        (QUIET_CALLS, 0),
        "{calm:?}"
    );

    // Other classes keep their own quota.
    let listed = noisy.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys().len(), 0);
    (loud, calm)
}

#[tokio::test]
async fn an_account_over_the_gateways_quota_is_throttled_while_another_is_served_in_full() {
    let mut cluster = Cluster::start(1, 0).await;
    let quota = format!("symmetric={QUOTA}");
    let gateway = cluster.add_gateway_with(&[0], &["--quota", &quota]).await;
    let noisy = cluster.client(gateway);
    let quiet = root_client(&cluster, gateway, OTHER_ACCOUNT);

    let (loud, calm) = assert_only_the_noisy_account_is_throttled(&noisy, &quiet).await;

    // Throttled requests are counted apart from served ones, and never reach a shard.
    let metrics = scrape(&cluster.gateways[gateway]).await;
    let requests = |outcome: &str| {
        metric_in(
            &metrics,
            &format!(
                "keyshard_requests_total{{operation=\"GenerateRandom\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(requests("ThrottlingException"), loud.throttled as u64);
    assert_eq!(requests("ok"), (loud.admitted + calm.admitted) as u64);
    let shard_calls = metric_in(
        &metrics,
        &format!(
            "keyshard_shard_calls_total{{shard=\"{}\"}}",
            cluster.shards[0].address
        ),
    );
    // Two signing keys, three ListKeys and the served calls.
    assert_eq!(shard_calls, 5 + (loud.admitted + calm.admitted) as u64);

    cluster.finish(&[]);
}

#[tokio::test]
async fn an_accounts_own_quota_throttles_that_account_only() {
    let cluster = Cluster::start(1, 1).await;
    cluster.accounts_command(&[
        "accounts".to_owned(),
        "set-quota".to_owned(),
        "--account-id".to_owned(),
        ACCOUNT.to_owned(),
        "--class".to_owned(),
        "symmetric".to_owned(),
        "--requests-per-second".to_owned(),
        QUOTA.to_string(),
    ]);
    let noisy = cluster.client(0);
    let quiet = root_client(&cluster, 0, OTHER_ACCOUNT);

    assert_only_the_noisy_account_is_throttled(&noisy, &quiet).await;

    cluster.finish(&[]);
}
