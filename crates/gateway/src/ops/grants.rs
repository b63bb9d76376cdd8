//! CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant.

use super::Call;
use std::collections::BTreeMap;

use keyshard_core::KmsError;
use keyshard_core::grants::{
    GrantId, GrantOperation, GrantToken, is_principal_char, is_service_principal, is_source_arn,
};
use keyshard_core::validate::{Violations, is_alias_char};
use keyshard_proto::v1;
use serde::{Deserialize, Serialize};

use super::{check_grant_tokens, check_key_id, check_marker, page_limit, route_key};
use crate::json::{decode, encode, epoch_seconds};
use crate::routing::Retry;

/// Page size bounds of ListGrants and ListRetirableGrants (AWS KMS API Reference: 1 to 100,
/// default 50), narrower than the model's shared `LimitType`.
const MAX_GRANT_PAGE: i64 = 100;
const DEFAULT_GRANT_PAGE: u32 = 50;

const PRINCIPAL_PATTERN: &str = "^[\\w+=,.@:/-]+$";
const SERVICE_PRINCIPAL_PATTERN: &str =
    "^([A-Za-z0-9\\-]+)\\.([A-Za-z0-9\\-]+)(\\.[A-Za-z0-9\\-]+)+$";
const SOURCE_ARN_PATTERN: &str = "^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$";
const GRANT_NAME_PATTERN: &str = "^[a-zA-Z0-9:/_-]+$";

/// `GrantConstraints`, in requests and in ListGrants entries.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GrantConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context_equals: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_arn: Option<String>,
}

impl From<GrantConstraints> for v1::GrantConstraints {
    fn from(constraints: GrantConstraints) -> Self {
        Self {
            encryption_context_equals: constraints
                .encryption_context_equals
                .unwrap_or_default()
                .into_iter()
                .collect(),
            encryption_context_subset: constraints
                .encryption_context_subset
                .unwrap_or_default()
                .into_iter()
                .collect(),
            source_arn: constraints.source_arn,
        }
    }
}

impl From<v1::GrantConstraints> for GrantConstraints {
    /// Empty maps are no constraint, and are left out.
    fn from(constraints: v1::GrantConstraints) -> Self {
        let map = |pairs: std::collections::HashMap<String, String>| {
            (!pairs.is_empty()).then(|| pairs.into_iter().collect())
        };
        Self {
            encryption_context_subset: map(constraints.encryption_context_subset),
            encryption_context_equals: map(constraints.encryption_context_equals),
            source_arn: constraints.source_arn,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantRequest {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    retiring_principal: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<GrantConstraints>,
    grant_tokens: Option<Vec<String>>,
    name: Option<String>,
    dry_run: Option<bool>,
    grantee_service_principal: Option<String>,
    retiring_service_principal: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantResponse {
    grant_token: String,
    grant_id: String,
}

pub(super) async fn create_grant(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: CreateGrantRequest = decode(body)?;
    check_create_grant(&req)?;

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::CreateGrantRequest {
        caller: call.caller(),
        key_id,
        grant_id: GrantId::generate().to_string(),
        grantee_principal: req.grantee_principal,
        grantee_service_principal: req.grantee_service_principal,
        retiring_principal: req.retiring_principal,
        retiring_service_principal: req.retiring_service_principal,
        operations: req.operations.unwrap_or_default(),
        constraints: req.constraints.map(v1::GrantConstraints::from),
        name: req.name,
        dry_run: req.dry_run.unwrap_or(false),
        grant_tokens: req.grant_tokens.unwrap_or_default(),
    };
    // Safe to repeat on another shard: the grant id is fixed before routing, and a repeat finds
    // the grant the first attempt added.
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.create_grant(r).await
        })
        .await?;
    encode(&CreateGrantResponse {
        grant_token: response.grant_token,
        grant_id: response.grant_id,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsRequest {
    limit: Option<i64>,
    marker: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
    grantee_service_principal: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsResponse {
    grants: Vec<GrantListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GrantListEntry {
    key_id: String,
    grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    creation_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    grantee_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<GrantConstraints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grantee_service_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retiring_service_principal: Option<String>,
}

pub(super) async fn list_grants(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: ListGrantsRequest = decode(body)?;
    let mut v = Violations::new();
    v.range("limit", req.limit, 1, 1000);
    check_marker(&mut v, req.marker.as_deref());
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.length("grantId", req.grant_id.as_deref(), 1, 128);
    check_principal(&mut v, "granteePrincipal", req.grantee_principal.as_deref());
    check_service_principal(
        &mut v,
        "granteeServicePrincipal",
        req.grantee_service_principal.as_deref(),
    );
    v.finish()?;
    check_page_limit(req.limit)?;

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::ListGrantsRequest {
        caller: call.caller(),
        key_id,
        limit: page_limit(req.limit, DEFAULT_GRANT_PAGE),
        marker: req.marker,
        grant_id: req.grant_id,
        grantee_principal: req.grantee_principal,
        grantee_service_principal: req.grantee_service_principal,
    };
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.list_grants(r).await
        })
        .await?;
    encode_grants(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRetirableGrantsRequest {
    limit: Option<i64>,
    marker: Option<String>,
    retiring_principal: Option<String>,
    retiring_service_principal: Option<String>,
}

pub(super) async fn list_retirable_grants(
    call: &Call<'_>,
    body: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let req: ListRetirableGrantsRequest = decode(body)?;
    let mut v = Violations::new();
    v.range("limit", req.limit, 1, 1000);
    check_marker(&mut v, req.marker.as_deref());
    check_principal(
        &mut v,
        "retiringPrincipal",
        req.retiring_principal.as_deref(),
    );
    check_service_principal(
        &mut v,
        "retiringServicePrincipal",
        req.retiring_service_principal.as_deref(),
    );
    v.finish()?;
    check_page_limit(req.limit)?;

    // Grants of every key of the account: any shard can list them.
    let route = call.scope.account.as_str().as_bytes().to_vec();
    let request = v1::ListRetirableGrantsRequest {
        caller: call.caller(),
        retiring_principal: req.retiring_principal,
        retiring_service_principal: req.retiring_service_principal,
        limit: page_limit(req.limit, DEFAULT_GRANT_PAGE),
        marker: req.marker,
    };
    let response = call
        .shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.list_retirable_grants(r).await
        })
        .await?;
    encode_grants(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetireGrantRequest {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

pub(super) async fn retire_grant(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: RetireGrantRequest = decode(body)?;
    let mut v = Violations::new();
    v.length("grantToken", req.grant_token.as_deref(), 1, 8192);
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.length("grantId", req.grant_id.as_deref(), 1, 128);
    v.finish()?;

    // The key a token names, else the KeyId; a request with neither is refused by the shard.
    let token_key = req
        .grant_token
        .as_deref()
        .and_then(|token| GrantToken::parse(token).ok())
        .map(|token| token.key_id.to_string());
    let route = match (token_key, req.key_id.as_deref()) {
        (Some(key_id), _) => route_key(&key_id).to_vec(),
        (None, Some(key_id)) => route_key(key_id).to_vec(),
        (None, None) => call.scope.account.as_str().as_bytes().to_vec(),
    };
    let request = v1::RetireGrantRequest {
        caller: call.caller(),
        grant_token: req.grant_token,
        key_id: req.key_id,
        grant_id: req.grant_id,
        dry_run: req.dry_run.unwrap_or(false),
    };
    // A repeat after an unseen success would answer that the grant does not exist.
    call.shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.retire_grant(r).await
        })
        .await?;
    Ok(Vec::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RevokeGrantRequest {
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

pub(super) async fn revoke_grant(call: &Call<'_>, body: &[u8]) -> Result<Vec<u8>, KmsError> {
    let req: RevokeGrantRequest = decode(body)?;
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    v.required("grantId", req.grant_id.as_ref());
    v.length("grantId", req.grant_id.as_deref(), 1, 128);
    v.finish()?;

    let key_id = req.key_id.unwrap_or_default();
    let route = route_key(&key_id).to_vec();
    let request = v1::RevokeGrantRequest {
        caller: call.caller(),
        key_id,
        grant_id: req.grant_id.unwrap_or_default(),
        dry_run: req.dry_run.unwrap_or(false),
    };
    // Like RetireGrant, a repeat would answer that the grant does not exist.
    call.shards
        .call(&route, Retry::Once, request, |mut c, r| async move {
            c.revoke_grant(r).await
        })
        .await?;
    Ok(Vec::new())
}

/// CreateGrant's members against the model.
fn check_create_grant(req: &CreateGrantRequest) -> Result<(), KmsError> {
    let mut v = Violations::new();
    v.required("keyId", req.key_id.as_ref());
    check_key_id(&mut v, "keyId", req.key_id.as_deref());
    check_principal(&mut v, "granteePrincipal", req.grantee_principal.as_deref());
    check_principal(
        &mut v,
        "retiringPrincipal",
        req.retiring_principal.as_deref(),
    );
    v.required("operations", req.operations.as_ref());
    for (i, op) in req
        .operations
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        v.one_of(
            &format!("operations.{}.member", i + 1),
            Some(op),
            GrantOperation::VALUES,
        );
    }
    let source_arn = req
        .constraints
        .as_ref()
        .and_then(|c| c.source_arn.as_deref());
    v.length("constraints.sourceArn", source_arn, 20, 512);
    let well_formed = source_arn.is_none_or(is_source_arn);
    v.pattern(
        "constraints.sourceArn",
        source_arn,
        SOURCE_ARN_PATTERN,
        |_| well_formed,
    );
    check_grant_tokens(&mut v, req.grant_tokens.as_deref());
    v.length("name", req.name.as_deref(), 1, 256);
    v.pattern(
        "name",
        req.name.as_deref(),
        GRANT_NAME_PATTERN,
        is_alias_char,
    );
    check_service_principal(
        &mut v,
        "granteeServicePrincipal",
        req.grantee_service_principal.as_deref(),
    );
    check_service_principal(
        &mut v,
        "retiringServicePrincipal",
        req.retiring_service_principal.as_deref(),
    );
    v.finish()
}

/// `PrincipalIdType`: 1 to 256 characters of `[\w+=,.@:/-]`.
fn check_principal(v: &mut Violations, path: &str, principal: Option<&str>) {
    v.length(path, principal, 1, 256);
    v.pattern(path, principal, PRINCIPAL_PATTERN, is_principal_char);
}

/// `ServicePrincipalType`: 1 to 128 characters, three or more dot-separated labels.
fn check_service_principal(v: &mut Violations, path: &str, principal: Option<&str>) {
    v.length(path, principal, 1, 128);
    let well_formed = principal.is_none_or(is_service_principal);
    v.pattern(path, principal, SERVICE_PRINCIPAL_PATTERN, |_| well_formed);
}

/// The documented page size, checked after the model's wider `LimitType`.
fn check_page_limit(limit: Option<i64>) -> Result<(), KmsError> {
    let mut v = Violations::new();
    v.range("limit", limit, 1, MAX_GRANT_PAGE);
    v.finish()
}

fn encode_grants(response: v1::ListGrantsResponse) -> Result<Vec<u8>, KmsError> {
    encode(&ListGrantsResponse {
        grants: response
            .grants
            .into_iter()
            .map(|g| GrantListEntry {
                key_id: g.key_id,
                grant_id: g.grant_id,
                name: g.name,
                creation_date: epoch_seconds(g.creation_date_millis),
                grantee_principal: g.grantee_principal,
                retiring_principal: g.retiring_principal,
                issuing_account: g.issuing_account,
                operations: g.operations,
                constraints: g.constraints.map(GrantConstraints::from),
                grantee_service_principal: g.grantee_service_principal,
                retiring_service_principal: g.retiring_service_principal,
            })
            .collect(),
        next_marker: response.next_marker,
        truncated: response.truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create_grant_violations(body: &str) -> Result<(), KmsError> {
        check_create_grant(&decode(body.as_bytes())?)
    }

    #[test]
    fn principals_operations_and_source_arns_are_checked_against_the_model() {
        let body = r#"{"KeyId": "k", "GranteePrincipal": "a b", "Operations": ["Encrypt", "Launch"],
            "Constraints": {"SourceArn": "arn:aws:s3:::bucket-name-here"},
            "GranteeServicePrincipal": "amazonaws.com"}"#;
        assert_eq!(
            create_grant_violations(body),
            Err(KmsError::Validation(
                "4 validation errors detected: Value 'a b' at 'granteePrincipal' failed to \
                 satisfy constraint: Member must satisfy regular expression pattern: \
                 ^[\\w+=,.@:/-]+$; Value 'Launch' at 'operations.2.member' failed to satisfy \
                 constraint: Member must satisfy enum value set: [Decrypt, Encrypt, \
                 GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, \
                 Sign, Verify, GetPublicKey, CreateGrant, RetireGrant, DescribeKey, \
                 GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, \
                 VerifyMac, DeriveSharedSecret, Encapsulate, Decapsulate]; Value \
                 'arn:aws:s3:::bucket-name-here' at 'constraints.sourceArn' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: \
                 ^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$; Value 'amazonaws.com' \
                 at 'granteeServicePrincipal' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: \
                 ^([A-Za-z0-9\\-]+)\\.([A-Za-z0-9\\-]+)(\\.[A-Za-z0-9\\-]+)+$"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn list_entries_leave_out_absent_members_and_empty_constraints() {
        let response = v1::ListGrantsResponse {
            grants: vec![v1::GrantListEntry {
                key_id: "arn".to_owned(),
                grant_id: "id".to_owned(),
                name: None,
                creation_date_millis: 1_700_000_000_500,
                grantee_principal: Some("role".to_owned()),
                grantee_service_principal: None,
                retiring_principal: None,
                retiring_service_principal: None,
                issuing_account: "arn:aws:iam::111122223333:root".to_owned(),
                operations: vec!["Decrypt".to_owned()],
                constraints: Some(v1::GrantConstraints {
                    encryption_context_equals: [("a".to_owned(), "b".to_owned())].into(),
                    encryption_context_subset: Default::default(),
                    source_arn: None,
                }),
            }],
            next_marker: None,
            truncated: false,
        };
        let body: serde_json::Value =
            serde_json::from_slice(&encode_grants(response).unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "Grants": [{
                    "KeyId": "arn",
                    "GrantId": "id",
                    "CreationDate": 1_700_000_000.5,
                    "GranteePrincipal": "role",
                    "IssuingAccount": "arn:aws:iam::111122223333:root",
                    "Operations": ["Decrypt"],
                    "Constraints": {"EncryptionContextEquals": {"a": "b"}}
                }],
                "Truncated": false
            })
        );
    }
}
