//! A full disk under `keyshard dev`'s embedded store (RELIABILITY.md): the data directory is a
//! 2 MiB tmpfs mounted in a user and mount namespace of its own, filled from outside through
//! `/proc/<pid>/root`. Writes answer a retryable 503, reads and cryptography on existing keys go
//! on, and once space is freed writes succeed again without a restart, nothing lost.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::create_key::builders::CreateKeyFluentBuilder;
use aws_sdk_kms::types::{KeyState, Tag};
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::harness::Keyshard;
use crate::support::{
    Failure, blob, context, create_alias, create_key, encrypt_text, failure, key_arn, key_metadata,
};

/// Mounts a 2 MiB tmpfs on the directory `$1`, then runs the remaining arguments in its place.
const MOUNT_SMALL_DISK: &str =
    r#"mount -t tmpfs -o size=2m keyshard-disk-full "$1" && shift && exec "$@""#;

/// What a call that must write answers while the disk is full.
fn store_unavailable() -> Failure {
    Failure::new(
        503,
        "DependencyTimeoutException",
        Some("The key store is temporarily unavailable."),
    )
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_a_retryable_error_until_space_is_freed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir_arg = dir.path().to_str().expect("a UTF-8 path");
    require_namespaces(dir_arg);
    let wrapper = [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        MOUNT_SMALL_DISK,
        "sh",
        dir_arg,
    ];
    let mut keyshard = Keyshard::start_wrapped(dir.path(), &wrapper).await;
    keyshard.expect_unavailable(&["key store unavailable", "request failed"]);
    let client = keyshard.client();
    let disk = process_view(keyshard.pid(), dir.path());

    let key_id = create_key(&client).await;
    create_alias(&client, "alias/before-full", &key_id).await;
    let sealed = encrypt_text(&client, "alias/before-full", "sealed before", &[("a", "b")]).await;
    let mut keys = vec![key_id.clone()];

    let filler = disk.join("filler");
    let filled = fill(&filler);
    assert!(filled > 0, "the filler found no free space");

    // Every call that must write is refused the same way, and nothing half-written shows.
    assert_eq!(
        failure(large_key(&client).send().await),
        store_unavailable()
    );
    assert_eq!(
        failure(
            client
                .create_alias()
                .alias_name("alias/while-full")
                .target_key_id(&key_id)
                .send()
                .await
        ),
        store_unavailable()
    );
    assert_eq!(
        failure(client.disable_key().key_id(&key_id).send().await),
        store_unavailable()
    );
    assert_eq!(
        failure(
            client
                .tag_resource()
                .key_id(&key_id)
                .tags(tag("while-full", "x"))
                .send()
                .await
        ),
        store_unavailable()
    );

    // The operator learns why from the log.
    let log = keyshard.log_text();
    assert!(
        log.lines().any(|line| line.contains(" ERROR ")
            && line.contains("key store unavailable")
            && line.contains("database or disk is full")),
        "no ERROR line gives the cause:\n{log}"
    );

    // Reads and cryptography on existing keys need no new space.
    let described = key_metadata(&client, "alias/before-full").await;
    assert_eq!(described.key_state(), Some(&KeyState::Enabled));
    assert_eq!(listed_keys(&client).await, keys);
    let decrypted = client
        .decrypt()
        .ciphertext_blob(sealed.clone())
        .set_encryption_context(Some(context(&[("a", "b")])))
        .send()
        .await
        .expect("Decrypt while the disk is full");
    assert_eq!(
        decrypted.plaintext().map(|p| p.as_ref().to_vec()),
        Some(b"sealed before".to_vec())
    );
    let generated = client
        .generate_data_key()
        .key_id("alias/before-full")
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey while the disk is full");
    let data_key = generated.plaintext().expect("Plaintext").clone();
    let data_key_blob = generated.ciphertext_blob().expect("CiphertextBlob").clone();
    let reencrypted = client
        .re_encrypt()
        .ciphertext_blob(data_key_blob.clone())
        .destination_key_id(&key_id)
        .send()
        .await
        .expect("ReEncrypt while the disk is full");
    assert_eq!(reencrypted.key_id(), Some(key_arn(&key_id).as_str()));

    // Freed space is used again at once: no restart.
    std::fs::remove_file(&filler).expect("the filler is removed");
    let second = large_key(&client)
        .send()
        .await
        .expect("CreateKey once space is freed");
    let second_id = second
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_owned();
    keys.push(second_id.clone());
    create_alias(&client, "alias/after-full", &second_id).await;
    client
        .disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey once space is freed");
    client
        .enable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKey");

    // Everything from before is intact, and the refused calls left no trace.
    keys.sort_unstable();
    assert_eq!(listed_keys(&client).await, keys);
    let aliases = client.list_aliases().send().await.expect("ListAliases");
    let mut names: Vec<&str> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .filter(|name| !name.starts_with("alias/aws/"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["alias/after-full", "alias/before-full"]);
    let tags = client
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListResourceTags");
    assert_eq!(tags.tags(), []);
    let reopened = client
        .decrypt()
        .ciphertext_blob(data_key_blob)
        .send()
        .await
        .expect("Decrypt of a data key made while the disk was full");
    assert_eq!(reopened.plaintext(), Some(&data_key));
    let reopened = client
        .decrypt()
        .ciphertext_blob(
            reencrypted
                .ciphertext_blob()
                .expect("CiphertextBlob")
                .clone(),
        )
        .send()
        .await
        .expect("Decrypt of a blob re-encrypted while the disk was full");
    assert_eq!(reopened.plaintext(), Some(&data_key));
    let encrypted = client
        .encrypt()
        .key_id("alias/after-full")
        .plaintext(blob("after"))
        .send()
        .await
        .expect("Encrypt under a key made after the disk was freed");
    assert_eq!(encrypted.key_id(), Some(key_arn(&second_id).as_str()));
    assert_eq!(integrity_check(&disk).await, "ok");

    keyshard.finish();
}

/// Fails the test, loudly, where this machine cannot mount a tmpfs in a user namespace of its
/// own: the test would otherwise prove nothing.
fn require_namespaces(dir: &str) {
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=2m keyshard-disk-full "$1""#)
        .args(["sh", dir])
        .output();
    match probe {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "this test runs keyshard on a small tmpfs in a new user and mount namespace, and \
             `unshare --user --map-root-user --mount` with `mount -t tmpfs` failed here: {}. \
             The kernel must allow unprivileged user namespaces \
             (kernel.unprivileged_userns_clone=1, and on Ubuntu \
             kernel.apparmor_restrict_unprivileged_userns=0)",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => panic!("this test needs `unshare` from util-linux, which did not run: {err}"),
    }
}

/// `dir` as the process `pid` sees it, inside its mount namespace.
fn process_view(pid: u32, dir: &Path) -> PathBuf {
    let relative = dir.strip_prefix("/").expect("an absolute path");
    Path::new("/proc")
        .join(pid.to_string())
        .join("root")
        .join(relative)
}

/// Writes zeros to `path` until the file system is full; returns how many bytes it took.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("the filler is created");
    let chunk = vec![0u8; 4096];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) => return written,
            Ok(n) => written += n as u64,
            Err(err) if err.kind() == ErrorKind::StorageFull => return written,
            Err(err) => panic!("the filler could not be written: {err}"),
        }
    }
}

/// A CreateKey whose description and 50 tags take about 20 KiB.
fn large_key(client: &Client) -> CreateKeyFluentBuilder {
    let mut create = client.create_key().description("d".repeat(8192));
    for i in 0..50 {
        create = create.tags(tag(&format!("{i:0>128}"), &"v".repeat(256)));
    }
    create
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .expect("a tag")
}

/// The bare ids of the account's keys, sorted.
async fn listed_keys(client: &Client) -> Vec<String> {
    let listed = client.list_keys().send().await.expect("ListKeys");
    let mut ids: Vec<String> = listed
        .keys()
        .iter()
        .filter_map(|k| k.key_id())
        .map(str::to_owned)
        .collect();
    ids.sort_unstable();
    ids
}

/// SQLite's own verdict on the database in `dir`: `ok` when nothing is corrupt. It checks a copy
/// of the database and its write-ahead log, taken while no call runs: SQLite resolves the
/// `/proc/<pid>/root` link, so it cannot open the files where they are.
async fn integrity_check(dir: &Path) -> String {
    let copy = tempfile::tempdir().expect("a temporary directory");
    for file in ["keyshard.db", "keyshard.db-wal"] {
        std::fs::copy(dir.join(file), copy.path().join(file)).expect("the database is copied");
    }
    let options = SqliteConnectOptions::new().filename(copy.path().join("keyshard.db"));
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .expect("the copied database opens");
    let verdict: (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .expect("PRAGMA integrity_check");
    connection.close().await.ok();
    verdict.0
}
