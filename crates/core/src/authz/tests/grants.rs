//! Grants: who they serve, for what, under which encryption context, and what beats them.

use super::*;

fn grant(
    grantee: &str,
    operations: &[GrantOperation],
    constraints: Option<GrantConstraints>,
) -> GrantParameters {
    GrantParameters::new(
        Some(Principal::Aws(grantee.to_owned())),
        None,
        operations.to_vec(),
        constraints,
    )
    .unwrap()
}

fn equals(items: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_equals: Some(pairs(items)),
        ..GrantConstraints::default()
    })
}

fn subset(items: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(GrantConstraints {
        encryption_context_subset: Some(pairs(items)),
        ..GrantConstraints::default()
    })
}

/// A policy that allows only Bob, so that whatever Alice may do comes from grants.
fn bob_only() -> KeyPolicy {
    policy(&[allow(BOB, r#""kms:*""#)])
}

#[test]
fn a_grant_with_encryption_context_equals_allows_only_that_context() {
    let issuer = account(ACCOUNT);
    let parameters = grant(
        ALICE,
        &[GrantOperation::Encrypt, GrantOperation::Decrypt],
        equals(&[("purpose", "backup")]),
    );
    let grants = [GrantView::new(&issuer, &parameters)];
    let policy = bob_only();
    let run = |op: Operation, items: &[(&str, &str)]| {
        let context = context(items);
        check(
            &policy,
            &grants,
            ALICE,
            op.action(),
            ConstraintSubject::EncryptionContext(&context),
        )
    };
    assert_eq!(run(Operation::Encrypt, &[("purpose", "backup")]), Ok(()));
    assert_eq!(run(Operation::Decrypt, &[("PURPOSE", "backup")]), Ok(()));
    assert_eq!(
        run(Operation::Encrypt, &[("purpose", "Backup")]),
        Err(implicit_deny(ALICE, "kms:Encrypt"))
    );
    assert_eq!(
        run(Operation::Encrypt, &[("purpose", "backup"), ("team", "a")]),
        Err(implicit_deny(ALICE, "kms:Encrypt"))
    );
    assert_eq!(
        run(Operation::Encrypt, &[]),
        Err(implicit_deny(ALICE, "kms:Encrypt"))
    );
    assert_eq!(
        run(Operation::GenerateDataKey, &[("purpose", "backup")]),
        Err(implicit_deny(ALICE, "kms:GenerateDataKey"))
    );
}

#[test]
fn a_grant_with_encryption_context_subset_allows_any_superset() {
    let issuer = account(ACCOUNT);
    let parameters = grant(
        ALICE,
        &[GrantOperation::Decrypt, GrantOperation::DescribeKey],
        subset(&[("purpose", "backup")]),
    );
    let grants = [GrantView::new(&issuer, &parameters)];
    let policy = bob_only();
    let run = |items: &[(&str, &str)]| {
        let context = context(items);
        check(
            &policy,
            &grants,
            ALICE,
            Operation::Decrypt.action(),
            ConstraintSubject::EncryptionContext(&context),
        )
    };
    assert_eq!(run(&[("purpose", "backup")]), Ok(()));
    assert_eq!(run(&[("purpose", "backup"), ("team", "a")]), Ok(()));
    assert_eq!(
        run(&[("team", "a")]),
        Err(implicit_deny(ALICE, "kms:Decrypt"))
    );
    assert_eq!(run(&[]), Err(implicit_deny(ALICE, "kms:Decrypt")));
    // The constraint does not apply to an operation without an encryption context.
    assert_eq!(
        check(
            &policy,
            &grants,
            ALICE,
            Operation::DescribeKey.action(),
            ConstraintSubject::NoContext
        ),
        Ok(())
    );
}

#[test]
fn a_grant_serves_only_its_grantee_and_its_operations() {
    let issuer = account(ACCOUNT);
    let for_bob = grant(APP_ROLE, &[GrantOperation::Encrypt], None);
    let for_account = grant(
        "arn:aws:iam::111122223333:root",
        &[GrantOperation::Decrypt, GrantOperation::RetireGrant],
        None,
    );
    let for_carol = grant(CAROL, &[GrantOperation::Encrypt], None);
    let grants = [
        GrantView::new(&issuer, &for_bob),
        GrantView::new(&issuer, &for_account),
        GrantView::new(&issuer, &for_carol),
    ];
    let policy = bob_only();
    let run = |who: &str, op: Operation| {
        let context = context(&[]);
        check(
            &policy,
            &grants,
            who,
            op.action(),
            ConstraintSubject::EncryptionContext(&context),
        )
    };
    assert_eq!(run(APP_ROLE, Operation::Encrypt), Ok(()));
    assert_eq!(
        run(ALICE, Operation::Encrypt),
        Err(implicit_deny(ALICE, "kms:Encrypt"))
    );
    // An account's root grantee serves every principal of the account.
    assert_eq!(run(ALICE, Operation::Decrypt), Ok(()));
    assert_eq!(run(APP_ROLE, Operation::Decrypt), Ok(()));
    assert_eq!(
        run(ALICE, Operation::Sign),
        Err(implicit_deny(ALICE, "kms:Sign"))
    );
    // A grant reaches a principal of another account.
    assert_eq!(run(CAROL, Operation::Encrypt), Ok(()));
    assert_eq!(
        run(CAROL, Operation::Decrypt),
        Err(implicit_deny(CAROL, "kms:Decrypt"))
    );
}

#[test]
fn service_and_source_arn_grants_never_serve_a_caller() {
    let issuer = account(ACCOUNT);
    let service = GrantParameters::new(
        Some(Principal::Service(
            "logs.us-east-1.amazonaws.com".to_owned(),
        )),
        Some(Principal::Aws(ALICE.to_owned())),
        vec![GrantOperation::Encrypt],
        Some(GrantConstraints {
            source_arn: Some("arn:aws:logs:us-east-1:111122223333:log-group:x".to_owned()),
            ..GrantConstraints::default()
        }),
    )
    .unwrap();
    let sourced = grant(
        ALICE,
        &[GrantOperation::Encrypt],
        Some(GrantConstraints {
            source_arn: Some("arn:aws:logs:us-east-1:111122223333:log-group:x".to_owned()),
            ..GrantConstraints::default()
        }),
    );
    let grants = [
        GrantView::new(&issuer, &service),
        GrantView::new(&issuer, &sourced),
    ];
    assert_eq!(
        check(
            &bob_only(),
            &grants,
            ALICE,
            encrypt(),
            ConstraintSubject::NoContext
        ),
        Err(implicit_deny(ALICE, "kms:Encrypt"))
    );
}

#[test]
fn an_explicit_deny_beats_a_grant() {
    let issuer = account(ACCOUNT);
    let parameters = grant(ALICE, &[GrantOperation::Encrypt], None);
    let grants = [GrantView::new(&issuer, &parameters)];
    let policy = policy(&[allow(BOB, r#""kms:*""#), deny(ALICE, r#""kms:Encrypt""#)]);
    assert_eq!(
        check(
            &policy,
            &grants,
            ALICE,
            encrypt(),
            ConstraintSubject::NoContext
        ),
        Err(explicit_deny(ALICE, "kms:Encrypt"))
    );
}

#[test]
fn a_constrained_grant_creates_only_grants_at_least_as_strict() {
    let issuer = account(ACCOUNT);
    let policy = bob_only();
    let create = Operation::CreateGrant.action();
    let run = |parent: &GrantParameters, child: Option<GrantConstraints>| {
        let grants = [GrantView::new(&issuer, parent)];
        check(
            &policy,
            &grants,
            ALICE,
            create,
            ConstraintSubject::NewGrant(child.as_ref()),
        )
    };
    let denied = Err(implicit_deny(ALICE, "kms:CreateGrant"));
    let ops = [GrantOperation::CreateGrant, GrantOperation::Decrypt];

    let exact = grant(ALICE, &ops, equals(&[("purpose", "a")]));
    assert_eq!(run(&exact, equals(&[("Purpose", "a")])), Ok(()));
    assert_eq!(run(&exact, equals(&[("purpose", "a"), ("b", "c")])), denied);
    assert_eq!(run(&exact, subset(&[("purpose", "a")])), denied);
    assert_eq!(run(&exact, None), denied);

    let at_least = grant(ALICE, &ops, subset(&[("purpose", "a")]));
    assert_eq!(run(&at_least, subset(&[("purpose", "a")])), Ok(()));
    assert_eq!(
        run(&at_least, subset(&[("purpose", "a"), ("b", "c")])),
        Ok(())
    );
    assert_eq!(
        run(&at_least, equals(&[("purpose", "a"), ("b", "c")])),
        Ok(())
    );
    assert_eq!(run(&at_least, subset(&[("b", "c")])), denied);
    assert_eq!(run(&at_least, None), denied);

    let open = grant(ALICE, &ops, None);
    assert_eq!(run(&open, None), Ok(()));
}

#[test]
fn a_grant_is_retired_by_its_retiring_principal_grantee_or_issuing_account() {
    let issuer = account(OTHER_ACCOUNT);
    let parameters = GrantParameters::new(
        Some(Principal::Aws(ALICE.to_owned())),
        Some(Principal::Aws(BOB.to_owned())),
        vec![GrantOperation::Decrypt, GrantOperation::RetireGrant],
        None,
    )
    .unwrap();
    let without_retire = grant(APP_ROLE, &[GrantOperation::Decrypt], None);
    let policy = policy(&[allow("arn:aws:iam::111122223333:user/admin", r#""kms:*""#)]);
    let retire = Operation::RetireGrant.action();
    let run = |who: &str, grant: &GrantParameters| {
        let grants = [GrantView::new(&issuer, grant)];
        check(&policy, &grants, who, retire, ConstraintSubject::NoContext)
    };
    assert_eq!(run(ALICE, &parameters), Ok(()));
    assert_eq!(run(BOB, &parameters), Ok(()));
    assert_eq!(run(CAROL, &parameters), Ok(()));
    assert_eq!(
        run(APP_ROLE, &without_retire),
        Err(implicit_deny(APP_ROLE, "kms:RetireGrant"))
    );
    assert_eq!(
        run("arn:aws:iam::111122223333:user/admin", &without_retire),
        Ok(())
    );
}
