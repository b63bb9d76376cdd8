//! ScheduleKeyDeletion, CancelKeyDeletion and UpdateKeyDescription.

use super::Call;
use keyshard_core::KmsError;
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::{check_key_id, route_key};
use crate::json::{decode, encode, epoch_seconds};
use crate::routing::Retry;

/// The waiting period AWS accepts and its default (AWS KMS API Reference, ScheduleKeyDeletion:
/// PendingWindowInDays), narrower than the model's 1 to 365.
const MIN_PENDING_WINDOW_DAYS: i64 = 7;
const MAX_PENDING_WINDOW_DAYS: i64 = 30;
const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleKeyDeletionRequest {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleKeyDeletionResponse {
    key_id: String,
    deletion_date: f64,
    key_state: String,
    pending_window_in_days: u32,
}

pub(super) async fn schedule_key_deletion(
    call: &Call<'_>,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let req: ScheduleKeyDeletionRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.range(
        "pendingWindowInDays",
        req.pending_window_in_days,
        MIN_PENDING_WINDOW_DAYS,
        MAX_PENDING_WINDOW_DAYS,
    );
    v.finish()?;
    let pending_window_in_days = req
        .pending_window_in_days
        .and_then(|days| u32::try_from(days).ok())
        .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::ScheduleKeyDeletionRequest {
        caller: call.caller(),
        key_id,
        pending_window_in_days,
    };
    // Not repeated on another shard: a repeat after an unseen success would answer that the
    // key is already pending deletion.
    let response = call
        .shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.schedule_key_deletion(r).await
        })
        .await?;
    encode(&ScheduleKeyDeletionResponse {
        key_id: response.key_id,
        deletion_date: epoch_seconds(response.deletion_date_millis),
        key_state: response.key_state,
        pending_window_in_days: response.pending_window_in_days,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CancelKeyDeletionResponse {
    key_id: String,
}

pub(super) async fn cancel_key_deletion(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let (route, request) = super::key_request(call, body)?;

    // Like a schedule, a repeat would answer that the key is not pending deletion.
    let response = call
        .shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.cancel_key_deletion(r).await
        })
        .await?;
    encode(&CancelKeyDeletionResponse {
        key_id: response.key_id,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateKeyDescriptionRequest {
    key_id: Option<String>,
    description: Option<String>,
}

pub(super) async fn update_key_description(
    call: &Call<'_>,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let req: UpdateKeyDescriptionRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.required("description", req.description.as_ref());
    v.length("description", req.description.as_deref(), 0, 8192);
    v.finish()?;

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::UpdateKeyDescriptionRequest {
        caller: call.caller(),
        key_id,
        description: req.description.unwrap_or_default(),
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.update_key_description(r).await
        })
        .await?;
    Ok(Vec::new())
}
