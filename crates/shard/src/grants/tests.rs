//! Grants on a shard over an embedded store: what the gateway cannot show from outside, such
//! as a retried CreateGrant, and requests only a faulty gateway would send.

use std::sync::Arc;

use keyshard_core::authz::{Caller, Requester};
use keyshard_core::spec::KeyState;
use keyshard_crypto::{RootKey, RootKeyRing, SecretBytes};
use keyshard_proto::v1::shard_server::Shard as _;
use keyshard_store::{SqliteStore, Store};
use tempfile::TempDir;

use super::*;
use crate::CacheConfig;
use crate::keys::NewKey;
use crate::service::ShardService;

const ROLE: &str = "arn:aws:iam::111122223333:role/app";

async fn shard() -> (Arc<Shard>, Arc<SqliteStore>, Requester, TempDir) {
    let dir = tempfile::tempdir().expect("the temp directory is writable");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("keyshard.db"))
            .await
            .expect("the store opens"),
    );
    let root_key =
        RootKey::new(SecretBytes::random(32).expect("randomness")).expect("a 32-byte root key");
    let shard = Shard::new(
        Arc::clone(&store) as Arc<dyn Store>,
        RootKeyRing::new(root_key, Vec::new()),
        CacheConfig::default(),
    );
    let scope = Requester {
        scope: Scope {
            account: "111122223333".parse().expect("12 digits"),
            region: "us-east-1".parse().expect("a region"),
        },
        caller: Caller::account_root("111122223333".parse().expect("12 digits")),
    };
    (Arc::new(shard), store, scope, dir)
}

async fn create_key(shard: &Shard, scope: &Requester) -> KeyId {
    let key_id = KeyId::generate();
    let request = v1::CreateKeyRequest {
        caller: Some(v1::Caller::from(scope)),
        key_id: key_id.to_string(),
        description: String::new(),
        key_spec: "SYMMETRIC_DEFAULT".to_owned(),
        key_usage: "ENCRYPT_DECRYPT".to_owned(),
        origin: "AWS_KMS".to_owned(),
        tags: Vec::new(),
        policy: None,
        bypass_policy_lockout_safety_check: false,
    };
    let new = NewKey::try_from(request).expect("a well-formed CreateKey");
    shard.create_key(scope, new).await.expect("CreateKey");
    key_id
}

fn create_request(scope: &Requester, key_id: KeyId, grant_id: GrantId) -> v1::CreateGrantRequest {
    v1::CreateGrantRequest {
        caller: Some(v1::Caller::from(scope)),
        key_id: key_id.to_string(),
        grant_id: grant_id.to_string(),
        grantee_principal: Some(ROLE.to_owned()),
        grantee_service_principal: None,
        retiring_principal: None,
        retiring_service_principal: None,
        operations: vec!["Decrypt".to_owned()],
        constraints: None,
        name: None,
        dry_run: false,
        grant_tokens: Vec::new(),
    }
}

async fn create_grant(
    shard: &Shard,
    request: v1::CreateGrantRequest,
) -> Result<v1::CreateGrantResponse, KmsError> {
    let scope = caller_scope(&request);
    let new = NewGrant::try_from(request).expect("a well-formed CreateGrant");
    shard.create_grant(&scope, new).await
}

fn caller_scope(request: &v1::CreateGrantRequest) -> Requester {
    keyshard_proto::caller_scope(request.caller.as_ref()).expect("a caller")
}

async fn grant_ids(shard: &Shard, scope: &Requester, key_id: KeyId) -> Vec<String> {
    let request = v1::ListGrantsRequest {
        caller: Some(v1::Caller::from(scope)),
        key_id: key_id.to_string(),
        limit: 100,
        marker: None,
        grant_id: None,
        grantee_principal: None,
        grantee_service_principal: None,
    };
    let listed = shard.list_grants(scope, request).await.expect("ListGrants");
    listed.grants.into_iter().map(|g| g.grant_id).collect()
}

#[tokio::test]
async fn a_retried_create_grant_returns_its_grant_with_a_new_token() {
    let (shard, _store, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    let grant_id = GrantId::generate();

    let first = create_grant(&shard, create_request(&scope, key_id, grant_id))
        .await
        .unwrap();
    let retried = create_grant(&shard, create_request(&scope, key_id, grant_id))
        .await
        .unwrap();

    assert_eq!(first.grant_id, grant_id.to_string());
    assert_eq!(retried.grant_id, grant_id.to_string());
    assert_ne!(first.grant_token, retried.grant_token);
    for token in [&first.grant_token, &retried.grant_token] {
        assert_eq!(
            GrantToken::parse(token),
            Ok(GrantToken { key_id, grant_id })
        );
    }
    assert_eq!(
        grant_ids(&shard, &scope, key_id).await,
        [grant_id.to_string()]
    );
}

#[tokio::test]
async fn a_key_disabled_behind_the_cache_refuses_new_grants() {
    let (shard, store, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    // Cached as enabled by this request.
    create_grant(&shard, create_request(&scope, key_id, GrantId::generate()))
        .await
        .unwrap();

    // Disabled without telling this shard, as another shard would.
    store
        .set_key_state(&scope.account, key_id, KeyState::Disabled, None)
        .await
        .unwrap();
    let refused = create_grant(&shard, create_request(&scope, key_id, GrantId::generate())).await;
    assert_eq!(refused, Err(KmsError::disabled(scope.key_arn(key_id))));
    assert_eq!(grant_ids(&shard, &scope, key_id).await.len(), 1);
}

#[tokio::test]
async fn a_token_for_another_key_does_not_retire_the_grant() {
    let (shard, _store, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    let other_key = create_key(&shard, &scope).await;
    let grant_id = GrantId::generate();
    create_grant(&shard, create_request(&scope, key_id, grant_id))
        .await
        .unwrap();

    let forged = GrantToken {
        key_id: other_key,
        grant_id,
    }
    .issue();
    let request = v1::RetireGrantRequest {
        caller: Some(v1::Caller::from(&scope)),
        grant_token: Some(forged),
        key_id: None,
        grant_id: None,
        dry_run: false,
    };
    assert_eq!(
        shard.retire_grant(&scope, request).await,
        Err(grant_not_found(grant_id))
    );
    assert_eq!(
        grant_ids(&shard, &scope, key_id).await,
        [grant_id.to_string()]
    );
}

#[tokio::test]
async fn the_service_refuses_what_only_a_faulty_gateway_sends() {
    let (shard, _store, scope, _dir) = shard().await;
    let key_id = create_key(&shard, &scope).await;
    let service = ShardService::new(Arc::clone(&shard));

    let mut bad_id = create_request(&scope, key_id, GrantId::generate());
    bad_id.grant_id = "not-a-grant-id".to_owned();
    let mut bad_operation = create_request(&scope, key_id, GrantId::generate());
    bad_operation.operations = vec!["Launch".to_owned()];
    for request in [bad_id, bad_operation] {
        let status = service
            .create_grant(tonic::Request::new(request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
    assert_eq!(
        grant_ids(&shard, &scope, key_id).await,
        Vec::<String>::new()
    );
}
