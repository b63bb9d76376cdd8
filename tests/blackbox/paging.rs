//! ListKeys and ListAliases: paging by hand and with the SDK paginators, and the KeyId filter
//! (behaviour reference, section 5.5; case BC-05).

use std::collections::BTreeSet;

use aws_sdk_kms::Client;
use serde_json::{Value, json};

use crate::harness::Keyshard;
use crate::support::{Failure, create_key, failure, key_arn};

/// Follows `NextMarker` with `Limit` 2 over raw HTTP, checking each page's shape, and returns
/// the `id_member` of every entry in the order received.
async fn pages_of_two(
    ks: &Keyshard,
    target: &str,
    list_member: &str,
    id_member: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..100 {
        let mut request = json!({"Limit": 2});
        if let Some(m) = &marker {
            request["Marker"] = json!(m);
        }
        let (status, page) = ks.raw(target, &request).await;
        assert_eq!(status, 200, "{page}");
        let entries = page[list_member].as_array().expect("a list of entries");
        assert!(entries.len() <= 2, "{page}");
        seen.extend(
            entries
                .iter()
                .map(|e| e[id_member].as_str().expect("an id").to_owned()),
        );
        // Absent, not null, when there is no further page (reference, sections 0 and 5.5).
        match (page.get("Truncated"), page.get("NextMarker")) {
            (Some(Value::Bool(true)), Some(Value::String(next))) => marker = Some(next.clone()),
            (Some(Value::Bool(false)), None) => return seen,
            _ => {
                panic!("Truncated must be present, and NextMarker exactly when it is true: {page}")
            }
        }
    }
    panic!("paging did not end after 100 pages");
}

fn unique(ids: &[String]) -> BTreeSet<String> {
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "duplicates in {ids:?}");
    set
}

async fn create_aliases(client: &Client, key_id: &str, names: impl IntoIterator<Item = String>) {
    for name in names {
        client
            .create_alias()
            .alias_name(name)
            .target_key_id(key_id)
            .send()
            .await
            .expect("CreateAlias");
    }
}

#[tokio::test]
async fn list_keys_pages_of_two_cover_every_key_exactly_once() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let mut created = BTreeSet::new();
    for _ in 0..5 {
        created.insert(create_key(&client).await);
    }

    let seen = pages_of_two(&ks, "ListKeys", "Keys", "KeyId").await;
    assert_eq!(unique(&seen), created);

    ks.finish();
}

#[tokio::test]
async fn the_list_keys_paginator_reaches_all_150_keys_in_pages_of_100() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let mut created = BTreeSet::new();
    for _ in 0..150 {
        created.insert(create_key(&client).await);
    }

    let mut pages = client.list_keys().into_paginator().send();
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListKeys page");
        assert_eq!(
            page.truncated(),
            page.next_marker().is_some(),
            "NextMarker is present exactly while Truncated"
        );
        sizes.push(page.keys().len());
        for entry in page.keys() {
            let id = entry.key_id().expect("KeyId").to_owned();
            assert_eq!(entry.key_arn(), Some(key_arn(&id).as_str()));
            seen.push(id);
        }
    }
    assert_eq!(sizes, [100, 50]);
    assert_eq!(unique(&seen), created);

    ks.finish();
}

#[tokio::test]
async fn list_keys_with_a_marker_it_did_not_hand_out_is_an_invalid_marker() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    create_aliases(&client, &key_id, ["alias/a", "alias/b"].map(str::to_owned)).await;
    let aliases = client.list_aliases().limit(1).send().await;
    let alias_marker = aliases
        .expect("ListAliases")
        .next_marker()
        .expect("a second page of aliases")
        .to_owned();

    for marker in ["garbage".to_owned(), alias_marker] {
        let listed = client.list_keys().marker(&marker).send().await;
        // The text is unknown (reference, BC-05), so only the type is asserted.
        assert_eq!(
            failure(listed).kind(),
            (400, "InvalidMarkerException"),
            "{marker}"
        );
    }

    ks.finish();
}

#[tokio::test]
async fn list_aliases_pages_of_two_cover_every_alias_exactly_once() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    let key_id = create_key(&client).await;
    let names: Vec<String> = (0..5).map(|i| format!("alias/page-{i}")).collect();
    create_aliases(&client, &key_id, names.clone()).await;

    let seen = pages_of_two(&ks, "ListAliases", "Aliases", "AliasName").await;
    let customer: Vec<String> = seen
        .into_iter()
        .filter(|n| !n.starts_with("alias/aws/"))
        .collect();
    assert_eq!(unique(&customer), names.into_iter().collect());

    ks.finish();
}

#[tokio::test]
async fn list_aliases_pages_hold_50_by_default_and_the_paginator_reaches_the_end() {
    let ks = Keyshard::start().await;
    let client = ks.client();
    // A key may have at most 50 aliases, so two keys carry the 52.
    let mut names = BTreeSet::new();
    for half in 0..2 {
        let key_id = create_key(&client).await;
        let batch: Vec<String> = (0..26).map(|i| format!("alias/k{half}-{i:02}")).collect();
        names.extend(batch.iter().cloned());
        create_aliases(&client, &key_id, batch).await;
    }

    let first = client.list_aliases().send().await.expect("ListAliases");
    assert_eq!(first.aliases().len(), 50);
    assert!(first.truncated());
    assert!(first.next_marker().is_some());

    let mut pages = client.list_aliases().into_paginator().send();
    let mut seen = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListAliases page");
        assert_eq!(page.truncated(), page.next_marker().is_some());
        seen.extend(
            page.aliases()
                .iter()
                .map(|a| a.alias_name().unwrap_or_default().to_owned())
                .filter(|n| !n.starts_with("alias/aws/")),
        );
    }
    assert_eq!(unique(&seen), names);

    ks.finish();
}

#[tokio::test]
async fn list_aliases_with_a_garbage_marker_is_an_invalid_marker() {
    let ks = Keyshard::start().await;

    let listed = ks.client().list_aliases().marker("garbage").send().await;
    assert_eq!(failure(listed).kind(), (400, "InvalidMarkerException"));

    ks.finish();
}

// ListAliases pages hold at most 100, although the shared model type allows 1000
// (reference, section 5.5).
#[tokio::test]
async fn list_aliases_with_a_limit_above_100_is_a_validation_error() {
    let ks = Keyshard::start().await;
    let client = ks.client();

    for limit in [0, 101, 500] {
        let listed = client.list_aliases().limit(limit).send().await;
        assert_eq!(
            failure(listed).kind(),
            (400, "ValidationException"),
            "{limit}"
        );
    }
    let listed = client.list_aliases().limit(100).send().await;
    let listed = listed.expect("Limit 100 is allowed");
    assert_eq!((listed.truncated(), listed.next_marker()), (false, None));

    ks.finish();
}

#[tokio::test]
async fn list_aliases_filtered_by_key_shows_only_that_keys_aliases_and_an_unknown_key_is_not_found()
{
    let ks = Keyshard::start().await;
    let client = ks.client();
    let first = create_key(&client).await;
    let second = create_key(&client).await;
    for (name, target) in [
        ("alias/first-a", &first),
        ("alias/first-b", &first),
        ("alias/second", &second),
    ] {
        client
            .create_alias()
            .alias_name(name)
            .target_key_id(target)
            .send()
            .await
            .expect("CreateAlias");
    }

    for form in [first.clone(), key_arn(&first)] {
        let listed = client
            .list_aliases()
            .key_id(&form)
            .send()
            .await
            .expect("ListAliases");
        let mut names: Vec<&str> = listed
            .aliases()
            .iter()
            .map(|a| a.alias_name().unwrap_or_default())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["alias/first-a", "alias/first-b"], "{form}");
        assert!(
            listed
                .aliases()
                .iter()
                .all(|a| a.target_key_id() == Some(first.as_str()))
        );
    }
    let unknown = "0b4f2d6e-7f1a-4c3b-9d2e-5a6b7c8d9e0f";
    let listed = client.list_aliases().key_id(unknown).send().await;
    let message = format!("Key '{}' does not exist", key_arn(unknown));
    assert_eq!(
        failure(listed),
        Failure::new(400, "NotFoundException", Some(&message))
    );

    ks.finish();
}
