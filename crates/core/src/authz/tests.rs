mod conditions;
mod grants;

use super::*;
use crate::id::KeyId;
use crate::operation::Operation;
use crate::policy::default_key_policy;

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const APP_ROLE: &str = "arn:aws:iam::111122223333:role/app";
const CAROL: &str = "arn:aws:iam::444455556666:role/carol";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn account(id: &str) -> AccountId {
    id.parse().unwrap()
}

fn caller(arn: &str) -> Caller {
    Caller::from_principal_arn(arn).unwrap()
}

fn key() -> KeyArn {
    KeyArn {
        region: "us-east-1".parse().unwrap(),
        account: account(ACCOUNT),
        key_id: KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap(),
    }
}

/// A policy of the given statements, each a JSON object.
fn policy(statements: &[String]) -> KeyPolicy {
    let text = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(",")
    );
    KeyPolicy::parse(&text).unwrap()
}

/// A statement object with the given effect, principal element and action, on every resource.
fn statement(effect: &str, principal: &str, action: &str) -> String {
    format!(r#"{{"Effect": "{effect}", {principal}, "Action": {action}, "Resource": "*"}}"#)
}

fn allow(principal: &str, action: &str) -> String {
    statement(
        "Allow",
        &format!(r#""Principal": {{"AWS": "{principal}"}}"#),
        action,
    )
}

fn deny(principal: &str, action: &str) -> String {
    statement(
        "Deny",
        &format!(r#""Principal": {{"AWS": "{principal}"}}"#),
        action,
    )
}

fn decide(policy: &KeyPolicy, who: &str, action: Action) -> Decision {
    let caller = caller(who);
    policy.evaluate(&caller, action, &key(), &RequestConditions::new(&caller))
}

fn encrypt() -> Action {
    Operation::Encrypt.action()
}

fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    context(items).pairs().clone()
}

fn implicit_deny(who: &str, action: &str) -> KmsError {
    KmsError::AccessDenied(format!(
        "User: {who} is not authorized to perform: {action} on resource: {KEY} because no \
         resource-based policy allows the {action} action"
    ))
}

fn explicit_deny(who: &str, action: &str) -> KmsError {
    KmsError::AccessDenied(format!(
        "User: {who} is not authorized to perform: {action} on resource: {KEY} with an explicit \
         deny in a resource-based policy"
    ))
}

#[test]
fn callers_come_from_iam_and_sts_arns_of_the_aws_partition() {
    let alice = caller(ALICE);
    assert_eq!(alice.account(), &account(ACCOUNT));
    assert_eq!(alice.principal(), ALICE);
    let session = caller("arn:aws:sts::444455556666:assumed-role/carol/s1");
    assert_eq!(session.account(), &account(OTHER_ACCOUNT));
    let root = Caller::account_root(account(ACCOUNT));
    assert_eq!(root.principal(), "arn:aws:iam::111122223333:root");
    assert_eq!(root, caller("arn:aws:iam::111122223333:root"));
    for bad in [
        "alice",
        "111122223333",
        "arn:aws-cn:iam::111122223333:user/alice",
        "arn:aws:kms::111122223333:user/alice",
        "arn:aws:iam:us-east-1:111122223333:user/alice",
        "arn:aws:iam::1111:user/alice",
        "arn:aws:iam::111122223333:",
    ] {
        assert_eq!(Caller::from_principal_arn(bad), None, "{bad}");
    }
}

#[test]
fn the_default_policy_allows_every_principal_of_the_key_account_and_nobody_else() {
    let parsed = KeyPolicy::parse(&default_key_policy(&account(ACCOUNT))).unwrap();
    for policy in [parsed, KeyPolicy::default_for(&account(ACCOUNT))] {
        for who in [ALICE, BOB, APP_ROLE, "arn:aws:iam::111122223333:root"] {
            for op in [
                Operation::Encrypt,
                Operation::PutKeyPolicy,
                Operation::ScheduleKeyDeletion,
            ] {
                assert_eq!(
                    decide(&policy, who, op.action()),
                    Decision::Allow,
                    "{who} {op}"
                );
            }
        }
        assert_eq!(decide(&policy, CAROL, encrypt()), Decision::ImplicitDeny);
        assert_eq!(
            decide(&policy, "arn:aws:iam::444455556666:root", encrypt()),
            Decision::ImplicitDeny
        );
    }
}

#[test]
fn a_statement_naming_another_account_allows_its_principals_for_cross_account_operations() {
    for principal in ["arn:aws:iam::444455556666:root", OTHER_ACCOUNT] {
        let policy = policy(&[allow(principal, r#""kms:*""#)]);
        assert_eq!(decide(&policy, CAROL, encrypt()), Decision::Allow);
        assert_eq!(
            decide(&policy, CAROL, Action::RE_ENCRYPT_TO),
            Decision::Allow
        );
        // kms:* names these too, but they cannot be used across accounts.
        for op in [Operation::ScheduleKeyDeletion, Operation::PutKeyPolicy] {
            assert_eq!(
                decide(&policy, CAROL, op.action()),
                Decision::ImplicitDeny,
                "{op}"
            );
        }
        assert_eq!(decide(&policy, ALICE, encrypt()), Decision::ImplicitDeny);
    }
}

#[test]
fn a_statement_naming_one_user_allows_that_user_only() {
    let policy = policy(&[allow(ALICE, r#""kms:*""#)]);
    assert_eq!(decide(&policy, ALICE, encrypt()), Decision::Allow);
    assert_eq!(decide(&policy, BOB, encrypt()), Decision::ImplicitDeny);
    assert_eq!(
        decide(&policy, "arn:aws:iam::111122223333:root", encrypt()),
        Decision::ImplicitDeny
    );
}

#[test]
fn everyone_and_only_aws_principals_match_a_wildcard_or_a_service() {
    let anyone = policy(&[statement(
        "Allow",
        r#""Principal": "*""#,
        r#""kms:Encrypt""#,
    )]);
    assert_eq!(decide(&anyone, CAROL, encrypt()), Decision::Allow);
    let any_aws = policy(&[allow("*", r#""kms:Encrypt""#)]);
    assert_eq!(decide(&any_aws, BOB, encrypt()), Decision::Allow);
    let service = policy(&[statement(
        "Allow",
        r#""Principal": {"Service": "logs.amazonaws.com"}"#,
        r#""kms:*""#,
    )]);
    assert_eq!(decide(&service, ALICE, encrypt()), Decision::ImplicitDeny);
}

#[test]
fn an_explicit_deny_beats_any_allow() {
    let policy = policy(&[
        allow(ACCOUNT, r#""kms:*""#),
        deny(ALICE, r#""kms:Decrypt""#),
    ]);
    let decrypt = Operation::Decrypt.action();
    assert_eq!(decide(&policy, ALICE, decrypt), Decision::ExplicitDeny);
    assert_eq!(decide(&policy, ALICE, encrypt()), Decision::Allow);
    assert_eq!(decide(&policy, BOB, decrypt), Decision::Allow);
}

#[test]
fn a_deny_with_not_action_denies_everything_it_does_not_list() {
    let policy = policy(&[
        allow(ACCOUNT, r#""kms:*""#),
        r#"{"Effect": "Deny", "Principal": "*", "NotAction": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*"}"#
            .to_owned(),
    ]);
    assert_eq!(
        decide(&policy, ALICE, Operation::DescribeKey.action()),
        Decision::ExplicitDeny
    );
    assert_eq!(decide(&policy, ALICE, encrypt()), Decision::Allow);
}

#[test]
fn a_deny_applies_only_when_its_condition_holds() {
    let policy = policy(&[
        allow("*", r#""kms:*""#),
        r#"{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:CallerAccount": "111122223333"}}}"#
            .to_owned(),
    ]);
    assert_eq!(decide(&policy, ALICE, encrypt()), Decision::Allow);
    assert_eq!(decide(&policy, CAROL, encrypt()), Decision::ExplicitDeny);
}

#[test]
fn a_deny_with_not_principal_spares_the_principals_it_names() {
    let policy = policy(&[
        allow(ACCOUNT, r#""kms:*""#),
        statement(
            "Deny",
            &format!(r#""NotPrincipal": {{"AWS": "{ALICE}"}}"#),
            r#""kms:PutKeyPolicy""#,
        ),
    ]);
    let put = Operation::PutKeyPolicy.action();
    assert_eq!(decide(&policy, ALICE, put), Decision::Allow);
    assert_eq!(decide(&policy, BOB, put), Decision::ExplicitDeny);
    assert_eq!(decide(&policy, BOB, encrypt()), Decision::Allow);
}

#[test]
fn action_wildcards_match_case_insensitively() {
    let data_keys = policy(&[allow(ALICE, r#""kms:GenerateDataKey*""#)]);
    for op in [
        Operation::GenerateDataKey,
        Operation::GenerateDataKeyWithoutPlaintext,
        Operation::GenerateDataKeyPair,
    ] {
        assert_eq!(
            decide(&data_keys, ALICE, op.action()),
            Decision::Allow,
            "{op}"
        );
    }
    assert_eq!(decide(&data_keys, ALICE, encrypt()), Decision::ImplicitDeny);

    let shouting = policy(&[allow(ALICE, r#"["KMS:ENCRYPT", "kms:re*"]"#)]);
    assert_eq!(decide(&shouting, ALICE, encrypt()), Decision::Allow);
    assert_eq!(
        decide(&shouting, ALICE, Action::RE_ENCRYPT_TO),
        Decision::Allow
    );
    let everything = policy(&[allow(ALICE, r#""*""#)]);
    assert_eq!(
        decide(&everything, ALICE, Operation::ScheduleKeyDeletion.action()),
        Decision::Allow
    );
    let one_char = policy(&[allow(ALICE, r#""kms:?ncrypt""#)]);
    assert_eq!(decide(&one_char, ALICE, encrypt()), Decision::Allow);
    assert_eq!(
        decide(&one_char, ALICE, Operation::Decrypt.action()),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_resource_must_be_the_key_or_match_its_arn() {
    let with_resource = |resource: &str| {
        let text = format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:*",
                "Resource": "{resource}"}}"#
        );
        decide(&policy(&[text]), ALICE, encrypt())
    };
    assert_eq!(with_resource(KEY), Decision::Allow);
    assert_eq!(
        with_resource("arn:aws:kms:*:111122223333:key/*"),
        Decision::Allow
    );
    assert_eq!(
        with_resource("arn:aws:kms:us-east-1:111122223333:key/other"),
        Decision::ImplicitDeny
    );
    assert_eq!(
        with_resource("arn:aws:kms:*:444455556666:key/*"),
        Decision::ImplicitDeny
    );
}

/// Checks `who` calling `action` on the key under `policy`, with `grants`.
fn check(
    policy: &KeyPolicy,
    grants: &[GrantView<'_>],
    who: &str,
    action: Action,
    constraint_subject: ConstraintSubject<'_>,
) -> Result<(), KmsError> {
    let caller = caller(who);
    let key = key();
    let conditions = RequestConditions::new(&caller);
    let request = AuthzRequest {
        caller: &caller,
        action,
        key_arn: &key,
        conditions: &conditions,
        constraint_subject,
    };
    authorize(policy, grants.iter().copied(), &request)
}

#[test]
fn access_denied_messages_have_aws_wording() {
    let policy = policy(&[allow(ACCOUNT, r#""kms:*""#), deny(BOB, r#""kms:Decrypt""#)]);
    assert_eq!(
        check(&policy, &[], CAROL, encrypt(), ConstraintSubject::NoContext),
        Err(implicit_deny(CAROL, "kms:Encrypt"))
    );
    assert_eq!(
        check(
            &policy,
            &[],
            BOB,
            Operation::Decrypt.action(),
            ConstraintSubject::NoContext
        ),
        Err(explicit_deny(BOB, "kms:Decrypt"))
    );
    assert_eq!(
        check(&policy, &[], BOB, encrypt(), ConstraintSubject::NoContext),
        Ok(())
    );
    assert_eq!(
        implicit_deny(CAROL, "kms:Encrypt").wire().error_type,
        "AccessDeniedException"
    );
}

#[test]
fn a_policy_that_drops_the_caller_would_lock_them_out() {
    let alice = caller(ALICE);
    let bob = caller(BOB);
    let key = key();
    let only_alice = policy(&[allow(ALICE, r#""kms:*""#)]);
    let alice_conditions = RequestConditions::new(&alice);
    let bob_conditions = RequestConditions::new(&bob);
    assert!(!only_alice.would_lock_out(&alice, &key, &alice_conditions));
    assert!(only_alice.would_lock_out(&bob, &key, &bob_conditions));
    assert_eq!(
        only_alice.check_lockout(&bob, &key, &bob_conditions),
        Err(KmsError::MalformedPolicyDocument(
            "The new key policy will not allow you to update the key policy in the future."
                .to_owned()
        ))
    );
    assert_eq!(
        only_alice.check_lockout(&alice, &key, &alice_conditions),
        Ok(())
    );

    let default = KeyPolicy::default_for(&account(ACCOUNT));
    assert!(!default.would_lock_out(&bob, &key, &bob_conditions));
    let no_put = policy(&[allow(ACCOUNT, r#""kms:*""#), deny(ALICE, r#""kms:Put*""#)]);
    assert!(no_put.would_lock_out(&alice, &key, &alice_conditions));
    let describe_only = policy(&[allow(ALICE, r#""kms:Describe*""#)]);
    assert!(describe_only.would_lock_out(&alice, &key, &alice_conditions));
}
