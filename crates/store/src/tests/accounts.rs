//! Conformance: accounts, their quota overrides and their access keys.

use super::*;
use crate::{AccessKeyRecord, AccountQuota};

fn access_key(id: &str, account: &AccountId) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: id.to_owned(),
        account: account.clone(),
        principal: format!("arn:aws:iam::{account}:user/alice"),
        root_key_id: "root-2024".to_owned(),
        wrapped_secret: vec![0x00, 0x9f, 0xff, 0x10],
        session_token_hash: Some("ab".repeat(32)),
        expires_at: Some(CREATED_AT + 3_600_000),
        created_at: CREATED_AT + 5,
    }
}

pub(super) async fn an_account_is_created_once_and_reads_back_with_its_quotas(store: &dyn Store) {
    let account = account(ACCOUNT);
    assert_eq!(store.account(&account).await.unwrap(), None);
    assert!(store.create_account(&account, CREATED_AT).await.unwrap());
    assert!(
        !store
            .create_account(&account, CREATED_AT + 9)
            .await
            .unwrap()
    );

    assert!(
        store
            .set_account_quota(&account, "symmetric", Some(50))
            .await
            .unwrap()
    );
    assert!(
        store
            .set_account_quota(&account, "CreateKey", Some(2))
            .await
            .unwrap()
    );
    assert!(
        store
            .set_account_quota(&account, "symmetric", Some(70))
            .await
            .unwrap()
    );
    let record = store.account(&account).await.unwrap().unwrap();
    assert_eq!(record.account, account);
    assert_eq!(record.created_at, CREATED_AT);
    assert_eq!(
        record.quotas,
        [
            AccountQuota {
                class: "CreateKey".to_owned(),
                requests_per_second: 2
            },
            AccountQuota {
                class: "symmetric".to_owned(),
                requests_per_second: 70
            },
        ]
    );

    assert!(
        store
            .set_account_quota(&account, "CreateKey", None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_account_quota(&account, "CreateKey", None)
            .await
            .unwrap()
    );
    assert_eq!(
        store.account(&account).await.unwrap().unwrap().quotas.len(),
        1
    );

    let other = super::account(OTHER_ACCOUNT);
    assert!(matches!(
        store.set_account_quota(&other, "symmetric", Some(1)).await,
        Err(StoreError::NotFound)
    ));
    store.create_account(&other, CREATED_AT).await.unwrap();
    assert_eq!(store.account_ids().await.unwrap(), [account, other]);
}

pub(super) async fn an_access_key_reads_back_with_every_field_and_belongs_to_one_account(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let key = access_key("AKIAEXAMPLE0000000001", &account);
    assert!(matches!(
        store.create_access_key(&key).await,
        Err(StoreError::NotFound)
    ));
    store.create_account(&account, CREATED_AT).await.unwrap();
    store.create_access_key(&key).await.unwrap();
    assert!(matches!(
        store.create_access_key(&key).await,
        Err(StoreError::AlreadyExists)
    ));

    let plain = AccessKeyRecord {
        access_key_id: "AKIAEXAMPLE0000000000".to_owned(),
        session_token_hash: None,
        expires_at: None,
        ..key.clone()
    };
    store.create_access_key(&plain).await.unwrap();

    assert_eq!(
        store.access_key(&key.access_key_id).await.unwrap().as_ref(),
        Some(&key)
    );
    assert_eq!(
        store.access_key("AKIANOSUCHKEY0000000").await.unwrap(),
        None
    );
    assert_eq!(
        store.access_keys(&account).await.unwrap(),
        [plain.clone(), key.clone()]
    );

    let other = super::account(OTHER_ACCOUNT);
    store.create_account(&other, CREATED_AT).await.unwrap();
    assert_eq!(store.access_keys(&other).await.unwrap(), []);
    assert!(
        !store
            .delete_access_key(&other, &key.access_key_id)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_access_key(&account, &key.access_key_id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_access_key(&account, &key.access_key_id)
            .await
            .unwrap()
    );
    assert_eq!(store.access_keys(&account).await.unwrap(), [plain]);
}

pub(super) async fn access_key_secrets_are_rewrapped_once_and_walked_in_id_order(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    store.create_account(&account, CREATED_AT).await.unwrap();
    for n in 1..=3 {
        let key = access_key(&format!("AKIAEXAMPLE000000000{n}"), &account);
        store.create_access_key(&key).await.unwrap();
    }

    let first = store
        .access_keys_not_wrapped_under("root-2025", None, 2)
        .await
        .unwrap();
    let ids: Vec<_> = first.iter().map(|k| k.access_key_id.as_str()).collect();
    assert_eq!(ids, ["AKIAEXAMPLE0000000001", "AKIAEXAMPLE0000000002"]);
    let rest = store
        .access_keys_not_wrapped_under("root-2025", Some("AKIAEXAMPLE0000000002"), 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].access_key_id, "AKIAEXAMPLE0000000003");

    let id = "AKIAEXAMPLE0000000002";
    assert!(
        store
            .rewrap_access_key(id, "root-2024", "root-2025", &[7; 5])
            .await
            .unwrap()
    );
    assert!(
        !store
            .rewrap_access_key(id, "root-2024", "root-2025", &[8; 5])
            .await
            .unwrap()
    );
    let stored = store.access_key(id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.root_key_id.as_str(),
            stored.wrapped_secret.as_slice()
        ),
        ("root-2025", [7u8; 5].as_slice())
    );
    let left = store
        .access_keys_not_wrapped_under("root-2025", None, 10)
        .await
        .unwrap();
    let ids: Vec<_> = left.iter().map(|k| k.access_key_id.as_str()).collect();
    assert_eq!(ids, ["AKIAEXAMPLE0000000001", "AKIAEXAMPLE0000000003"]);
}

pub(super) async fn a_key_id_names_its_owner_account(store: &dyn Store) {
    let (first, other) = (account(ACCOUNT), account(OTHER_ACCOUNT));
    create_key(store, &first, key_id(0x11)).await;
    create_key(store, &other, key_id(0x22)).await;
    assert_eq!(store.key_owner(key_id(0x11)).await.unwrap(), Some(first));
    assert_eq!(store.key_owner(key_id(0x22)).await.unwrap(), Some(other));
    assert_eq!(store.key_owner(key_id(0x33)).await.unwrap(), None);
}
