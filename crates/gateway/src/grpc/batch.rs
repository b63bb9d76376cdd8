//! The batch methods. A batch is authenticated once; each item is counted against the account's
//! symmetric quota and validated as a single call would be. The valid items are then grouped by
//! the shards their keys route to, and each group travels to its shard as one call, which
//! answers every item with its own result or error (failing over to the next shard as a single
//! call does). A batch over many keys thus costs one shard call per shard, not one per item.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream;
use keyshard_core::KmsError;
use keyshard_core::operation::Operation;
use keyshard_proto::{MAX_BATCH_ITEMS, error_from_item, kms, public_code, public_status, v1};
use tokio_stream::Stream;
use tonic::Status;

use super::convert;
use super::service::call;
use crate::Gateway;
use crate::auth::Identity;
use crate::ops::data;
use crate::routing::Retry;

/// The batch methods, as metric labels.
pub(super) const METHODS: &[&str] = &[
    "GenerateDataKeyBatch",
    "DecryptBatch",
    "GenerateDataKeyStream",
];

/// Items of a GenerateDataKeyStream call handled as one batch: each chunk's results are sent
/// as soon as its shards answer.
const STREAM_CHUNK: usize = 100;

/// Chunks of one GenerateDataKeyStream call in flight at once.
const STREAM_CHUNKS_IN_FLIGHT: usize = 4;

/// The streamed answer of GenerateDataKeyStream.
pub(super) type ResultStream =
    Pin<Box<dyn Stream<Item = Result<kms::GenerateDataKeyResult, Status>> + Send>>;

/// The items of a batch, or `ValidationException` when there are more than
/// [`MAX_BATCH_ITEMS`].
pub(super) fn check_size<T>(items: Vec<T>) -> Result<Vec<T>, Status> {
    if items.len() > MAX_BATCH_ITEMS {
        return Err(public_status(&KmsError::Validation(format!(
            "1 validation error detected: Value at 'items' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_BATCH_ITEMS}"
        ))));
    }
    Ok(items)
}

fn error(err: &KmsError) -> kms::Error {
    let wire = err.wire();
    kms::Error {
        code: public_code(err) as i32,
        error_type: wire.error_type.to_owned(),
        message: wire.message.unwrap_or(wire.error_type).to_owned(),
    }
}

/// Counts one item against the account's quota, as a single call of `op` would be.
fn admit(gateway: &Gateway, identity: &Identity, op: Operation) -> Result<(), KmsError> {
    match &gateway.quotas {
        Some(quotas) => quotas.admit(&identity.account, op, &identity.quotas),
        None => Ok(()),
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// What a shard answered for one item of a batch call.
fn item_result<T>(result: Option<Result<T, v1::ItemError>>) -> Result<T, KmsError> {
    match result {
        Some(Ok(answer)) => Ok(answer),
        Some(Err(err)) => Err(error_from_item(err)),
        None => Err(KmsError::Internal(
            "The shard answered an item of a batch without its result.".to_owned(),
        )),
    }
}

/// Sends each prepared item (its route and shard request, or the error that stopped it) to its
/// shard, in one `send` per group of items whose shards are tried in the same order, and
/// returns each item's result in item order. An item a group's call does not answer fails with
/// that call's error.
async fn scatter<R, A, F, Fut>(
    gateway: &Gateway,
    prepared: Vec<Result<(Vec<u8>, R), KmsError>>,
    send: F,
) -> Vec<Result<A, KmsError>>
where
    F: Fn(Vec<usize>, Vec<R>) -> Fut,
    Fut: Future<Output = Result<Vec<Result<A, KmsError>>, KmsError>>,
{
    let mut results: Vec<Option<Result<A, KmsError>>> = Vec::with_capacity(prepared.len());
    let mut groups: HashMap<Vec<usize>, (Vec<usize>, Vec<R>)> = HashMap::new();
    for (i, item) in prepared.into_iter().enumerate() {
        match item {
            Ok((route, request)) => {
                let (indices, requests) = groups.entry(gateway.shards.order(&route)).or_default();
                indices.push(i);
                requests.push(request);
                results.push(None);
            }
            Err(err) => results.push(Some(Err(err))),
        }
    }
    let answers =
        futures_util::future::join_all(groups.into_iter().map(|(order, (indices, requests))| {
            let answer = send(order, requests);
            async move { (indices, answer.await) }
        }))
        .await;
    for (indices, answer) in answers {
        match answer {
            Ok(answers) => {
                let mut answers = answers.into_iter();
                for i in indices {
                    results[i] = Some(answers.next().unwrap_or_else(|| {
                        Err(KmsError::Internal(
                            "The shard answered fewer items than the batch held.".to_owned(),
                        ))
                    }));
                }
            }
            Err(err) => {
                for i in indices {
                    results[i] = Some(Err(err.clone()));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| Err(KmsError::Internal("An item went unanswered.".to_owned())))
        })
        .collect()
}

/// The data keys of `items`, in item order, each a data key or the error its single call would
/// have answered.
async fn data_keys(
    gateway: &Gateway,
    identity: &Identity,
    items: Vec<kms::GenerateDataKeyRequest>,
) -> Vec<Result<v1::GenerateDataKeyResponse, KmsError>> {
    let call = call(gateway, identity);
    let prepared = items
        .into_iter()
        .map(|item| {
            admit(gateway, identity, Operation::GenerateDataKey)?;
            data::generate_data_key_request(&call, convert::generate_data_key(item), true)
        })
        .collect();
    scatter(gateway, prepared, |order, items| async move {
        let answer = gateway
            .shards
            .call_in_order(
                &order,
                Retry::Idempotent,
                v1::GenerateDataKeyBatchRequest { items },
                |mut c, r| async move { c.generate_data_key_batch(r).await },
            )
            .await?;
        Ok(answer
            .results
            .into_iter()
            .map(|item| {
                item_result(item.result.map(|result| match result {
                    v1::generate_data_key_item::Result::DataKey(data_key) => Ok(data_key),
                    v1::generate_data_key_item::Result::Error(err) => Err(err),
                }))
            })
            .collect())
    })
    .await
}

fn data_key_result(
    index: u32,
    result: Result<v1::GenerateDataKeyResponse, KmsError>,
) -> kms::GenerateDataKeyResult {
    kms::GenerateDataKeyResult {
        index,
        result: Some(match result {
            Ok(response) => {
                kms::generate_data_key_result::Result::DataKey(convert::data_key_response(response))
            }
            Err(err) => kms::generate_data_key_result::Result::Error(error(&err)),
        }),
    }
}

/// GenerateDataKeyBatch: one result per item, in item order.
pub(super) async fn generate_data_keys(
    gateway: &Gateway,
    identity: &Identity,
    items: Vec<kms::GenerateDataKeyRequest>,
) -> Vec<kms::GenerateDataKeyResult> {
    data_keys(gateway, identity, items)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, result)| data_key_result(index(i), result))
        .collect()
}

/// GenerateDataKeyStream: the items in chunks of [`STREAM_CHUNK`], each chunk's results sent as
/// soon as it is answered.
pub(super) fn stream_data_keys(
    gateway: Arc<Gateway>,
    identity: Identity,
    mut items: Vec<kms::GenerateDataKeyRequest>,
) -> ResultStream {
    let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_CHUNK);
    tokio::spawn(async move {
        let mut chunks = Vec::new();
        let mut first = 0;
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(STREAM_CHUNK));
            let chunk = std::mem::replace(&mut items, rest);
            chunks.push((first, chunk));
            first += STREAM_CHUNK;
        }
        let (gateway, identity) = (&gateway, &identity);
        let mut answered = stream::iter(chunks)
            .map(|(first, chunk)| async move { (first, data_keys(gateway, identity, chunk).await) })
            .buffer_unordered(STREAM_CHUNKS_IN_FLIGHT);
        while let Some((first, results)) = answered.next().await {
            for (i, result) in results.into_iter().enumerate() {
                // The client went away: stop generating keys nobody will receive.
                if sender
                    .send(Ok(data_key_result(index(first + i), result)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}

/// DecryptBatch: one result per item, in item order.
pub(super) async fn decrypt(
    gateway: &Gateway,
    identity: &Identity,
    items: Vec<kms::DecryptRequest>,
) -> Vec<kms::DecryptResult> {
    let call = call(gateway, identity);
    let prepared = items
        .into_iter()
        .map(|item| {
            admit(gateway, identity, Operation::Decrypt)?;
            data::decrypt_request(&call, convert::decrypt(item))
        })
        .collect();
    let results = scatter(gateway, prepared, |order, items| async move {
        let answer = gateway
            .shards
            .call_in_order(
                &order,
                Retry::Idempotent,
                v1::DecryptBatchRequest { items },
                |mut c, r| async move { c.decrypt_batch(r).await },
            )
            .await?;
        Ok(answer
            .results
            .into_iter()
            .map(|item| {
                item_result(item.result.map(|result| match result {
                    v1::decrypt_item::Result::Decrypted(decrypted) => Ok(decrypted),
                    v1::decrypt_item::Result::Error(err) => Err(err),
                }))
            })
            .collect())
    })
    .await;
    results
        .into_iter()
        .enumerate()
        .map(|(i, result)| kms::DecryptResult {
            index: index(i),
            result: Some(match result {
                Ok(response) => {
                    kms::decrypt_result::Result::Decrypted(convert::decrypt_response(response))
                }
                Err(err) => kms::decrypt_result::Result::Error(error(&err)),
            }),
        })
        .collect()
}
