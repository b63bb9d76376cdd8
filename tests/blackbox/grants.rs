//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant, the key
//! states they work in, and grants going with their key (behaviour reference, sections 2 and
//! 5.3). Request validation and the rules CreateGrant applies are in `grants/requests.rs`.

mod requests;

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

#[tokio::test]
async fn retire_grant_takes_a_token_or_a_key_and_grant_id() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let by_token = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    let by_arn = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    let by_id = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;

    let response = ks
        .send_raw(RawRequest::new(
            "RetireGrant",
            json!({"GrantToken": by_token.grant_token().unwrap()}).to_string(),
        ))
        .await;
    assert_empty_answer(&response);
    client
        .retire_grant()
        .key_id(&arn)
        .grant_id(by_arn.grant_id().unwrap())
        .send()
        .await
        .expect("RetireGrant by key ARN and grant id");
    client
        .retire_grant()
        .key_id(&key_id)
        .grant_id(by_id.grant_id().unwrap())
        .send()
        .await
        .expect("RetireGrant by key id and grant id");
    assert_eq!(grants_of(&client, &key_id).await, []);

    let again = client
        .retire_grant()
        .grant_token(by_token.grant_token().unwrap())
        .send()
        .await;
    assert_eq!(failure(again).kind(), grant_not_found());
    let again = client
        .retire_grant()
        .key_id(&arn)
        .grant_id(by_arn.grant_id().unwrap())
        .send()
        .await;
    assert_eq!(failure(again).kind(), grant_not_found());

    let malformed = client
        .retire_grant()
        .grant_token("not a token")
        .send()
        .await;
    assert_eq!(
        failure(malformed).kind(),
        (400, "InvalidGrantTokenException")
    );
    let malformed = client
        .retire_grant()
        .key_id(&arn)
        .grant_id("1234")
        .send()
        .await;
    assert_eq!(failure(malformed).kind(), (400, "InvalidGrantIdException"));
    for incomplete in [
        client.retire_grant(),
        client.retire_grant().key_id(&arn),
        client.retire_grant().grant_id(by_id.grant_id().unwrap()),
    ] {
        let refused = incomplete.send().await;
        assert_eq!(failure(refused).kind(), (400, "ValidationException"));
    }
    let unknown_key = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let refused = client
        .retire_grant()
        .key_id(unknown_key)
        .grant_id(by_id.grant_id().unwrap())
        .send()
        .await;
    assert_eq!(
        failure(refused),
        Failure::new(
            400,
            "NotFoundException",
            Some(&format!("Key '{}' does not exist", key_arn(unknown_key)))
        )
    );

    ks.finish();
}

#[tokio::test]
async fn revoke_grant_removes_a_grant_of_the_key_it_names() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let other_key = create_key(&client).await;
    let kept = grant_to(&client, &key_id, ROLE, &[GrantOperation::Encrypt]).await;
    let revoked = grant_to(&client, &key_id, ROLE, &[GrantOperation::Encrypt]).await;
    let revoked_id = revoked.grant_id().unwrap();

    let response = ks
        .send_raw(RawRequest::new(
            "RevokeGrant",
            json!({"KeyId": key_arn(&key_id), "GrantId": revoked_id}).to_string(),
        ))
        .await;
    assert_empty_answer(&response);
    assert_eq!(
        ids(&grants_of(&client, &key_id).await),
        [kept.grant_id().unwrap()]
    );

    let again = client
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(revoked_id)
        .send()
        .await;
    assert_eq!(failure(again).kind(), grant_not_found());
    // A grant is revoked through its own key only.
    let wrong_key = client
        .revoke_grant()
        .key_id(&other_key)
        .grant_id(kept.grant_id().unwrap())
        .send()
        .await;
    assert_eq!(failure(wrong_key).kind(), grant_not_found());
    let malformed = client
        .revoke_grant()
        .key_id(&key_id)
        .grant_id("XYZ")
        .send()
        .await;
    assert_eq!(failure(malformed).kind(), (400, "InvalidGrantIdException"));
    let by_alias = client
        .revoke_grant()
        .key_id("alias/grants")
        .grant_id(kept.grant_id().unwrap())
        .send()
        .await;
    assert_eq!(
        failure(by_alias),
        Failure::new(
            400,
            "NotFoundException",
            Some("Invalid keyId 'alias/grants'")
        )
    );
    assert_eq!(
        ids(&grants_of(&client, &key_id).await),
        [kept.grant_id().unwrap()]
    );

    ks.finish();
}

#[tokio::test]
async fn dry_runs_check_everything_and_change_nothing() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let dry_run = Failure::new(
        400,
        "DryRunOperationException",
        Some("The request would have succeeded, but the DryRun option is set."),
    );

    let created = client
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROLE)
        .operations(GrantOperation::Encrypt)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(created), dry_run);
    assert_eq!(grants_of(&client, &key_id).await, []);
    let refused = client
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROLE)
        .operations(GrantOperation::Sign)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(refused).kind(), (400, "ValidationException"));

    let grant = grant_to(&client, &key_id, ROLE, &[GrantOperation::Encrypt]).await;
    let grant_id = grant.grant_id().unwrap();
    let retired = client
        .retire_grant()
        .grant_token(grant.grant_token().unwrap())
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(retired), dry_run);
    let revoked = client
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(grant_id)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(revoked), dry_run);
    assert_eq!(ids(&grants_of(&client, &key_id).await), [grant_id]);

    let unknown = "00".repeat(32);
    let revoked = client
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(&unknown)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(revoked).kind(), grant_not_found());
    disable_key(&client, &key_id).await;
    let created = client
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROLE)
        .operations(GrantOperation::Encrypt)
        .dry_run(true)
        .send()
        .await;
    assert_eq!(failure(created).kind(), (400, "DisabledException"));

    ks.finish();
}

#[tokio::test]
async fn a_disabled_key_takes_no_new_grants_but_its_grants_can_be_listed_and_removed() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let retired = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    let revoked = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    let kept = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    disable_key(&client, &key_id).await;

    for key in [key_id.as_str(), arn.as_str()] {
        let created = client
            .create_grant()
            .key_id(key)
            .grantee_principal(ROLE)
            .operations(GrantOperation::Decrypt)
            .send()
            .await;
        assert_eq!(
            failure(created),
            Failure::new(
                400,
                "DisabledException",
                Some(&format!("{arn} is disabled."))
            )
        );
    }
    assert_eq!(grants_of(&client, &key_id).await.len(), 3);
    client
        .retire_grant()
        .grant_token(retired.grant_token().unwrap())
        .send()
        .await
        .expect("RetireGrant on a disabled key");
    client
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(revoked.grant_id().unwrap())
        .send()
        .await
        .expect("RevokeGrant on a disabled key");
    assert_eq!(
        ids(&grants_of(&client, &key_id).await),
        [kept.grant_id().unwrap()]
    );

    client
        .enable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKey");
    grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    assert_eq!(grants_of(&client, &key_id).await.len(), 2);

    ks.finish();
}

#[tokio::test]
async fn a_key_pending_deletion_takes_no_new_grants_but_its_grants_can_be_listed_and_retired() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let arn = key_arn(&key_id);
    let retired = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    let kept = grant_to(&client, &key_id, ROLE, &[GrantOperation::Decrypt]).await;
    client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");

    let created = client
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROLE)
        .operations(GrantOperation::Decrypt)
        .send()
        .await;
    assert_eq!(
        failure(created),
        Failure::new(
            400,
            "KMSInvalidStateException",
            Some(&format!("{arn} is pending deletion."))
        )
    );
    client
        .retire_grant()
        .key_id(&arn)
        .grant_id(retired.grant_id().unwrap())
        .send()
        .await
        .expect("RetireGrant on a key pending deletion");
    assert_eq!(
        ids(&grants_of(&client, &key_id).await),
        [kept.grant_id().unwrap()]
    );

    ks.finish();
}

/// The waiting period cannot be shortened, so the test moves a deletion date into the past in the
/// database and restarts the service, which deletes due keys as soon as it starts.
#[tokio::test]
async fn the_grants_of_a_deleted_key_are_gone_with_it() {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let ks = Keyshard::start_in(dir.path()).await;
    let client = ks.client();
    let doomed = create_key(&client).await;
    let kept = create_key(&client).await;
    let mut tokens = HashMap::new();
    for key_id in [&doomed, &kept] {
        let created = client
            .create_grant()
            .key_id(key_id)
            .grantee_principal(ROLE)
            .retiring_principal(RETIRER)
            .operations(GrantOperation::Decrypt)
            .send()
            .await
            .expect("CreateGrant");
        tokens.insert(key_id.clone(), created);
    }
    client
        .schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");

    let url = format!("sqlite://{}", dir.path().join("keyshard.db").display());
    let mut db = SqliteConnection::connect(&url)
        .await
        .expect("the data directory's database opens");
    let past = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_millis(),
    )
    .expect("milliseconds fit i64")
        - 1;
    sqlx::query("UPDATE keys SET deletion_date = $1 WHERE key_id = $2")
        .bind(past)
        .bind(&doomed)
        .execute(&mut db)
        .await
        .expect("the deletion date moves into the past");
    db.close().await.expect("the connection closes");

    let ks = ks.restart().await;
    let client = ks.client();
    let missing = Failure::new(
        400,
        "NotFoundException",
        Some(&format!("Key '{}' does not exist", key_arn(&doomed))),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listed = client.list_grants().key_id(&doomed).send().await;
        match listed {
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            listed => {
                assert_eq!(failure(listed), missing);
                break;
            }
        }
    }

    let retirable = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .send()
        .await
        .expect("ListRetirableGrants");
    let keys: Vec<&str> = retirable
        .grants()
        .iter()
        .filter_map(GrantListEntry::key_id)
        .collect();
    assert_eq!(keys, [key_arn(&kept)]);
    let retired = client
        .retire_grant()
        .grant_token(tokens[&doomed].grant_token().unwrap())
        .send()
        .await;
    assert_eq!(failure(retired).kind(), grant_not_found());
    assert_eq!(
        key_metadata(&client, &kept).await.key_state(),
        Some(&KeyState::Enabled)
    );
    assert_eq!(grants_of(&client, &kept).await.len(), 1);

    ks.finish();
}

#[tokio::test]
async fn grant_tokens_from_create_grant_are_accepted_by_other_operations() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let grant = grant_to(&client, &key_id, ROLE, &[GrantOperation::Encrypt]).await;
    let token = grant.grant_token().unwrap();

    let encrypted = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(crate::support::blob("granted"))
        .grant_tokens(token)
        .grant_tokens("any well-formed token")
        .send()
        .await
        .expect("Encrypt with grant tokens");
    assert_eq!(encrypted.key_id(), Some(key_arn(&key_id).as_str()));
    let described = client
        .describe_key()
        .key_id(&key_id)
        .grant_tokens(token)
        .send()
        .await
        .expect("DescribeKey with a grant token");
    assert_eq!(
        described.key_metadata().map(|m| m.key_id()),
        Some(key_id.as_str())
    );
    // A token stays well-formed, and accepted, after its grant is retired.
    client
        .retire_grant()
        .grant_token(token)
        .send()
        .await
        .expect("RetireGrant");
    let (status, body) = ks
        .raw(
            "GenerateDataKey",
            &json!({"KeyId": key_id, "KeySpec": "AES_256", "GrantTokens": [token]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.get("KeyId"), Some(&Value::String(key_arn(&key_id))));

    ks.finish();
}
