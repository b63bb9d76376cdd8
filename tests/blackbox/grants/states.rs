//! Grants and key states: disabled and pending-deletion keys, deleted keys, and grant tokens
//! in other operations.

use super::*;

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
    // A token Keyshard did not issue is refused.
    let (status, body) = ks
        .raw(
            "GenerateDataKey",
            &json!({"KeyId": key_id, "KeySpec": "AES_256", "GrantTokens": ["not a grant token"]}),
        )
        .await;
    assert_eq!(
        (status, body.get("__type").and_then(Value::as_str)),
        (400, Some("InvalidGrantTokenException"))
    );

    ks.finish();
}
