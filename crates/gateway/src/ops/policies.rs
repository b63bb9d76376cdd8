//! GetKeyPolicy, PutKeyPolicy and ListKeyPolicies, and the `Policy` member CreateKey shares with
//! PutKeyPolicy.

use super::Call;
use keyshard_core::KmsError;
use keyshard_core::policy::DEFAULT_POLICY_NAME;
use keyshard_core::validate::{Violations, is_latin1_printable};
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::{check_key_id, check_marker, route_key};
use crate::json::{decode, encode};
use crate::routing::Retry;

/// `PolicyType`: 1 to 131072 characters of `[\u0009\u000A\u000D\u0020-\u00FF]`. The smaller
/// size quota is the shard's to enforce, as `LimitExceededException`.
pub(super) fn check_policy(v: &mut Violations, policy: Option<&str>) {
    v.length("policy", policy, 1, 131_072);
    v.pattern(
        "policy",
        policy,
        "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        |c| matches!(c, '\t' | '\n' | '\r') || is_latin1_printable(c),
    );
}

/// `PolicyNameType`: 1 to 128 characters of `[\w]`.
fn check_policy_name(v: &mut Violations, name: Option<&str>) {
    v.length("policyName", name, 1, 128);
    v.pattern("policyName", name, "[\\w]+", |c| {
        c.is_ascii_alphanumeric() || c == '_'
    });
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyPolicyRequest {
    key_id: Option<String>,
    policy_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyPolicyResponse {
    policy: String,
    policy_name: String,
}

pub(super) async fn get_key_policy(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: GetKeyPolicyRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    check_policy_name(&mut v, req.policy_name.as_deref());
    v.finish()?;
    let key_id = req.key_id.unwrap_or_default();

    let route = route_key(&key_id).to_vec();
    let request = v1::KeyPolicyRequest {
        caller: call.caller(),
        key_id,
        policy_name: policy_name_or_default(req.policy_name),
    };
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.get_key_policy(r).await
        })
        .await?;
    encode(&GetKeyPolicyResponse {
        policy: response.policy,
        policy_name: response.policy_name,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutKeyPolicyRequest {
    key_id: Option<String>,
    policy_name: Option<String>,
    policy: Option<String>,
    #[serde(rename = "BypassPolicyLockoutSafetyCheck")]
    bypass_policy_lockout_safety_check: Option<bool>,
}

pub(super) async fn put_key_policy(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: PutKeyPolicyRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    check_policy_name(&mut v, req.policy_name.as_deref());
    v.required("policy", req.policy.as_ref());
    check_policy(&mut v, req.policy.as_deref());
    v.finish()?;
    let key_id = req.key_id.unwrap_or_default();

    let route = route_key(&key_id).to_vec();
    let request = v1::PutKeyPolicyRequest {
        caller: call.caller(),
        key_id,
        policy_name: policy_name_or_default(req.policy_name),
        policy: req.policy.unwrap_or_default(),
        bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check.unwrap_or(false),
    };
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.put_key_policy(r).await
        })
        .await?;
    Ok(Vec::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyPoliciesRequest {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyPoliciesResponse {
    policy_names: Vec<String>,
    truncated: bool,
}

/// A key has one policy, so every page, whatever its `Limit`, holds all of them and no
/// `NextMarker` is ever handed out. The model declares no `InvalidMarkerException` for this
/// operation; a `Marker` is checked against the model and otherwise has nothing to continue.
pub(super) async fn list_key_policies(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: ListKeyPoliciesRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.range("limit", req.limit, 1, 1000);
    check_marker(&mut v, req.marker.as_deref());
    v.finish()?;
    let key_id = req.key_id.unwrap_or_default();

    let route = route_key(&key_id).to_vec();
    let request = v1::ListKeyPoliciesRequest {
        caller: call.caller(),
        key_id,
    };
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.list_key_policies(r).await
        })
        .await?;
    encode(&ListKeyPoliciesResponse {
        policy_names: response.policy_names,
        truncated: false,
    })
}

fn policy_name_or_default(name: Option<String>) -> String {
    name.unwrap_or_else(|| DEFAULT_POLICY_NAME.to_owned())
}
