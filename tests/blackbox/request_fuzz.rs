//! The model-driven request fuzzer: requests generated from the AWS KMS API model (see
//! `request_fuzz/cases.rs`) sent to a running `keyshard dev`. It fails on any 5xx, any request
//! left without an answer within `ANSWER_TIMEOUT`, any 4xx whose `__type` the model does not
//! list for the operation (or among the protocol, authentication and quota errors), and, through
//! the harness's log check, any panic or unexpected warning in the service log.

mod cases;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyshard_gateway::fuzzing::is_modeled_error;
use serde_json::Value;
use tokio::task::JoinSet;

use self::cases::{Case, Fixtures, Model, Tally};
use crate::harness::Keyshard;
use crate::raw_http::{Pace, exchange_paced};
use crate::support::{create_key, encrypt_text, key_arn};

/// Longest wait for an answer: a slow client's whole body plus the service's work.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight at once.
const CONCURRENCY: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_requests_get_modeled_answers_and_never_a_5xx() {
    let tally = run(3_000).await;
    assert!(tally.total() >= 3_000, "{}", tally.table());
}

/// The full run, at least 100,000 requests (`scripts/fuzz-requests`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the full run takes minutes; scripts/fuzz-requests runs it"]
async fn full_run_of_generated_requests() {
    let count = std::env::var("FUZZ_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let tally = run(count).await;
    assert!(tally.total() >= count, "{}", tally.table());
}

/// Found by the fuzzer (case 1098 of the first run): DescribeKey answered a grant token it did
/// not issue with InvalidGrantTokenException, which its model entry does not list.
#[tokio::test]
async fn describe_key_ignores_a_grant_token_keyshard_did_not_issue() {
    let keyshard = Keyshard::start().await;
    let key_id = create_key(&keyshard.client()).await;
    let (status, body) = keyshard
        .raw(
            "DescribeKey",
            &serde_json::json!({ "KeyId": key_id, "GrantTokens": ["aaaaaaaaaaaaaaaaaaaa"] }),
        )
        .await;
    assert_eq!(
        (status, body["KeyMetadata"]["KeyId"].as_str()),
        (200, Some(key_id.as_str()))
    );
    keyshard.finish();
}

/// Sends at least `count` generated requests (every systematic case, then random ones), prints
/// the counts table, and fails on any failure it saw or any unexpected line in the log.
async fn run(count: u64) -> Tally {
    let keyshard = Keyshard::start().await;
    let client = keyshard.client();
    let key_id = create_key(&client).await;
    let blob = encrypt_text(&client, &key_id, "fuzzing fixture", &[]).await;
    let fixtures = Arc::new(Fixtures {
        key_arn: key_arn(&key_id),
        key_id: key_id.clone(),
        ciphertext: STANDARD.encode(blob.as_ref()),
    });
    let model = Arc::new(Model::load());
    let systematic = Arc::new(model.systematic(&fixtures));
    let total = count.max(systematic.len() as u64);
    let next = Arc::new(AtomicU64::new(0));

    let mut workers = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (model, fixtures, systematic, next) = (
            Arc::clone(&model),
            Arc::clone(&fixtures),
            Arc::clone(&systematic),
            Arc::clone(&next),
        );
        let address = keyshard.address().to_owned();
        workers.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return tally;
                }
                let case = match usize::try_from(n).ok().and_then(|i| systematic.get(i)) {
                    Some(case) => Case {
                        operation: case.operation.clone(),
                        kind: case.kind,
                        request: case.request.clone(),
                        pace: case.pace,
                    },
                    None => model.random(n, &fixtures),
                };
                send(&address, n, &case, &mut tally).await;
            }
        });
    }
    let mut tally = Tally::default();
    while let Some(worker) = workers.join_next().await {
        tally.merge(worker.expect("a fuzzing worker does not panic"));
    }

    // The service still answers after everything it was sent.
    let described = client.describe_key().key_id(&key_id).send().await;
    assert_eq!(
        described
            .ok()
            .and_then(|d| d.key_metadata().map(|m| m.key_id().to_owned())),
        Some(key_id)
    );
    println!("{}", tally.table());
    assert!(
        tally.failures.is_empty(),
        "{} failures, the first ones:\n{}\n{}",
        tally.failures.len(),
        tally
            .failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        tally.table()
    );
    keyshard.finish();
    tally
}

/// Sends one case and records its answer, or a failure.
async fn send(address: &str, n: u64, case: &Case, tally: &mut Tally) {
    *tally.by_kind.entry(case.kind).or_default() += 1;
    let what = || {
        format!(
            "case {n} ({}, {}, {} body bytes)",
            case.operation,
            case.kind,
            case.request.body.len()
        )
    };
    let answer = tokio::time::timeout(
        ANSWER_TIMEOUT,
        exchange_paced(address, &case.request, case.pace),
    )
    .await;
    let response = match answer {
        Err(_) => {
            tally
                .failures
                .push(format!("{}: no answer within {ANSWER_TIMEOUT:?}", what()));
            return;
        }
        Ok(Err(err)) => {
            tally.failures.push(format!("{}: {err}", what()));
            return;
        }
        Ok(Ok(None)) => {
            debug_assert!(matches!(case.pace, Pace::CloseAfter(_)));
            *tally
                .by_answer
                .entry(("closed".to_owned(), "-".to_owned()))
                .or_default() += 1;
            return;
        }
        Ok(Ok(Some(response))) => response,
    };

    let error_type = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|body| {
            body.get("__type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let status = response.status;
    let label = error_type.clone().unwrap_or_else(|| "-".to_owned());
    *tally
        .by_answer
        .entry((status.to_string(), label.clone()))
        .or_default() += 1;
    let failure = match (status, error_type) {
        (500.., _) => Some(format!("HTTP {status} {label}")),
        (400..500, None) => Some(format!("HTTP {status} without __type")),
        (400..500, Some(t)) if !is_modeled_error(&case.operation, &t) => {
            Some(format!("HTTP {status} {t}, not an error the model lists"))
        }
        (400..500, Some(_)) | (200..300, _) => None,
        _ => Some(format!("HTTP {status}")),
    };
    if let Some(failure) = failure {
        tally.failures.push(format!("{}: {failure}", what()));
    }
}
