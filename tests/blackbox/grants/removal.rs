//! RetireGrant, RevokeGrant and dry runs of the grant operations.

use super::*;

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
