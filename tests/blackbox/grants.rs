//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant, the key
//! states they work in, and grants going with their key (behaviour reference, sections 2 and
//! 5.3). Request validation and the rules CreateGrant applies are in `grants/requests.rs`,
//! retiring, revoking and dry runs in `grants/removal.rs`, key states and deletion in
//! `grants/states.rs`.

mod removal;
mod requests;
mod states;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::create_grant::CreateGrantOutput;
use aws_sdk_kms::types::{GrantConstraints, GrantListEntry, GrantOperation, KeyState};
use serde_json::{Value, json};
use sqlx::{Connection as _, SqliteConnection};

use crate::harness::{ACCOUNT, Keyshard};
use crate::raw_http::RawRequest;
use crate::support::{
    Failure, assert_empty_answer, context, create_key, disable_key, failure, key_arn, key_metadata,
};

pub(crate) const ROLE: &str = "arn:aws:iam::111122223333:role/app";
const OTHER_ROLE: &str = "arn:aws:iam::111122223333:role/reports";
const RETIRER: &str = "arn:aws:iam::111122223333:user/retirer";

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// Whether `s` has the shape of a `GrantId`: 64 lowercase hex digits.
pub(crate) fn is_grant_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A grant to `grantee` on `key_id` for `operations`, with nothing else.
pub(crate) async fn grant_to(
    client: &Client,
    key_id: &str,
    grantee: &str,
    operations: &[GrantOperation],
) -> CreateGrantOutput {
    client
        .create_grant()
        .key_id(key_id)
        .grantee_principal(grantee)
        .set_operations(Some(operations.to_vec()))
        .send()
        .await
        .expect("CreateGrant")
}

/// Every grant of a key, in the order ListGrants returns them.
async fn grants_of(client: &Client, key_id: &str) -> Vec<GrantListEntry> {
    let listed = client
        .list_grants()
        .key_id(key_id)
        .send()
        .await
        .expect("ListGrants");
    assert!(!listed.truncated());
    listed.grants().to_vec()
}

fn ids(grants: &[GrantListEntry]) -> Vec<&str> {
    grants.iter().filter_map(GrantListEntry::grant_id).collect()
}

pub(crate) fn grant_not_found() -> (u16, &'static str) {
    (400, "NotFoundException")
}

#[tokio::test]
async fn a_grant_is_created_and_listed_with_every_member() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);

    let before = now_secs();
    let created = client
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROLE)
        .retiring_principal(RETIRER)
        .operations(GrantOperation::GenerateDataKey)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("Dept", "IT")
                .build(),
        )
        .name("payroll-batch")
        .send()
        .await
        .expect("CreateGrant");
    let after = now_secs();
    let grant_id = created.grant_id().expect("GrantId");
    let token = created.grant_token().expect("GrantToken");
    assert!(is_grant_id(grant_id), "{grant_id}");
    assert!((1..=8192).contains(&token.len()), "{token}");

    for key in [key_id.as_str(), arn.as_str()] {
        let grants = grants_of(&client, key).await;
        assert_eq!(grants.len(), 1);
        let grant = &grants[0];
        assert_eq!(grant.key_id(), Some(arn.as_str()));
        assert_eq!(grant.grant_id(), Some(grant_id));
        assert_eq!(grant.name(), Some("payroll-batch"));
        let created_at = grant.creation_date().expect("CreationDate").as_secs_f64();
        assert!(
            (before - 0.001..=after + 0.001).contains(&created_at),
            "{created_at} is not in {before}..{after}"
        );
        assert_eq!(grant.grantee_principal(), Some(ROLE));
        assert_eq!(grant.retiring_principal(), Some(RETIRER));
        assert_eq!(
            grant.issuing_account(),
            Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
        );
        assert_eq!(
            grant.operations(),
            [
                GrantOperation::Decrypt,
                GrantOperation::Encrypt,
                GrantOperation::GenerateDataKey
            ]
        );
        let constraints = grant.constraints().expect("Constraints");
        assert_eq!(
            constraints.encryption_context_subset(),
            Some(&context(&[("Dept", "IT")]))
        );
        assert_eq!(constraints.encryption_context_equals(), None);
        assert_eq!(grant.grantee_service_principal(), None);
    }

    ks.finish();
}

#[tokio::test]
async fn absent_members_are_left_out_of_grant_entries() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let created = grant_to(&client, &key_id, ROLE, &[GrantOperation::DescribeKey]).await;
    let grant_id = created.grant_id().expect("GrantId");

    let (status, body) = ks.raw("ListGrants", &json!({"KeyId": key_id})).await;
    assert_eq!(status, 200, "{body}");
    let entry = &body["Grants"][0];
    let created_at = entry["CreationDate"].as_f64().expect("epoch seconds");
    assert_eq!(
        body,
        json!({
            "Grants": [{
                "KeyId": key_arn(&key_id),
                "GrantId": grant_id,
                "CreationDate": created_at,
                "GranteePrincipal": ROLE,
                "IssuingAccount": format!("arn:aws:iam::{ACCOUNT}:root"),
                "Operations": ["DescribeKey"],
            }],
            "Truncated": false,
        })
    );
    let (status, body) = ks
        .raw(
            "CreateGrant",
            &json!({"KeyId": key_id, "GranteePrincipal": ROLE, "Operations": ["Encrypt"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let members: Vec<&String> = body.as_object().expect("an object").keys().collect();
    assert_eq!(members, ["GrantId", "GrantToken"]);

    ks.finish();
}

#[tokio::test]
async fn a_name_makes_create_grant_return_the_same_grant_with_a_fresh_token() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let create = |operations: Vec<GrantOperation>| {
        client
            .create_grant()
            .key_id(&key_id)
            .grantee_principal(ROLE)
            .set_operations(Some(operations))
            .name("nightly")
            .send()
    };

    let first = create(vec![GrantOperation::Encrypt, GrantOperation::Decrypt])
        .await
        .expect("CreateGrant");
    // The same parameters, operations in another order.
    let again = create(vec![GrantOperation::Decrypt, GrantOperation::Encrypt])
        .await
        .expect("CreateGrant again");
    assert_eq!(again.grant_id(), first.grant_id());
    assert_ne!(again.grant_token(), first.grant_token());
    assert_eq!(
        ids(&grants_of(&client, &key_id).await),
        [first.grant_id().unwrap()]
    );

    // Other parameters under the same name make another grant.
    let other = create(vec![GrantOperation::Decrypt])
        .await
        .expect("CreateGrant with other operations");
    assert_ne!(other.grant_id(), first.grant_id());
    assert_eq!(grants_of(&client, &key_id).await.len(), 2);

    // Every token of a grant names it: retiring with one leaves the other naming nothing.
    client
        .retire_grant()
        .grant_token(again.grant_token().unwrap())
        .send()
        .await
        .expect("RetireGrant with the second token");
    let retired = client
        .retire_grant()
        .grant_token(first.grant_token().unwrap())
        .send()
        .await;
    assert_eq!(failure(retired).kind(), grant_not_found());
    assert_eq!(
        ids(&grants_of(&client, &key_id).await),
        [other.grant_id().unwrap()]
    );

    ks.finish();
}

#[tokio::test]
async fn list_grants_pages_and_filters_by_grant_id_and_grantee() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let other_key = create_key(&client).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let grantee = if i % 2 == 0 { ROLE } else { OTHER_ROLE };
        let grant = grant_to(&client, &key_id, grantee, &[GrantOperation::Decrypt]).await;
        created.push((grant.grant_id().unwrap().to_owned(), grantee));
    }
    let elsewhere = grant_to(&client, &other_key, ROLE, &[GrantOperation::Decrypt]).await;

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for expected in [3, 3, 1] {
        let page = client
            .list_grants()
            .key_id(&key_id)
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListGrants page");
        assert_eq!(page.grants().len(), expected);
        seen.extend(ids(page.grants()).into_iter().map(str::to_owned));
        assert_eq!(page.truncated(), expected == 3);
        assert_eq!(page.next_marker().is_some(), expected == 3);
        marker = page.next_marker().map(str::to_owned);
    }
    let mut all: Vec<String> = created.iter().map(|(id, _)| id.clone()).collect();
    all.sort();
    assert_eq!(seen, all);

    let by_grantee = client
        .list_grants()
        .key_id(&key_id)
        .grantee_principal(OTHER_ROLE)
        .send()
        .await
        .expect("ListGrants by grantee");
    let mut expected: Vec<&str> = created
        .iter()
        .filter(|(_, grantee)| *grantee == OTHER_ROLE)
        .map(|(id, _)| id.as_str())
        .collect();
    expected.sort_unstable();
    assert_eq!(ids(by_grantee.grants()), expected);

    let by_id = client
        .list_grants()
        .key_id(&key_id)
        .grant_id(&created[4].0)
        .send()
        .await
        .expect("ListGrants by grant id");
    assert_eq!(ids(by_id.grants()), [created[4].0.as_str()]);
    let of_other_key = client
        .list_grants()
        .key_id(&key_id)
        .grant_id(elsewhere.grant_id().unwrap())
        .send()
        .await
        .expect("ListGrants by another key's grant id");
    assert_eq!(ids(of_other_key.grants()), Vec::<&str>::new());

    let malformed = client
        .list_grants()
        .key_id(&key_id)
        .grant_id("not-a-grant-id")
        .send()
        .await;
    assert_eq!(failure(malformed).kind(), (400, "InvalidGrantIdException"));
    let bad_marker = client
        .list_grants()
        .key_id(&key_id)
        .marker("bm90IGEgbWFya2Vy")
        .send()
        .await;
    assert_eq!(
        failure(bad_marker),
        Failure::new(
            400,
            "InvalidMarkerException",
            Some("The marker that specifies where to start is invalid.")
        )
    );
    let too_long = client.list_grants().key_id(&key_id).limit(101).send().await;
    assert_eq!(
        failure(too_long),
        Failure::new(
            400,
            "ValidationException",
            Some(
                "1 validation error detected: Value '101' at 'limit' failed to satisfy \
                 constraint: Member must have value less than or equal to 100"
            )
        )
    );

    ks.finish();
}

#[tokio::test]
async fn list_retirable_grants_lists_the_grants_of_a_retiring_principal_on_every_key() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let first_key = create_key(&client).await;
    let second_key = create_key(&client).await;
    let retirable = |key_id: String, retiring: &'static str| {
        let client = client.clone();
        async move {
            let created = client
                .create_grant()
                .key_id(&key_id)
                .grantee_principal(ROLE)
                .retiring_principal(retiring)
                .operations(GrantOperation::Encrypt)
                .send()
                .await
                .expect("CreateGrant");
            (key_arn(&key_id), created.grant_id().unwrap().to_owned())
        }
    };
    let mut expected = vec![
        retirable(first_key.clone(), RETIRER).await,
        retirable(second_key.clone(), RETIRER).await,
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    retirable(first_key.clone(), OTHER_ROLE).await;
    grant_to(&client, &second_key, RETIRER, &[GrantOperation::Encrypt]).await;

    let listed = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .send()
        .await
        .expect("ListRetirableGrants");
    assert!(!listed.truncated());
    let found: Vec<(String, String)> = listed
        .grants()
        .iter()
        .map(|g| {
            assert_eq!(g.retiring_principal(), Some(RETIRER));
            assert_eq!(g.grantee_principal(), Some(ROLE));
            (
                g.key_id().unwrap().to_owned(),
                g.grant_id().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(found, expected);

    let first_page = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .limit(1)
        .send()
        .await
        .expect("ListRetirableGrants page");
    assert!(first_page.truncated());
    let second_page = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .limit(1)
        .marker(first_page.next_marker().expect("NextMarker"))
        .send()
        .await
        .expect("ListRetirableGrants second page");
    assert_eq!(
        [first_page.grants(), second_page.grants()].map(|g| g[0].grant_id().unwrap().to_owned()),
        [expected[0].1.clone(), expected[1].1.clone()]
    );
    assert!(!second_page.truncated());
    assert_eq!(second_page.next_marker(), None);

    let nobody = client
        .list_retirable_grants()
        .retiring_principal("arn:aws:iam::111122223333:user/nobody")
        .send()
        .await
        .expect("ListRetirableGrants for a principal with no grants");
    assert_eq!(nobody.grants(), []);
    let neither = client.list_retirable_grants().send().await;
    assert_eq!(failure(neither).kind(), (400, "ValidationException"));

    ks.finish();
}
