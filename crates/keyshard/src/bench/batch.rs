//! Case 5: GenerateDataKey through the public gRPC API's `GenerateDataKeyBatch`, signed by
//! `keyshard-client`, counted in data keys. Each worker keeps one batch in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use keyshard_client::{Client, Credentials, kms};
use tokio::time::Instant;

use super::load::Window;

/// Data keys per batch call.
pub(crate) const BATCH_ITEMS: usize = 100;

/// Batches in flight: with [`BATCH_ITEMS`] items each, as many data keys in flight as 64 single
/// calls and then some, without flooding the gateway.
pub(crate) const BATCH_WORKERS: u32 = 8;

/// What case 5 sends: batches of GenerateDataKey for `keys`, to the public API at `endpoint`.
#[derive(Clone)]
pub(crate) struct BatchLoad {
    pub(crate) endpoint: String,
    pub(crate) keys: Arc<[String]>,
    pub(crate) context: HashMap<String, String>,
    pub(crate) credentials: Credentials,
}

/// Sends batches with [`BATCH_WORKERS`] workers for `duration`. A window counts data keys: each
/// answered item is one completion, each failed item or call an error; a latency is a whole
/// batch's.
pub(crate) async fn run(load: &BatchLoad, duration: Duration) -> Window {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for worker in 0..BATCH_WORKERS {
        let load = load.clone();
        workers.push(tokio::spawn(
            async move { work(load, worker, deadline).await },
        ));
    }
    let mut total = Window::default();
    for worker in workers {
        match worker.await {
            Ok(window) => total.merge(window),
            Err(err) => total.record_error(err.to_string()),
        }
    }
    total.elapsed = started.elapsed();
    total
}

async fn work(load: BatchLoad, worker: u32, deadline: Instant) -> Window {
    let mut window = Window::default();
    let region = super::signing::REGION;
    let client = match Client::connect(&load.endpoint, region, load.credentials.clone()).await {
        Ok(client) => client,
        Err(err) => {
            window.record_error(err.to_string());
            return window;
        }
    };
    let offset = usize::try_from(worker).unwrap_or(0);
    let items: Vec<kms::GenerateDataKeyRequest> = (0..BATCH_ITEMS)
        .map(|i| kms::GenerateDataKeyRequest {
            key_id: load
                .keys
                .get((offset + i) % load.keys.len().max(1))
                .cloned(),
            encryption_context: load.context.clone(),
            key_spec: Some("AES_256".to_owned()),
            ..kms::GenerateDataKeyRequest::default()
        })
        .collect();
    while Instant::now() < deadline {
        let request = kms::GenerateDataKeyBatchRequest {
            items: items.clone(),
        };
        let sent = Instant::now();
        match client.generate_data_key_batch(request).await {
            Ok(answer) => {
                let micros = sent.elapsed().as_micros();
                window
                    .latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                for result in answer.results {
                    match result.result {
                        Some(kms::generate_data_key_result::Result::DataKey(_)) => {
                            window.completed += 1;
                        }
                        other => window.record_error(format!("batch item failed: {other:?}")),
                    }
                }
            }
            Err(err) => window.record_error(err.to_string()),
        }
    }
    window
}
