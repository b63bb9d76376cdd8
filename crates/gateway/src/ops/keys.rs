//! CreateKey, DescribeKey and ListKeys.

use super::Call;
use keyshard_core::KmsError;
use keyshard_core::spec::{CustomerMasterKeySpec, KeySpec, KeyUsage, Origin};
use keyshard_core::validate::Violations;
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::policies::check_policy;
use super::tags::{Tag, check_tags, tags_to_proto};
use super::{check_grant_tokens, check_key_id, route_key};
use crate::json::{decode, encode, epoch_seconds};
use crate::routing::Retry;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateKeyRequest {
    pub(crate) policy: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) key_usage: Option<String>,
    pub(crate) customer_master_key_spec: Option<String>,
    pub(crate) key_spec: Option<String>,
    pub(crate) origin: Option<String>,
    pub(crate) custom_key_store_id: Option<String>,
    #[serde(rename = "BypassPolicyLockoutSafetyCheck")]
    pub(crate) bypass_policy_lockout_safety_check: Option<bool>,
    pub(crate) tags: Option<Vec<Tag>>,
    pub(crate) multi_region: Option<bool>,
    pub(crate) xks_key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadataResponse {
    key_metadata: KeyMetadata,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: String,
    key_id: String,
    arn: String,
    creation_date: f64,
    enabled: bool,
    description: String,
    key_usage: String,
    key_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<f64>,
    origin: String,
    key_manager: String,
    customer_master_key_spec: String,
    key_spec: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    encryption_algorithms: Vec<String>,
    multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_key_material_id: Option<String>,
}

impl From<v1::KeyMetadata> for KeyMetadata {
    fn from(m: v1::KeyMetadata) -> Self {
        Self {
            aws_account_id: m.account_id,
            key_id: m.key_id,
            arn: m.arn,
            creation_date: epoch_seconds(m.creation_date_millis),
            enabled: m.enabled,
            description: m.description,
            key_usage: m.key_usage,
            key_state: m.key_state,
            deletion_date: m.deletion_date_millis.map(epoch_seconds),
            origin: m.origin,
            key_manager: m.key_manager,
            customer_master_key_spec: m.key_spec.clone(),
            key_spec: m.key_spec,
            encryption_algorithms: m.encryption_algorithms,
            multi_region: m.multi_region,
            current_key_material_id: Some(m.current_key_material_id).filter(|id| !id.is_empty()),
        }
    }
}

/// The key metadata of a shard's answer, which it always sends.
fn key_metadata(response: v1::KeyMetadataResponse) -> Result<v1::KeyMetadata, KmsError> {
    response
        .key_metadata
        .ok_or_else(|| KmsError::Internal("the shard returned no key metadata".to_owned()))
}

fn metadata_response(metadata: v1::KeyMetadata) -> Result<Vec<u8>, KmsError> {
    encode(&KeyMetadataResponse {
        key_metadata: metadata.into(),
    })
}

pub(super) async fn create_key_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    metadata_response(create_key(call, decode(body)?).await?)
}

/// CreateKey, validated, with the new key's id chosen here so that a retry finds the same key.
pub(crate) async fn create_key(
    call: &Call<'_>,
    req: CreateKeyRequest,
) -> Result<v1::KeyMetadata, KmsError> {
    validate_create_key(&req)?;
    let (key_spec, key_usage) = key_spec_and_usage(&req)?;
    refuse_unsupported_create_key_options(&req)?;

    let key_id = keyshard_core::id::KeyId::generate().to_string();
    let request = v1::CreateKeyRequest {
        caller: call.caller(),
        key_id,
        description: req.description.unwrap_or_default(),
        key_spec: key_spec.as_str().to_owned(),
        key_usage: key_usage.as_str().to_owned(),
        origin: Origin::AwsKms.as_str().to_owned(),
        tags: tags_to_proto(req.tags),
        policy: req.policy,
        bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check.unwrap_or(false),
    };
    let route = route_key(&request.key_id).to_vec();
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.create_key(r).await
        })
        .await?;
    key_metadata(response)
}

fn validate_create_key(req: &CreateKeyRequest) -> Result<(), KmsError> {
    let mut v = Violations::new();
    check_policy(&mut v, req.policy.as_deref());
    v.length("description", req.description.as_deref(), 0, 8192);
    v.one_of("keyUsage", req.key_usage.as_deref(), KeyUsage::VALUES);
    v.one_of(
        "customerMasterKeySpec",
        req.customer_master_key_spec.as_deref(),
        CustomerMasterKeySpec::VALUES,
    );
    v.one_of("keySpec", req.key_spec.as_deref(), KeySpec::VALUES);
    v.one_of("origin", req.origin.as_deref(), Origin::VALUES);
    v.length(
        "customKeyStoreId",
        req.custom_key_store_id.as_deref(),
        1,
        64,
    );
    check_tags(&mut v, req.tags.as_deref());
    v.length("xksKeyId", req.xks_key_id.as_deref(), 1, 128);
    v.pattern(
        "xksKeyId",
        req.xks_key_id.as_deref(),
        "^[a-zA-Z0-9-_.]+$",
        |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
    );
    v.finish()
}

/// The key spec and usage a CreateKey asks for (AWS KMS API Reference, CreateKey: KeySpec,
/// CustomerMasterKeySpec, KeyUsage). Keyshard creates symmetric encryption keys only.
fn key_spec_and_usage(req: &CreateKeyRequest) -> Result<(KeySpec, KeyUsage), KmsError> {
    if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
        return Err(KmsError::Validation(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request.".to_owned(),
        ));
    }
    // Both members were checked against their enum sets, so parsing cannot fail here.
    let spec = req
        .key_spec
        .as_deref()
        .or(req.customer_master_key_spec.as_deref())
        .and_then(KeySpec::parse)
        .unwrap_or(KeySpec::SymmetricDefault);
    let usage = req.key_usage.as_deref().and_then(KeyUsage::parse);
    match (spec, usage) {
        (KeySpec::SymmetricDefault, None | Some(KeyUsage::EncryptDecrypt)) => {
            Ok((spec, KeyUsage::EncryptDecrypt))
        }
        (KeySpec::SymmetricDefault, Some(usage)) => Err(KmsError::Validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}"
        ))),
        (_, None) => Err(KmsError::Validation(
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
                .to_owned(),
        )),
        (_, Some(_)) => Err(KmsError::UnsupportedOperation(format!(
            "KeySpec {spec} is not supported by Keyshard: only SYMMETRIC_DEFAULT keys can be created."
        ))),
    }
}

fn refuse_unsupported_create_key_options(req: &CreateKeyRequest) -> Result<(), KmsError> {
    if let Some(store) = &req.custom_key_store_id {
        return Err(KmsError::CustomKeyStoreNotFound(format!(
            "Custom key store {store} does not exist."
        )));
    }
    if let Some(origin) = req
        .origin
        .as_deref()
        .filter(|o| *o != Origin::AwsKms.as_str())
    {
        return Err(KmsError::UnsupportedOperation(format!(
            "Origin {origin} is not supported by Keyshard: only AWS_KMS keys can be created."
        )));
    }
    if req.xks_key_id.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Keyshard has no external key stores.".to_owned(),
        ));
    }
    if req.multi_region == Some(true) {
        return Err(KmsError::UnsupportedOperation(
            "Keyshard does not support multi-Region keys.".to_owned(),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeKeyRequest {
    pub(crate) key_id: Option<String>,
    pub(crate) grant_tokens: Option<Vec<String>>,
}

pub(super) async fn describe_key_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    metadata_response(describe_key(call, decode(body)?).await?)
}

/// DescribeKey, validated and answered by the key's shard.
pub(crate) async fn describe_key(
    call: &Call<'_>,
    req: DescribeKeyRequest,
) -> Result<v1::KeyMetadata, KmsError> {
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    check_grant_tokens(&mut v, req.grant_tokens.as_deref());
    v.finish()?;
    let key_id = req.key_id.unwrap_or_default();

    let route = route_key(&key_id).to_vec();
    let request = v1::DescribeKeyRequest {
        caller: call.caller(),
        key_id,
        grant_tokens: req.grant_tokens.unwrap_or_default(),
    };
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.describe_key(r).await
        })
        .await?;
    key_metadata(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListKeysRequest {
    pub(crate) limit: Option<i64>,
    pub(crate) marker: Option<String>,
    pub(crate) resource_owners: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeysResponse {
    keys: Vec<KeyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyListEntry {
    key_id: String,
    key_arn: String,
}

pub(super) async fn list_keys_json(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let response = list_keys(call, decode(body)?).await?;
    encode(&ListKeysResponse {
        keys: response
            .keys
            .into_iter()
            .map(|k| KeyListEntry {
                key_id: k.key_id,
                key_arn: k.key_arn,
            })
            .collect(),
        next_marker: response.next_marker,
        truncated: response.truncated,
    })
}

/// ListKeys, validated and answered by the account's shard.
pub(crate) async fn list_keys(
    call: &Call<'_>,
    req: ListKeysRequest,
) -> Result<v1::ListKeysResponse, KmsError> {
    let mut v = Violations::new();
    v.range("limit", req.limit, 1, 1000);
    super::check_marker(&mut v, req.marker.as_deref());
    v.list_length("resourceOwners", req.resource_owners.as_deref(), 1, 2);
    for (i, owner) in req
        .resource_owners
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        v.one_of(
            &format!("resourceOwners.{}.member", i + 1),
            Some(owner),
            &["SELF", "OTHER_ACCOUNTS_VIA_RAM"],
        );
    }
    v.finish()?;

    let request = v1::ListKeysRequest {
        caller: call.caller(),
        limit: super::page_limit(req.limit, 100),
        marker: req.marker,
    };
    let route = call.scope.account.as_str().as_bytes().to_vec();
    call.shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.list_keys(r).await
        })
        .await
}

/// EnableKey and DisableKey: a key id or key ARN, nothing else, an empty answer.
pub(super) async fn set_enabled(
    call: &Call<'_>,
    body: &[u8],
    enabled: bool,
) -> Result<Vec<u8>, KmsError> {
    let (route, request) = super::key_request(call, body)?;

    let shards = &call.shards;
    if enabled {
        shards
            .call(&route, Retry::Idempotent, request, |mut c, r| async move {
                c.enable_key(r).await
            })
            .await?;
    } else {
        shards
            .call(&route, Retry::Idempotent, request, |mut c, r| async move {
                c.disable_key(r).await
            })
            .await?;
    }
    Ok(Vec::new())
}
