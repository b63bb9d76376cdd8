//! Conformance: grants, created once per request, listed by key and by retiring principal,
//! deleted, and gone with their key.

use std::collections::BTreeMap;

use keyshard_core::grants::{
    GrantConstraints, GrantId, GrantOperation, GrantParameters, Principal,
};

use super::*;
use crate::{GrantCreation, GrantFilter, GrantRecord};

/// The state of every fixture key (see [`key_record`]).
const STATE: KeyState = KeyState::PendingDeletion;

const ROLE: &str = "arn:aws:iam::111122223333:role/app";
const RETIRER: &str = "arn:aws:iam::111122223333:role/retirer";

/// A grant id whose text is the hex of `byte` repeated, so tests know the order of ids.
fn grant_id(byte: u8) -> GrantId {
    GrantId::from_bytes([byte; 32])
}

/// A grant with every optional part set, so that a swapped or dropped column shows.
fn grant(account: &AccountId, key: u8, id: u8) -> GrantRecord {
    let pairs: BTreeMap<String, String> = [("Dept", "IT"), ("stage", "prod")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    GrantRecord {
        account: account.clone(),
        key_id: key_id(key),
        grant_id: grant_id(id),
        name: Some("nightly-batch".to_owned()),
        created_at: CREATED_AT + 5,
        parameters: GrantParameters {
            grantee: Principal::Aws(ROLE.to_owned()),
            retiring: Some(Principal::Aws(RETIRER.to_owned())),
            operations: vec![GrantOperation::Decrypt, GrantOperation::Encrypt],
            constraints: Some(GrantConstraints {
                encryption_context_subset: Some(pairs),
                ..GrantConstraints::default()
            }),
        },
    }
}

/// A grant with no name, constraints or retiring principal, for a grantee of its own.
fn bare_grant(account: &AccountId, key: u8, id: u8, grantee: Principal) -> GrantRecord {
    GrantRecord {
        account: account.clone(),
        key_id: key_id(key),
        grant_id: grant_id(id),
        name: None,
        created_at: CREATED_AT + 6,
        parameters: GrantParameters {
            grantee,
            retiring: None,
            operations: vec![GrantOperation::DescribeKey],
            constraints: None,
        },
    }
}

async fn create(store: &dyn Store, grant: &GrantRecord) -> GrantCreation {
    store.create_grant(grant, STATE, 100).await.unwrap()
}

async fn all_grants(store: &dyn Store, account: &AccountId, key: u8) -> Vec<GrantRecord> {
    store
        .list_grants(account, key_id(key), &GrantFilter::default(), None, 1000)
        .await
        .unwrap()
}

/// The ids of a key's grants that pass `filter`, after the grant `after`.
async fn listed(
    store: &dyn Store,
    account: &AccountId,
    key: u8,
    filter: GrantFilter<'_>,
    after: Option<u8>,
    limit: u32,
) -> Vec<GrantId> {
    let grants = store
        .list_grants(account, key_id(key), &filter, after.map(grant_id), limit)
        .await
        .unwrap();
    ids(&grants)
}

fn ids(grants: &[GrantRecord]) -> Vec<GrantId> {
    grants.iter().map(|g| g.grant_id).collect()
}

pub(super) async fn a_created_grant_reads_back_with_every_field(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let service = GrantRecord {
        parameters: GrantParameters {
            grantee: Principal::Service("s3.amazonaws.com".to_owned()),
            retiring: Some(Principal::Service("logs.amazonaws.com".to_owned())),
            operations: vec![GrantOperation::GenerateDataKey],
            constraints: Some(GrantConstraints {
                source_arn: Some("arn:aws:sqs:us-east-1:111122223333:queue".to_owned()),
                ..GrantConstraints::default()
            }),
        },
        name: None,
        ..grant(&account, 0x42, 0x02)
    };

    for record in [grant(&account, 0x42, 0x01), service.clone()] {
        assert_eq!(create(store, &record).await, GrantCreation::Created);
        assert_eq!(
            store.grant(&account, record.grant_id).await.unwrap(),
            Some(record)
        );
    }
    assert_eq!(
        all_grants(store, &account, 0x42).await,
        [grant(&account, 0x42, 0x01), service]
    );
    assert_eq!(store.grant(&account, grant_id(0x03)).await.unwrap(), None);
}

pub(super) async fn a_grant_on_a_key_in_another_state_or_no_key_is_a_conflict(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;

    let other_state = store
        .create_grant(&grant(&account, 0x42, 0x01), KeyState::Enabled, 100)
        .await
        .unwrap();
    assert_eq!(other_state, GrantCreation::Conflict);
    assert_eq!(
        create(store, &grant(&account, 0x43, 0x02)).await,
        GrantCreation::Conflict
    );
    assert_eq!(all_grants(store, &account, 0x42).await, []);
    assert_eq!(store.grant(&account, grant_id(0x02)).await.unwrap(), None);
}

pub(super) async fn a_repeated_request_returns_the_stored_grant(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let first = grant(&account, 0x42, 0x10);
    assert_eq!(create(store, &first).await, GrantCreation::Created);

    // The same request again (a retry with its id), and again with another id.
    assert_eq!(
        create(store, &first).await,
        GrantCreation::Existing(Box::new(first.clone()))
    );
    let renamed_id = GrantRecord {
        grant_id: grant_id(0x11),
        created_at: CREATED_AT + 99,
        ..first.clone()
    };
    assert_eq!(
        create(store, &renamed_id).await,
        GrantCreation::Existing(Box::new(first.clone()))
    );

    // Other parameters, or no name, make a grant of their own.
    let mut other_operations = grant(&account, 0x42, 0x12);
    other_operations.parameters.operations = vec![GrantOperation::Decrypt];
    let unnamed = GrantRecord {
        name: None,
        ..grant(&account, 0x42, 0x13)
    };
    for record in [&other_operations, &unnamed] {
        assert_eq!(create(store, record).await, GrantCreation::Created);
    }
    assert_eq!(
        ids(&all_grants(store, &account, 0x42).await),
        [grant_id(0x10), grant_id(0x12), grant_id(0x13)]
    );
}

pub(super) async fn a_grant_id_another_grant_has_is_already_exists(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    assert_eq!(
        create(store, &grant(&account, 0x42, 0x01)).await,
        GrantCreation::Created
    );

    let collision = grant(&account, 0x43, 0x01);
    let result = store.create_grant(&collision, STATE, 100).await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "got {result:?}"
    );
    assert_eq!(all_grants(store, &account, 0x43).await, []);
}

pub(super) async fn grants_beyond_the_per_key_limit_are_limit_exceeded(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let role = || Principal::Aws(ROLE.to_owned());
    for id in [0x01, 0x02] {
        let record = bare_grant(&account, 0x42, id, role());
        assert_eq!(
            store.create_grant(&record, STATE, 2).await.unwrap(),
            GrantCreation::Created
        );
    }

    let third = store
        .create_grant(&bare_grant(&account, 0x42, 0x03, role()), STATE, 2)
        .await;
    assert!(
        matches!(third, Err(StoreError::LimitExceeded)),
        "got {third:?}"
    );
    assert_eq!(
        ids(&all_grants(store, &account, 0x42).await),
        [grant_id(0x01), grant_id(0x02)]
    );
}

pub(super) async fn racing_grant_creations_stop_at_the_per_key_limit(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let records: [GrantRecord; 4] = std::array::from_fn(|i| {
        let id = u8::try_from(i).expect("four grants") + 1;
        bare_grant(&account, 0x42, id, Principal::Aws(ROLE.to_owned()))
    });

    let results = tokio::join!(
        store.create_grant(&records[0], STATE, 2),
        store.create_grant(&records[1], STATE, 2),
        store.create_grant(&records[2], STATE, 2),
        store.create_grant(&records[3], STATE, 2),
    );
    let (mut created, mut refused) = (0, 0);
    for result in [results.0, results.1, results.2, results.3] {
        match result {
            Ok(GrantCreation::Created) => created += 1,
            Err(StoreError::LimitExceeded) => refused += 1,
            other => panic!("unexpected result: {other:?}"),
        }
    }
    assert_eq!((created, refused), (2, 2));
    assert_eq!(all_grants(store, &account, 0x42).await.len(), 2);
}

pub(super) async fn racing_requests_with_one_name_add_one_grant(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let records: [GrantRecord; 3] =
        std::array::from_fn(|i| grant(&account, 0x42, u8::try_from(i).expect("three") + 1));

    let results = tokio::join!(
        store.create_grant(&records[0], STATE, 100),
        store.create_grant(&records[1], STATE, 100),
        store.create_grant(&records[2], STATE, 100),
    );
    let stored = all_grants(store, &account, 0x42).await;
    assert_eq!(stored.len(), 1);
    let mut created = 0;
    for result in [results.0, results.1, results.2] {
        match result.unwrap() {
            GrantCreation::Created => created += 1,
            GrantCreation::Existing(existing) => assert_eq!(*existing, stored[0]),
            GrantCreation::Conflict => panic!("no key changed"),
        }
    }
    assert_eq!(created, 1);
}

pub(super) async fn listing_grants_filters_by_id_and_grantee_and_pages_in_id_order(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    let role = Principal::Aws(ROLE.to_owned());
    let service = Principal::Service("s3.amazonaws.com".to_owned());
    for (key, id, grantee) in [
        (0x42, 0x05, &role),
        (0x42, 0x01, &service),
        (0x42, 0x03, &role),
        (0x43, 0x02, &role),
    ] {
        create(store, &bare_grant(&account, key, id, grantee.clone())).await;
    }
    let list = |filter, after, limit| listed(store, &account, 0x42, filter, after, limit);
    let (role, service) = (&role, &service);

    let all = GrantFilter::default();
    assert_eq!(
        list(all, None, 10).await,
        [grant_id(0x01), grant_id(0x03), grant_id(0x05)]
    );
    assert_eq!(list(all, None, 2).await, [grant_id(0x01), grant_id(0x03)]);
    assert_eq!(list(all, Some(0x03), 2).await, [grant_id(0x05)]);
    let by_role = GrantFilter {
        grantee: Some(role),
        ..GrantFilter::default()
    };
    assert_eq!(
        list(by_role, None, 10).await,
        [grant_id(0x03), grant_id(0x05)]
    );
    let by_service = GrantFilter {
        grantee: Some(service),
        ..GrantFilter::default()
    };
    assert_eq!(list(by_service, None, 10).await, [grant_id(0x01)]);
    let by_id = |id| GrantFilter {
        grant_id: Some(grant_id(id)),
        ..GrantFilter::default()
    };
    assert_eq!(list(by_id(0x03), None, 10).await, [grant_id(0x03)]);
    // A grant of another key is not among this key's.
    assert_eq!(list(by_id(0x02), None, 10).await, []);
    let by_id_and_grantee = GrantFilter {
        grant_id: Some(grant_id(0x03)),
        grantee: Some(service),
    };
    assert_eq!(list(by_id_and_grantee, None, 10).await, []);
}

pub(super) async fn retirable_grants_are_listed_across_the_keys_of_the_account(store: &dyn Store) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    for (owner, key) in [(&account, 0x42), (&account, 0x43), (&other, 0x44)] {
        create_key(store, owner, key_id(key)).await;
    }
    let retired_by = |record: GrantRecord, retiring: Principal| GrantRecord {
        parameters: GrantParameters {
            retiring: Some(retiring),
            ..record.parameters
        },
        ..record
    };
    let retirer = || Principal::Aws(RETIRER.to_owned());
    let service = || Principal::Service("logs.amazonaws.com".to_owned());
    let role = || Principal::Aws(ROLE.to_owned());
    for record in [
        retired_by(bare_grant(&account, 0x43, 0x04, role()), retirer()),
        retired_by(bare_grant(&account, 0x42, 0x02, role()), retirer()),
        retired_by(bare_grant(&account, 0x42, 0x03, role()), service()),
        bare_grant(&account, 0x42, 0x05, role()),
        retired_by(bare_grant(&other, 0x44, 0x01, role()), retirer()),
    ] {
        create(store, &record).await;
    }

    let list = |retiring: Principal, after: Option<u8>, limit| {
        let account = account.clone();
        async move {
            let grants = store
                .list_retirable_grants(&account, &retiring, after.map(grant_id), limit)
                .await
                .unwrap();
            grants
                .iter()
                .map(|g| (g.key_id, g.grant_id))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(retirer(), None, 10).await,
        [
            (key_id(0x42), grant_id(0x02)),
            (key_id(0x43), grant_id(0x04))
        ]
    );
    assert_eq!(
        list(retirer(), None, 1).await,
        [(key_id(0x42), grant_id(0x02))]
    );
    assert_eq!(
        list(retirer(), Some(0x02), 1).await,
        [(key_id(0x43), grant_id(0x04))]
    );
    assert_eq!(
        list(service(), None, 10).await,
        [(key_id(0x42), grant_id(0x03))]
    );
    assert_eq!(list(role(), None, 10).await, []);
}

pub(super) async fn deleting_a_grant_returns_true_then_false(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    create(store, &grant(&account, 0x42, 0x01)).await;
    create(
        store,
        &bare_grant(&account, 0x42, 0x02, Principal::Aws(ROLE.to_owned())),
    )
    .await;

    // The grant belongs to key 0x42, not 0x43.
    let wrong_key = store
        .delete_grant(&account, key_id(0x43), grant_id(0x01))
        .await
        .unwrap();
    assert!(!wrong_key);
    let deleted = store
        .delete_grant(&account, key_id(0x42), grant_id(0x01))
        .await
        .unwrap();
    assert!(deleted);
    let again = store
        .delete_grant(&account, key_id(0x42), grant_id(0x01))
        .await
        .unwrap();
    assert!(!again);

    assert_eq!(store.grant(&account, grant_id(0x01)).await.unwrap(), None);
    assert_eq!(
        ids(&all_grants(store, &account, 0x42).await),
        [grant_id(0x02)]
    );
    // Its name is free again.
    assert_eq!(
        create(store, &grant(&account, 0x42, 0x03)).await,
        GrantCreation::Created
    );
}

pub(super) async fn grant_changes_are_announced_as_key_changes(store: &dyn Store) {
    let account = account(ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    create_key(store, &account, key_id(0x43)).await;
    let mut changes = store.changes();

    create(store, &grant(&account, 0x42, 0x01)).await;
    // Nothing is added or removed by these, so nothing is announced.
    create(store, &grant(&account, 0x42, 0x02)).await;
    create(store, &grant(&account, 0x44, 0x03)).await;
    store
        .delete_grant(&account, key_id(0x42), grant_id(0x09))
        .await
        .unwrap();
    store
        .delete_grant(&account, key_id(0x42), grant_id(0x01))
        .await
        .unwrap();
    create(store, &grant(&account, 0x43, 0x04)).await;

    let key = |byte| StoreChange::Key {
        account: account.clone(),
        key_id: key_id(byte),
    };
    for expected in [key(0x42), key(0x42), key(0x43)] {
        assert_eq!(next_change(&mut changes).await, expected);
    }
    assert_eq!(
        changes.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    );
}

pub(super) async fn grants_are_invisible_from_and_untouchable_by_another_account(
    store: &dyn Store,
) {
    let account = account(ACCOUNT);
    let other = self::account(OTHER_ACCOUNT);
    create_key(store, &account, key_id(0x42)).await;
    let record = grant(&account, 0x42, 0x01);
    create(store, &record).await;

    assert_eq!(store.grant(&other, grant_id(0x01)).await.unwrap(), None);
    assert_eq!(all_grants(store, &other, 0x42).await, []);
    let retiring = Principal::Aws(RETIRER.to_owned());
    assert_eq!(
        store
            .list_retirable_grants(&other, &retiring, None, 10)
            .await
            .unwrap(),
        []
    );
    let deleted = store
        .delete_grant(&other, key_id(0x42), grant_id(0x01))
        .await
        .unwrap();
    assert!(!deleted);
    assert_eq!(
        create(store, &grant(&other, 0x42, 0x02)).await,
        GrantCreation::Conflict
    );
    assert_eq!(all_grants(store, &account, 0x42).await, [record]);
}

pub(super) async fn a_deleted_key_takes_its_grants(store: &dyn Store) {
    let account = account(ACCOUNT);
    let due = create_key(store, &account, key_id(0x42)).await;
    let deletion_date = due
        .deletion_date
        .expect("fixture keys are pending deletion");
    let kept = KeyRecord {
        deletion_date: Some(deletion_date + 1),
        ..key_record(&account, key_id(0x43))
    };
    store
        .create_key(&kept, &first_version(key_id(0x43)))
        .await
        .unwrap();
    create(store, &grant(&account, 0x42, 0x01)).await;
    create(store, &grant(&account, 0x43, 0x02)).await;

    let deleted = store.delete_due_keys(deletion_date, 10).await.unwrap();
    assert_eq!(deleted, [(account.clone(), key_id(0x42))]);

    assert_eq!(store.grant(&account, grant_id(0x01)).await.unwrap(), None);
    assert_eq!(all_grants(store, &account, 0x42).await, []);
    let retiring = Principal::Aws(RETIRER.to_owned());
    let retirable = store
        .list_retirable_grants(&account, &retiring, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&retirable), [grant_id(0x02)]);
}
