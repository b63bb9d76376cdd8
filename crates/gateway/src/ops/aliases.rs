//! CreateAlias, UpdateAlias, DeleteAlias and ListAliases.

use super::Call;
use keyshard_core::KmsError;
use keyshard_core::validate::{Violations, is_alias_char};
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::{check_key_id, check_marker, page_limit, route_key};
use crate::json::{decode, encode, epoch_seconds};
use crate::routing::Retry;

/// Page size bounds of ListAliases (AWS KMS API Reference: 1 to 100, default 50), narrower than
/// the model's shared `LimitType`.
const MAX_ALIAS_PAGE: i64 = 100;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AliasRequest {
    pub(crate) alias_name: Option<String>,
    pub(crate) target_key_id: Option<String>,
}

/// `AliasNameType`: 1 to 256 characters of `[a-zA-Z0-9:/_-]`.
fn check_alias_name(v: &mut Violations, name: Option<&str>) {
    v.required("aliasName", name);
    v.length("aliasName", name, 1, 256);
    v.pattern("aliasName", name, "^[a-zA-Z0-9:/_-]+$", is_alias_char);
}

fn validate_alias_request(req: &AliasRequest) -> Result<(String, String), KmsError> {
    let mut v = Violations::new();
    check_alias_name(&mut v, req.alias_name.as_deref());
    v.required("targetKeyId", req.target_key_id.as_ref());
    check_key_id(&mut v, "targetKeyId", req.target_key_id.as_deref());
    v.finish()?;
    Ok((
        req.alias_name.clone().unwrap_or_default(),
        req.target_key_id.clone().unwrap_or_default(),
    ))
}

pub(super) async fn create_alias_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    create_alias(call, &decode(body)?).await?;
    Ok(Vec::new())
}

/// CreateAlias, validated and carried out by the target key's shard.
pub(crate) async fn create_alias(call: &Call<'_>, req: &AliasRequest) -> Result<(), KmsError> {
    let (alias_name, target_key_id) = validate_alias_request(req)?;
    let route = route_key(&target_key_id).to_vec();
    let request = v1::AliasRequest {
        caller: call.caller(),
        alias_name,
        target_key_id,
    };
    call.shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.create_alias(r).await
        })
        .await?;
    Ok(())
}

pub(super) async fn update_alias(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let (alias_name, target_key_id) = validate_alias_request(&decode(body)?)?;
    let route = route_key(&target_key_id).to_vec();
    let request = v1::AliasRequest {
        caller: call.caller(),
        alias_name,
        target_key_id,
    };
    call.shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.update_alias(r).await
        })
        .await?;
    Ok(Vec::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteAliasRequest {
    pub(crate) alias_name: Option<String>,
}

pub(super) async fn delete_alias_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    delete_alias(call, decode(body)?).await?;
    Ok(Vec::new())
}

/// DeleteAlias, validated and carried out by the shard the alias name routes to.
pub(crate) async fn delete_alias(call: &Call<'_>, req: DeleteAliasRequest) -> Result<(), KmsError> {
    let mut v = Violations::new();
    check_alias_name(&mut v, req.alias_name.as_deref());
    v.finish()?;
    let alias_name = req.alias_name.unwrap_or_default();

    let route = route_key(&alias_name).to_vec();
    let request = v1::DeleteAliasRequest {
        caller: call.caller(),
        alias_name,
    };
    call.shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.delete_alias(r).await
        })
        .await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListAliasesRequest {
    pub(crate) key_id: Option<String>,
    pub(crate) limit: Option<i64>,
    pub(crate) marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliasesResponse {
    aliases: Vec<AliasListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AliasListEntry {
    alias_name: String,
    alias_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_key_id: Option<String>,
    creation_date: f64,
    last_updated_date: f64,
}

pub(super) async fn list_aliases_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let response = list_aliases(call, decode(body)?).await?;
    encode(&ListAliasesResponse {
        aliases: response
            .aliases
            .into_iter()
            .map(|a| AliasListEntry {
                alias_name: a.alias_name,
                alias_arn: a.alias_arn,
                target_key_id: a.target_key_id,
                creation_date: epoch_seconds(a.creation_date_millis),
                last_updated_date: epoch_seconds(a.last_updated_date_millis),
            })
            .collect(),
        next_marker: response.next_marker,
        truncated: response.truncated,
    })
}

/// ListAliases, validated and answered by the named key's shard or the account's.
pub(crate) async fn list_aliases(
    call: &Call<'_>,
    req: ListAliasesRequest,
) -> Result<v1::ListAliasesResponse, KmsError> {
    let mut v = Violations::new();
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.range("limit", req.limit, 1, 1000);
    check_marker(&mut v, req.marker.as_deref());
    v.finish()?;
    let mut v = Violations::new();
    v.range("limit", req.limit, 1, MAX_ALIAS_PAGE);
    v.finish()?;

    let route = match req.key_id.as_deref() {
        Some(key_id) => route_key(key_id).to_vec(),
        None => call.scope.account.as_str().as_bytes().to_vec(),
    };
    let request = v1::ListAliasesRequest {
        caller: call.caller(),
        key_id: req.key_id,
        limit: page_limit(req.limit, 50),
        marker: req.marker,
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.list_aliases(r).await
        })
        .await
}
