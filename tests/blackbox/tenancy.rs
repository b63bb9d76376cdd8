//! Many tenants on one cluster: two accounts and several principals, each signing with access
//! keys from `keyshard accounts`, against the production topology. Signature checks are in
//! `tenancy/signatures.rs`, what one account can see of another's keys in
//! `tenancy/isolation.rs`, key policies across accounts in `tenancy/cross_account.rs` and
//! between principals in `tenancy/principals.rs`, grants in `tenancy/grantees.rs` and request
//! quotas in `tenancy/throttling.rs` (behaviour reference, sections 1, 5.3, 5.4, 6, 7 and 8).

mod cross_account;
mod grantees;
mod isolation;
mod principals;
mod signatures;
mod throttling;

use aws_sdk_kms::Client;
use serde_json::{Value, json};

use crate::cluster::nodes::Cluster;
use crate::support::{Failure, alias_arn_in, key_arn_in};

/// The second account; the first is the harness's `ACCOUNT`.
const OTHER_ACCOUNT: &str = "444455556666";

/// What a key administrator may do, and nothing that uses the key (AWS KMS Developer Guide,
/// "Allows key administrators to administer the KMS key").
const ADMINISTRATION: &[&str] = &[
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
];

/// The ARN of an IAM user.
fn user(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user/{name}")
}

/// The ARN of an account's root principal, which in a key policy stands for the whole account.
fn root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// A client of one gateway signing with a new access key of `principal` (a user or role ARN),
/// in the account the ARN names.
fn client_of(cluster: &Cluster, gateway: usize, principal: &str) -> Client {
    let account = principal
        .split(':')
        .nth(4)
        .expect("an IAM ARN names its account");
    let credentials = cluster.create_access_key(account, Some(principal), None);
    cluster.client_as(gateway, credentials)
}

/// A client of one gateway signing as the root of `account`.
fn root_client(cluster: &Cluster, gateway: usize, account: &str) -> Client {
    cluster.client_as(gateway, cluster.create_access_key(account, None, None))
}

/// A key policy of these statements.
fn policy(statements: &[Value]) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// A statement allowing `actions` on the key to `principal`.
fn allow(principal: &str, actions: &[&str]) -> Value {
    json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*"})
}

/// A statement denying `actions` on the key to `principal`.
fn deny(principal: &str, actions: &[&str]) -> Value {
    json!({"Effect": "Deny", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*"})
}

/// Creates a key with `policy` and returns its bare id.
async fn create_key_with_policy(client: &Client, policy: &str) -> String {
    let created = client
        .create_key()
        .policy(policy)
        .send()
        .await
        .expect("CreateKey with a policy");
    let metadata = created.key_metadata().expect("KeyMetadata");
    metadata.key_id().to_owned()
}

/// AccessDeniedException for a call no statement of the key policy, and no grant, allows.
fn not_allowed(principal: &str, action: &str, key_arn: &str) -> Failure {
    let message = format!(
        "User: {principal} is not authorized to perform: {action} on resource: {key_arn} \
         because no resource-based policy allows the {action} action"
    );
    Failure::new(400, "AccessDeniedException", Some(&message))
}

/// AccessDeniedException for a call a Deny statement of the key policy matches.
fn denied_explicitly(principal: &str, action: &str, key_arn: &str) -> Failure {
    let message = format!(
        "User: {principal} is not authorized to perform: {action} on resource: {key_arn} \
         with an explicit deny in a resource-based policy"
    );
    Failure::new(400, "AccessDeniedException", Some(&message))
}

/// NotFoundException for a key id or key ARN that names no key of the caller's account, worded
/// with the ARN the id has in `account`, the caller's.
fn no_such_key(account: &str, key_id: &str) -> Failure {
    let message = format!("Key '{}' does not exist", key_arn_in(account, key_id));
    Failure::new(400, "NotFoundException", Some(&message))
}

/// NotFoundException for an alias name that names no alias of `account`, the caller's.
fn no_such_alias(account: &str, alias_name: &str) -> Failure {
    let message = format!("Alias {} is not found.", alias_arn_in(account, alias_name));
    Failure::new(400, "NotFoundException", Some(&message))
}
