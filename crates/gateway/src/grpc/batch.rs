//! The batch methods: each item is an operation of its own, counted against the account's
//! symmetric quota, validated, routed to its key's shard and answered with its own result or
//! error, while the batch is authenticated once. Items run concurrently, [`CONCURRENCY`] at a
//! time.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream;
use keyshard_core::KmsError;
use keyshard_core::operation::Operation;
use keyshard_proto::{kms, public_code, public_status};
use tokio_stream::Stream;
use tonic::Status;

use super::convert;
use super::service::call;
use crate::Gateway;
use crate::auth::Identity;
use crate::ops::data;

/// The batch methods, as metric labels.
pub(super) const METHODS: &[&str] = &[
    "GenerateDataKeyBatch",
    "DecryptBatch",
    "GenerateDataKeyStream",
];

/// Items one batch may hold.
const MAX_ITEMS: usize = 1000;

/// Items of one batch in flight at once.
const CONCURRENCY: usize = 64;

/// The streamed answer of GenerateDataKeyStream.
pub(super) type ResultStream =
    Pin<Box<dyn Stream<Item = Result<kms::GenerateDataKeyResult, Status>> + Send>>;

/// The items of a batch, or `ValidationException` when there are more than [`MAX_ITEMS`].
pub(super) fn check_size<T>(items: Vec<T>) -> Result<Vec<T>, Status> {
    if items.len() > MAX_ITEMS {
        return Err(public_status(&KmsError::Validation(format!(
            "1 validation error detected: Value at 'items' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_ITEMS}"
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

async fn generate_one(
    gateway: &Gateway,
    identity: &Identity,
    index: usize,
    item: kms::GenerateDataKeyRequest,
) -> kms::GenerateDataKeyResult {
    let result = async {
        admit(gateway, identity, Operation::GenerateDataKey)?;
        let call = call(gateway, identity);
        data::generate_data_key(&call, convert::generate_data_key(item), true).await
    }
    .await;
    kms::GenerateDataKeyResult {
        index: u32::try_from(index).unwrap_or(u32::MAX),
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
    stream::iter(items.into_iter().enumerate())
        .map(|(index, item)| generate_one(gateway, identity, index, item))
        .buffered(CONCURRENCY)
        .collect()
        .await
}

/// GenerateDataKeyStream: each item's result as soon as it is ready.
pub(super) fn stream_data_keys(
    gateway: Arc<Gateway>,
    identity: Identity,
    items: Vec<kms::GenerateDataKeyRequest>,
) -> ResultStream {
    let (sender, receiver) = tokio::sync::mpsc::channel(CONCURRENCY);
    tokio::spawn(async move {
        let mut results = stream::iter(items.into_iter().enumerate())
            .map(|(index, item)| generate_one(&gateway, &identity, index, item))
            .buffer_unordered(CONCURRENCY);
        while let Some(result) = results.next().await {
            // The client went away: stop generating keys nobody will receive.
            if sender.send(Ok(result)).await.is_err() {
                return;
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
    stream::iter(items.into_iter().enumerate())
        .map(|(index, item)| async move {
            let result = async {
                admit(gateway, identity, Operation::Decrypt)?;
                let call = call(gateway, identity);
                data::decrypt(&call, convert::decrypt(item)).await
            }
            .await;
            kms::DecryptResult {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                result: Some(match result {
                    Ok(response) => {
                        kms::decrypt_result::Result::Decrypted(convert::decrypt_response(response))
                    }
                    Err(err) => kms::decrypt_result::Result::Error(error(&err)),
                }),
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}
