//! TagResource, UntagResource and ListResourceTags, and the `Tags` member CreateKey shares with
//! TagResource.

use super::Call;
use keyshard_core::KmsError;
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::{check_key_id, check_marker, page_limit, route_key};
use crate::json::{decode, encode};
use crate::routing::Retry;

/// Page size bounds of ListResourceTags (AWS KMS API Reference: 1 to 50, default 50), narrower
/// than the model's shared `LimitType`.
const MAX_TAG_PAGE: i64 = 50;

/// A member of a request's `TagList`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Tag {
    pub(crate) tag_key: Option<String>,
    pub(crate) tag_value: Option<String>,
}

/// `TagList`: every member needs a `TagKey` of 1 to 128 characters and a `TagValue` of 0 to 256.
pub(super) fn check_tags(v: &mut Violations, tags: Option<&[Tag]>) {
    for (i, tag) in tags.unwrap_or_default().iter().enumerate() {
        let path = format!("tags.{}.member", i + 1);
        v.required(&format!("{path}.tagKey"), tag.tag_key.as_ref());
        v.length(&format!("{path}.tagKey"), tag.tag_key.as_deref(), 1, 128);
        v.required(&format!("{path}.tagValue"), tag.tag_value.as_ref());
        v.length(
            &format!("{path}.tagValue"),
            tag.tag_value.as_deref(),
            0,
            256,
        );
    }
}

/// The tags of a request [`check_tags`] passed, as the shard takes them.
pub(super) fn tags_to_proto(tags: Option<Vec<Tag>>) -> Vec<v1::Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|tag| v1::Tag {
            key: tag.tag_key.unwrap_or_default(),
            value: tag.tag_value.unwrap_or_default(),
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceRequest {
    key_id: Option<String>,
    tags: Option<Vec<Tag>>,
}

pub(super) async fn tag_resource(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: TagResourceRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.required("tags", req.tags.as_ref());
    check_tags(&mut v, req.tags.as_deref());
    v.finish()?;
    let key_id = req.key_id.unwrap_or_default();

    let route = route_key(&key_id).to_vec();
    let request = v1::TagResourceRequest {
        caller: call.caller(),
        key_id,
        tags: tags_to_proto(req.tags),
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.tag_resource(r).await
        })
        .await?;
    Ok(Vec::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceRequest {
    key_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub(super) async fn untag_resource(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: UntagResourceRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.required("tagKeys", req.tag_keys.as_ref());
    for (i, tag_key) in req
        .tag_keys
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        v.length(&format!("tagKeys.{}.member", i + 1), Some(tag_key), 1, 128);
    }
    v.finish()?;
    let key_id = req.key_id.unwrap_or_default();

    let route = route_key(&key_id).to_vec();
    let request = v1::UntagResourceRequest {
        caller: call.caller(),
        key_id,
        tag_keys: req.tag_keys.unwrap_or_default(),
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.untag_resource(r).await
        })
        .await?;
    Ok(Vec::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResourceTagsRequest {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListResourceTagsResponse {
    tags: Vec<TagEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagEntry {
    tag_key: String,
    tag_value: String,
}

pub(super) async fn list_resource_tags(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: ListResourceTagsRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.range("limit", req.limit, 1, 1000);
    check_marker(&mut v, req.marker.as_deref());
    v.finish()?;
    let mut v = Violations::new();
    v.range("limit", req.limit, 1, MAX_TAG_PAGE);
    v.finish()?;
    let key_id = req.key_id.unwrap_or_default();

    let route = route_key(&key_id).to_vec();
    let request = v1::ListResourceTagsRequest {
        caller: call.caller(),
        key_id,
        limit: page_limit(req.limit, 50),
        marker: req.marker,
    };
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.list_resource_tags(r).await
        })
        .await?;
    encode(&ListResourceTagsResponse {
        tags: response
            .tags
            .into_iter()
            .map(|tag| TagEntry {
                tag_key: tag.key,
                tag_value: tag.value,
            })
            .collect(),
        next_marker: response.next_marker,
        truncated: response.truncated,
    })
}
