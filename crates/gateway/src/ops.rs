//! One handler per operation: decode the JSON request, validate it against the model, call a
//! shard, encode the JSON response.

mod aliases;
mod data;
mod grants;
mod keys;
mod lifecycle;
mod policies;
mod reencrypt;
mod rotation;
mod tags;

use keyshard_core::KmsError;
use keyshard_core::operation::Operation;
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::Deserialize;

use crate::Gateway;
use crate::json::decode;

/// Runs `op` on a request body and returns the response body.
pub(crate) async fn dispatch(
    gateway: &Gateway,
    op: Operation,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    match op {
        Operation::CreateKey => keys::create_key(gateway, body).await,
        Operation::DescribeKey => keys::describe_key(gateway, body).await,
        Operation::ListKeys => keys::list_keys(gateway, body).await,
        Operation::EnableKey => keys::set_enabled(gateway, body, true).await,
        Operation::DisableKey => keys::set_enabled(gateway, body, false).await,
        Operation::CreateAlias => aliases::create_alias(gateway, body).await,
        Operation::UpdateAlias => aliases::update_alias(gateway, body).await,
        Operation::DeleteAlias => aliases::delete_alias(gateway, body).await,
        Operation::ListAliases => aliases::list_aliases(gateway, body).await,
        Operation::GenerateDataKey => data::generate_data_key(gateway, body, true).await,
        Operation::GenerateDataKeyWithoutPlaintext => {
            data::generate_data_key(gateway, body, false).await
        }
        Operation::Encrypt => data::encrypt(gateway, body).await,
        Operation::Decrypt => data::decrypt(gateway, body).await,
        Operation::GenerateRandom => data::generate_random(gateway, body).await,
        Operation::TagResource => tags::tag_resource(gateway, body).await,
        Operation::UntagResource => tags::untag_resource(gateway, body).await,
        Operation::ListResourceTags => tags::list_resource_tags(gateway, body).await,
        Operation::GetKeyPolicy => policies::get_key_policy(gateway, body).await,
        Operation::PutKeyPolicy => policies::put_key_policy(gateway, body).await,
        Operation::ListKeyPolicies => policies::list_key_policies(gateway, body).await,
        Operation::EnableKeyRotation => rotation::enable_key_rotation(gateway, body).await,
        Operation::DisableKeyRotation => rotation::disable_key_rotation(gateway, body).await,
        Operation::GetKeyRotationStatus => rotation::get_key_rotation_status(gateway, body).await,
        Operation::RotateKeyOnDemand => rotation::rotate_key_on_demand(gateway, body).await,
        Operation::ListKeyRotations => rotation::list_key_rotations(gateway, body).await,
        Operation::ScheduleKeyDeletion => lifecycle::schedule_key_deletion(gateway, body).await,
        Operation::CancelKeyDeletion => lifecycle::cancel_key_deletion(gateway, body).await,
        Operation::UpdateKeyDescription => lifecycle::update_key_description(gateway, body).await,
        Operation::ReEncrypt => reencrypt::re_encrypt(gateway, body).await,
        Operation::CreateGrant => grants::create_grant(gateway, body).await,
        Operation::ListGrants => grants::list_grants(gateway, body).await,
        Operation::ListRetirableGrants => grants::list_retirable_grants(gateway, body).await,
        Operation::RetireGrant => grants::retire_grant(gateway, body).await,
        Operation::RevokeGrant => grants::revoke_grant(gateway, body).await,
        other => Err(KmsError::UnsupportedOperation(format!(
            "Keyshard does not support {other} yet."
        ))),
    }
}

impl Gateway {
    fn caller(&self) -> Option<v1::Caller> {
        Some(v1::Caller::from(&self.scope))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyRequest {
    key_id: Option<String>,
}

/// A request whose one member is a required `KeyId` (EnableKey, DisableKey, CancelKeyDeletion),
/// validated, with its route.
fn key_request(gateway: &Gateway, body: &[u8]) -> Result<(Vec<u8>, v1::KeyRequest), KmsError> {
    let req: KeyRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.finish()?;

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::KeyRequest {
        caller: gateway.caller(),
        key_id,
    };
    Ok((route, request))
}

/// `KeyIdType`: 1 to 2048 characters.
fn check_key_id(v: &mut Violations, path: &str, key_id: Option<&str>) {
    v.length(path, key_id, 1, 2048);
}

/// `GrantTokenList`: at most 10 tokens of 1 to 8192 characters. Keyshard does not enforce
/// authorization in development mode, so valid tokens grant nothing further and are accepted.
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
