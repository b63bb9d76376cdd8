//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand and
//! ListKeyRotations.

use super::Call;
use keyshard_core::KmsError;
use keyshard_core::rotation::{
    DEFAULT_ROTATION_PERIOD_DAYS, IncludeKeyMaterial, MAX_ROTATION_PERIOD_DAYS,
    MIN_ROTATION_PERIOD_DAYS,
};
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::{check_key_id, check_marker, page_limit, route_key};
use crate::json::{decode, encode, epoch_seconds};
use crate::routing::Retry;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyRequest {
    key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnableKeyRotationRequest {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyRotationStatusResponse {
    key_rotation_enabled: bool,
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotateKeyOnDemandResponse {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyRotationsRequest {
    key_id: Option<String>,
    include_key_material: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyRotationsResponse {
    rotations: Vec<RotationsListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RotationsListEntry {
    key_id: String,
    key_material_id: String,
    key_material_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_type: Option<String>,
}

pub(super) async fn enable_key_rotation(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: EnableKeyRotationRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.range(
        "rotationPeriodInDays",
        req.rotation_period_in_days,
        MIN_ROTATION_PERIOD_DAYS.into(),
        MAX_ROTATION_PERIOD_DAYS.into(),
    );
    v.finish()?;
    let rotation_period_in_days = req
        .rotation_period_in_days
        .and_then(|days| u32::try_from(days).ok())
        .unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::EnableKeyRotationRequest {
        caller: call.caller(),
        key_id,
        rotation_period_in_days,
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.enable_key_rotation(r).await
        })
        .await?;
    Ok(Vec::new())
}

pub(super) async fn disable_key_rotation(
    call: &Call<'_>,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let (route, request) = key_request(call, body)?;

    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.disable_key_rotation(r).await
        })
        .await?;
    Ok(Vec::new())
}

pub(super) async fn get_key_rotation_status(
    call: &Call<'_>,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let (route, request) = key_request(call, body)?;

    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.get_key_rotation_status(r).await
        })
        .await?;
    encode(&GetKeyRotationStatusResponse {
        key_rotation_enabled: response.key_rotation_enabled,
        key_id: response.key_id,
        rotation_period_in_days: response.rotation_period_in_days,
        next_rotation_date: response.next_rotation_date_millis.map(epoch_seconds),
    })
}

pub(super) async fn rotate_key_on_demand(
    call: &Call<'_>,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let (route, request) = key_request(call, body)?;

    // A repeat after an unseen success would rotate twice.
    let response = call
        .shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.rotate_key_on_demand(r).await
        })
        .await?;
    encode(&RotateKeyOnDemandResponse {
        key_id: response.key_id,
    })
}

pub(super) async fn list_key_rotations(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: ListKeyRotationsRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.one_of(
        "includeKeyMaterial",
        req.include_key_material.as_deref(),
        IncludeKeyMaterial::VALUES,
    );
    v.range("limit", req.limit, 1, 1000);
    check_marker(&mut v, req.marker.as_deref());
    v.finish()?;
    let include_first_material = req
        .include_key_material
        .as_deref()
        .map(IncludeKeyMaterial::parse)
        == Some(Some(IncludeKeyMaterial::AllKeyMaterial));

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::ListKeyRotationsRequest {
        caller: call.caller(),
        key_id,
        include_first_material,
        limit: page_limit(req.limit, 100),
        marker: req.marker,
    };
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.list_key_rotations(r).await
        })
        .await?;
    encode(&ListKeyRotationsResponse {
        rotations: response
            .rotations
            .into_iter()
            .map(|r| RotationsListEntry {
                key_id: r.key_id,
                key_material_id: r.key_material_id,
                key_material_state: r.key_material_state,
                rotation_date: r.rotation_date_millis.map(epoch_seconds),
                rotation_type: r.rotation_type,
            })
            .collect(),
        next_marker: response.next_marker,
        truncated: response.truncated,
    })
}

/// A request whose only member is a key id or key ARN, validated, with its route.
fn key_request(call: &Call<'_>, body: &[u8]) -> Result<(Vec<u8>, v1::KeyRequest), KmsError> {
    let req: KeyRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.finish()?;

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::KeyRequest {
        caller: call.caller(),
        key_id,
    };
    Ok((route, request))
}
