//! The store conformance suite: what every [`Store`] backend must do, written once over
//! `&dyn Store` and stamped out per backend by [`conformance!`]. This file holds the fixtures;
//! the tests sit in one file per group of operations.

mod accounts;
mod aliases;
mod changes;
mod grants;
mod keys;
mod lifecycle;
mod policies;
mod rotation;
mod tags;

use std::str::FromStr;
use std::time::Duration;

use keyshard_core::id::{AccountId, AliasName, KeyId};
use keyshard_core::spec::{KeySpec, KeyState, KeyUsage, Origin};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use tempfile::TempDir;
use tokio::sync::broadcast;

use crate::{
    AccountKeyVersion, AliasRecord, KeyRecord, KeyVersion, PostgresStore, SqliteStore, Store,
    StoreChange, StoreError,
};

/// Runs every conformance test against one backend. `$open` names an async fn in this module
/// that returns the store and a guard it must not outlive (a temporary directory, a database).
macro_rules! conformance {
    ($backend:ident, $open:ident) => {
        mod $backend {
            conformance!(@tests $open;
                keys::a_created_key_reads_back_with_every_field,
                keys::keys_are_invisible_from_another_account,
                keys::creating_a_key_twice_fails_and_keeps_the_first,
                keys::a_key_is_not_stored_when_its_first_version_cannot_be,
                keys::a_key_version_reads_back_and_a_missing_version_is_none,
                keys::listing_keys_pages_in_text_order_without_duplicates,
                keys::setting_a_key_state_reads_back_and_an_unknown_key_returns_false,
                keys::versions_not_wrapped_under_a_root_key_page_across_accounts_in_order,
                keys::rewrapping_a_version_succeeds_once_then_refuses_the_stale_root_key,
                aliases::a_created_alias_reads_back_with_every_field,
                aliases::creating_an_alias_with_a_taken_name_is_already_exists,
                aliases::creating_an_alias_beyond_the_per_key_limit_is_limit_exceeded,
                aliases::racing_alias_creations_stop_at_the_per_key_limit,
                aliases::an_alias_for_a_key_the_account_lacks_is_not_found,
                aliases::updating_an_alias_moves_its_target_and_updated_at,
                aliases::updating_an_unknown_alias_returns_false,
                aliases::deleting_an_alias_returns_true_then_false,
                aliases::aliases_are_invisible_from_another_account,
                aliases::listing_aliases_filters_by_target_and_pages_in_name_order,
                changes::committed_changes_are_announced_in_order_and_refused_ones_are_not,
                changes::every_statement_counts_toward_the_query_count,
                changes::a_ping_succeeds_and_is_not_counted_as_a_query,
                tags::a_key_created_with_tags_lists_them_in_tag_key_order_page_by_page,
                tags::tags_are_invisible_from_and_untouchable_by_another_account,
                tags::tagging_adds_tags_and_replaces_the_values_of_existing_tag_keys,
                tags::tagging_beyond_the_per_key_limit_is_limit_exceeded_and_changes_nothing,
                tags::racing_tag_changes_stop_at_the_per_key_limit,
                tags::tag_changes_on_a_key_in_another_state_or_no_key_return_false,
                tags::untagging_removes_the_named_tag_keys_and_ignores_absent_ones,
                tags::tag_changes_are_announced_as_key_changes,
                tags::a_key_with_tags_is_not_stored_when_its_first_version_cannot_be,
                tags::creating_a_key_twice_keeps_the_first_tags_and_policy,
                policies::a_key_created_with_a_policy_reads_it_back_byte_for_byte,
                policies::a_key_created_without_a_policy_has_none_stored,
                policies::putting_a_policy_stores_or_replaces_it_and_announces_the_key,
                policies::a_policy_for_a_key_the_account_lacks_is_not_found_and_not_announced,
                policies::policies_are_invisible_from_another_account,
                rotation::enabling_rotation_starts_a_schedule_and_a_new_period_keeps_its_start,
                rotation::enabling_rotation_of_a_key_the_account_lacks_is_not_found,
                rotation::rotating_on_demand_adds_a_current_version_once_and_announces_it,
                rotation::on_demand_rotations_stop_at_the_limit_and_automatic_ones_do_not_count,
                rotation::automatic_rotation_happens_only_when_due_and_moves_the_schedule,
                rotation::racing_rotations_of_one_key_add_exactly_one_version,
                rotation::listing_key_rotations_pages_in_version_order_with_or_without_the_first,
                rotation::due_key_rotations_walk_enabled_keys_of_every_account_earliest_first,
                lifecycle::a_guarded_state_change_happens_only_from_the_expected_state,
                lifecycle::a_description_changes_only_from_the_expected_state,
                lifecycle::due_keys_are_deleted_with_their_versions_and_aliases,
                lifecycle::due_keys_are_deleted_earliest_first_up_to_the_limit,
                lifecycle::racing_deletions_delete_each_key_once,
                lifecycle::a_deletion_racing_a_cancellation_leaves_one_outcome,
                lifecycle::deleted_keys_and_their_aliases_are_announced,
                grants::a_created_grant_reads_back_with_every_field,
                grants::a_grant_on_a_key_in_another_state_or_no_key_is_a_conflict,
                grants::a_repeated_request_returns_the_stored_grant,
                grants::a_grant_id_another_grant_has_is_already_exists,
                grants::grants_beyond_the_per_key_limit_are_limit_exceeded,
                grants::racing_grant_creations_stop_at_the_per_key_limit,
                grants::racing_requests_with_one_name_add_one_grant,
                grants::listing_grants_filters_by_id_and_grantee_and_pages_in_id_order,
                grants::retirable_grants_are_listed_across_the_keys_of_the_account,
                grants::deleting_a_grant_returns_true_then_false,
                grants::grant_changes_are_announced_as_key_changes,
                grants::grants_are_invisible_from_and_untouchable_by_another_account,
                grants::a_deleted_key_takes_its_grants,
                accounts::an_account_is_created_once_and_reads_back_with_its_quotas,
                accounts::an_access_key_reads_back_with_every_field_and_belongs_to_one_account,
                accounts::access_key_secrets_are_rewrapped_once_and_walked_in_id_order,
                accounts::a_key_id_names_its_owner_account,
            );
        }
    };
    (@tests $open:ident; $($group:ident::$test:ident,)+) => {
        $(
            #[tokio::test]
            async fn $test() {
                let (store, _guard) = super::$open().await;
                super::$group::$test(&store).await;
            }
        )+
    };
}

conformance!(sqlite, open_sqlite);
conformance!(postgres, open_postgres);

pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const OTHER_ACCOUNT: &str = "444455556666";

/// A Postgres server on which the test user may create databases; `scripts/test` starts one.
const DATABASE_URL_VAR: &str = "KEYSHARD_TEST_DATABASE_URL";

/// How long a test waits for an announcement before failing; they arrive in milliseconds.
const CHANGE_WAIT: Duration = Duration::from_secs(10);

/// Creation time of every fixture, chosen so that no two timestamp columns hold the same value.
const CREATED_AT: i64 = 1_700_000_000_123;

pub(crate) async fn open_sqlite() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("the temp directory is writable");
    let store = SqliteStore::open(&dir.path().join("keyshard.db"))
        .await
        .unwrap();
    (store, dir)
}

/// A database of its own on the server named by `KEYSHARD_TEST_DATABASE_URL`, so that tests can
/// run in parallel. It is left behind: `scripts/test` throws the whole server away.
#[derive(Debug)]
pub(crate) struct TestDatabase {
    pub(crate) url: String,
}

pub(crate) async fn open_postgres() -> (PostgresStore, TestDatabase) {
    let Ok(server_url) = std::env::var(DATABASE_URL_VAR) else {
        panic!(
            "{DATABASE_URL_VAR} is not set: run `scripts/test`, which starts a private Postgres \
             for these tests and sets it"
        );
    };
    let name = format!(
        "keyshard_test_{}",
        KeyId::generate().to_string().replace('-', "")
    );

    let mut server = PgConnection::connect(&server_url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {DATABASE_URL_VAR}: {err}"));
    server
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    server.close().await.unwrap();

    let url = PgConnectOptions::from_str(&server_url)
        .unwrap()
        .database(&name)
        .to_url_lossy()
        .to_string();
    let store = PostgresStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, TestDatabase { url })
}

pub(crate) fn account(id: &str) -> AccountId {
    id.parse().expect("test account ids are 12 digits")
}

/// A key id whose text form is the hex of `byte` repeated, so tests know the order of ids.
pub(crate) fn key_id(byte: u8) -> KeyId {
    KeyId::from_bytes([byte; 16])
}

/// A key whose fields all differ from the usual defaults, so a swapped column shows.
pub(crate) fn key_record(account: &AccountId, key_id: KeyId) -> KeyRecord {
    KeyRecord {
        account: account.clone(),
        key_id,
        description: "payroll signing".to_owned(),
        key_spec: KeySpec::Hmac384,
        key_usage: KeyUsage::GenerateVerifyMac,
        origin: Origin::External,
        state: KeyState::PendingDeletion,
        created_at: CREATED_AT,
        deletion_date: Some(CREATED_AT + 7 * 86_400_000),
        current_version: 1,
    }
}

pub(crate) fn first_version(key_id: KeyId) -> KeyVersion {
    KeyVersion {
        key_id,
        version: 1,
        root_key_id: "root-2024".to_owned(),
        wrapped_material: vec![0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff],
        created_at: CREATED_AT + 1,
    }
}

pub(crate) fn alias_record(account: &AccountId, name: &str, target: KeyId) -> AliasRecord {
    AliasRecord {
        account: account.clone(),
        name: alias_name(name),
        target_key_id: target,
        created_at: CREATED_AT + 2,
        updated_at: CREATED_AT + 3,
    }
}

fn alias_name(name: &str) -> AliasName {
    AliasName::parse(name).expect("test alias names start with `alias/`")
}

pub(crate) async fn create_key(store: &dyn Store, account: &AccountId, key_id: KeyId) -> KeyRecord {
    let key = key_record(account, key_id);
    store
        .create_key(&key, &first_version(key_id))
        .await
        .unwrap();
    key
}

/// The next announcement, failing the test if none comes.
pub(crate) async fn next_change(changes: &mut broadcast::Receiver<StoreChange>) -> StoreChange {
    tokio::time::timeout(CHANGE_WAIT, changes.recv())
        .await
        .expect("a change is announced in time")
        .expect("the feed is open and the test kept up with it")
}

async fn create_alias(
    store: &dyn Store,
    account: &AccountId,
    name: &str,
    target: KeyId,
) -> AliasRecord {
    let alias = alias_record(account, name, target);
    store.create_alias(&alias, 100).await.unwrap();
    alias
}

/// Version 1 of `key_id` as re-wrapped under `root_key_id`, with material made of `fill`.
fn rewrapped_version(key_id: KeyId, root_key_id: &str, fill: u8) -> KeyVersion {
    KeyVersion {
        root_key_id: root_key_id.to_owned(),
        wrapped_material: vec![fill; 6],
        ..first_version(key_id)
    }
}
