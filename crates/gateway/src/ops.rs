//! One handler per operation: decode the JSON request, validate it against the model, call a
//! shard, encode the JSON response.

pub(crate) mod aliases;
pub(crate) mod data;
mod grants;
pub(crate) mod keys;
mod lifecycle;
mod policies;
pub(crate) mod reencrypt;
mod rotation;
pub(crate) mod tags;

use keyshard_core::KmsError;
use keyshard_core::id::Scope;
use keyshard_core::operation::Operation;
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::Deserialize;

use crate::ShardPool;
use crate::json::decode;

/// Runs `op` on a request body and returns the response body.
pub(crate) async fn dispatch(
    call: &Call<'_>,
    op: Operation,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    match op {
        Operation::CreateKey => keys::create_key_json(call, body).await,
        Operation::DescribeKey => keys::describe_key_json(call, body).await,
        Operation::ListKeys => keys::list_keys_json(call, body).await,
        Operation::EnableKey => keys::set_enabled(call, body, true).await,
        Operation::DisableKey => keys::set_enabled(call, body, false).await,
        Operation::CreateAlias => aliases::create_alias_json(call, body).await,
        Operation::UpdateAlias => aliases::update_alias(call, body).await,
        Operation::DeleteAlias => aliases::delete_alias_json(call, body).await,
        Operation::ListAliases => aliases::list_aliases_json(call, body).await,
        Operation::GenerateDataKey => data::generate_data_key_json(call, body, true).await,
        Operation::GenerateDataKeyWithoutPlaintext => {
            data::generate_data_key_json(call, body, false).await
        }
        Operation::Encrypt => data::encrypt_json(call, body).await,
        Operation::Decrypt => data::decrypt_json(call, body).await,
        Operation::GenerateRandom => data::generate_random_json(call, body).await,
        Operation::TagResource => tags::tag_resource(call, body).await,
        Operation::UntagResource => tags::untag_resource(call, body).await,
        Operation::ListResourceTags => tags::list_resource_tags(call, body).await,
        Operation::GetKeyPolicy => policies::get_key_policy(call, body).await,
        Operation::PutKeyPolicy => policies::put_key_policy(call, body).await,
        Operation::ListKeyPolicies => policies::list_key_policies(call, body).await,
        Operation::EnableKeyRotation => rotation::enable_key_rotation(call, body).await,
        Operation::DisableKeyRotation => rotation::disable_key_rotation(call, body).await,
        Operation::GetKeyRotationStatus => rotation::get_key_rotation_status(call, body).await,
        Operation::RotateKeyOnDemand => rotation::rotate_key_on_demand(call, body).await,
        Operation::ListKeyRotations => rotation::list_key_rotations(call, body).await,
        Operation::ScheduleKeyDeletion => lifecycle::schedule_key_deletion(call, body).await,
        Operation::CancelKeyDeletion => lifecycle::cancel_key_deletion(call, body).await,
        Operation::UpdateKeyDescription => lifecycle::update_key_description(call, body).await,
        Operation::ReEncrypt => reencrypt::re_encrypt_json(call, body).await,
        Operation::CreateGrant => grants::create_grant(call, body).await,
        Operation::ListGrants => grants::list_grants(call, body).await,
        Operation::ListRetirableGrants => grants::list_retirable_grants(call, body).await,
        Operation::RetireGrant => grants::retire_grant(call, body).await,
        Operation::RevokeGrant => grants::revoke_grant(call, body).await,
        other => Err(KmsError::UnsupportedOperation(format!(
            "Keyshard does not support {other} yet."
        ))),
    }
}

/// One authenticated request: the caller's account and region, the principal it acts as, and
/// the shards to ask.
pub(crate) struct Call<'a> {
    pub(crate) scope: Scope,
    pub(crate) principal: &'a str,
    pub(crate) shards: &'a ShardPool,
}

impl Call<'_> {
    fn caller(&self) -> Option<v1::Caller> {
        Some(v1::Caller::acting_as(&self.scope, self.principal))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyRequest {
    key_id: Option<String>,
}

/// A request whose one member is a required `KeyId` (EnableKey, DisableKey, CancelKeyDeletion),
/// validated, with its route.
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

/// `KeyIdType`: 1 to 2048 characters.
fn check_key_id(v: &mut Violations, path: &str, key_id: Option<&str>) {
    v.length(path, key_id, 1, 2048);
}

/// `GrantTokenList`: at most 10 tokens of 1 to 8192 characters. The shard checks that each is a
/// token Keyshard issued and lets the grants they name count at once.
fn check_grant_tokens(v: &mut Violations, tokens: Option<&[String]>) {
    v.list_length("grantTokens", tokens, 0, 10);
    for (i, token) in tokens.unwrap_or_default().iter().enumerate() {
        v.length(
            &format!("grantTokens.{}.member", i + 1),
            Some(token),
            1,
            8192,
        );
    }
}

/// The route key of a request naming a key: the key id when the identifier contains one, the
/// identifier itself (an alias) otherwise, so that one key always lands on the same shard.
fn route_key(key_id: &str) -> &[u8] {
    let id = key_id.rsplit_once(":key/").map_or(key_id, |(_, id)| id);
    tracing::Span::current().record("key_id", id);
    id.as_bytes()
}

/// `MarkerType`: 1 to 1024 characters of `[\u0020-\u00FF]`.
fn check_marker(v: &mut Violations, marker: Option<&str>) {
    v.length("marker", marker, 1, 1024);
    v.pattern(
        "marker",
        marker,
        "[\\u0020-\\u00FF]*",
        keyshard_core::validate::is_latin1_printable,
    );
}

/// A validated `Limit`, or the operation's default page size.
fn page_limit(limit: Option<i64>, default: u32) -> u32 {
    limit.and_then(|l| u32::try_from(l).ok()).unwrap_or(default)
}
