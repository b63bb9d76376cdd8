//! Public API messages to the gateway's request models, and shard answers to public API
//! messages. Absent members stay absent, so validation sees what the JSON front end would.

use std::collections::{BTreeMap, HashMap};

use keyshard_core::spec::EncryptionAlgorithm;
use keyshard_proto::{kms, v1};
use prost_types::Timestamp;

use crate::json::Blob;
use crate::ops::{aliases, data, keys, reencrypt, tags};

/// An empty map or list is an absent member: protobuf cannot tell them apart.
fn map(context: HashMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!context.is_empty()).then(|| context.into_iter().collect())
}

fn list<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn timestamp(millis: i64) -> Timestamp {
    Timestamp {
        seconds: millis.div_euclid(1000),
        // Below 1000 ms, so the product fits.
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// The one algorithm of Keyshard's symmetric keys, as answers name it.
fn symmetric_default() -> String {
    EncryptionAlgorithm::SymmetricDefault.as_str().to_owned()
}

pub(super) fn create_key(r: kms::CreateKeyRequest) -> keys::CreateKeyRequest {
    keys::CreateKeyRequest {
        policy: r.policy,
        description: r.description,
        key_usage: r.key_usage,
        customer_master_key_spec: r.customer_master_key_spec,
        key_spec: r.key_spec,
        origin: r.origin,
        custom_key_store_id: r.custom_key_store_id,
        bypass_policy_lockout_safety_check: r.bypass_policy_lockout_safety_check,
        tags: list(
            r.tags
                .into_iter()
                .map(|t| tags::Tag {
                    tag_key: Some(t.tag_key),
                    tag_value: Some(t.tag_value),
                })
                .collect(),
        ),
        multi_region: r.multi_region,
        xks_key_id: r.xks_key_id,
    }
}

pub(super) fn describe_key(r: kms::DescribeKeyRequest) -> keys::DescribeKeyRequest {
    keys::DescribeKeyRequest {
        key_id: r.key_id,
        grant_tokens: list(r.grant_tokens),
    }
}

pub(super) fn list_keys(r: kms::ListKeysRequest) -> keys::ListKeysRequest {
    keys::ListKeysRequest {
        limit: r.limit.map(i64::from),
        marker: r.marker,
        resource_owners: None,
    }
}

pub(super) fn create_alias(r: kms::CreateAliasRequest) -> aliases::AliasRequest {
    aliases::AliasRequest {
        alias_name: r.alias_name,
        target_key_id: r.target_key_id,
    }
}

pub(super) fn list_aliases(r: kms::ListAliasesRequest) -> aliases::ListAliasesRequest {
    aliases::ListAliasesRequest {
        key_id: r.key_id,
        limit: r.limit.map(i64::from),
        marker: r.marker,
    }
}

pub(super) fn delete_alias(r: kms::DeleteAliasRequest) -> aliases::DeleteAliasRequest {
    aliases::DeleteAliasRequest {
        alias_name: r.alias_name,
    }
}

pub(super) fn encrypt(r: kms::EncryptRequest) -> data::EncryptRequest {
    data::EncryptRequest {
        key_id: r.key_id,
        plaintext: r.plaintext.map(Blob),
        encryption_context: map(r.encryption_context),
        grant_tokens: list(r.grant_tokens),
        encryption_algorithm: r.encryption_algorithm,
        dry_run: r.dry_run,
    }
}

pub(super) fn decrypt(r: kms::DecryptRequest) -> data::DecryptRequest {
    data::DecryptRequest {
        ciphertext_blob: r.ciphertext_blob.map(Blob),
        encryption_context: map(r.encryption_context),
        grant_tokens: list(r.grant_tokens),
        key_id: r.key_id,
        encryption_algorithm: r.encryption_algorithm,
        recipient: None,
        dry_run: r.dry_run,
        dry_run_modifiers: list(r.dry_run_modifiers),
    }
}

pub(super) fn re_encrypt(r: kms::ReEncryptRequest) -> reencrypt::ReEncryptRequest {
    reencrypt::ReEncryptRequest {
        ciphertext_blob: r.ciphertext_blob.map(Blob),
        source_encryption_context: map(r.source_encryption_context),
        source_key_id: r.source_key_id,
        destination_key_id: r.destination_key_id,
        destination_encryption_context: map(r.destination_encryption_context),
        source_encryption_algorithm: r.source_encryption_algorithm,
        destination_encryption_algorithm: r.destination_encryption_algorithm,
        grant_tokens: list(r.grant_tokens),
        dry_run: r.dry_run,
        dry_run_modifiers: list(r.dry_run_modifiers),
    }
}

pub(super) fn generate_data_key(r: kms::GenerateDataKeyRequest) -> data::GenerateDataKeyRequest {
    data::GenerateDataKeyRequest {
        key_id: r.key_id,
        encryption_context: map(r.encryption_context),
        number_of_bytes: r.number_of_bytes.map(i64::from),
        key_spec: r.key_spec,
        grant_tokens: list(r.grant_tokens),
        recipient: None,
        dry_run: r.dry_run,
    }
}

pub(super) fn generate_data_key_without_plaintext(
    r: kms::GenerateDataKeyWithoutPlaintextRequest,
) -> data::GenerateDataKeyRequest {
    data::GenerateDataKeyRequest {
        key_id: r.key_id,
        encryption_context: map(r.encryption_context),
        number_of_bytes: r.number_of_bytes.map(i64::from),
        key_spec: r.key_spec,
        grant_tokens: list(r.grant_tokens),
        recipient: None,
        dry_run: r.dry_run,
    }
}

pub(super) fn generate_random(r: kms::GenerateRandomRequest) -> data::GenerateRandomRequest {
    data::GenerateRandomRequest {
        number_of_bytes: r.number_of_bytes.map(i64::from),
        custom_key_store_id: r.custom_key_store_id,
        recipient: None,
    }
}

pub(super) fn key_metadata(m: v1::KeyMetadata) -> kms::KeyMetadata {
    kms::KeyMetadata {
        aws_account_id: m.account_id,
        key_id: m.key_id,
        arn: m.arn,
        creation_date: Some(timestamp(m.creation_date_millis)),
        enabled: m.enabled,
        description: m.description,
        key_usage: m.key_usage,
        key_state: m.key_state,
        deletion_date: m.deletion_date_millis.map(timestamp),
        origin: m.origin,
        key_manager: m.key_manager,
        customer_master_key_spec: m.key_spec.clone(),
        key_spec: m.key_spec,
        encryption_algorithms: m.encryption_algorithms,
        multi_region: m.multi_region,
        current_key_material_id: Some(m.current_key_material_id).filter(|id| !id.is_empty()),
    }
}

pub(super) fn list_keys_response(r: v1::ListKeysResponse) -> kms::ListKeysResponse {
    kms::ListKeysResponse {
        keys: r
            .keys
            .into_iter()
            .map(|k| kms::KeyListEntry {
                key_id: k.key_id,
                key_arn: k.key_arn,
            })
            .collect(),
        next_marker: r.next_marker,
        truncated: r.truncated,
    }
}

pub(super) fn list_aliases_response(r: v1::ListAliasesResponse) -> kms::ListAliasesResponse {
    kms::ListAliasesResponse {
        aliases: r
            .aliases
            .into_iter()
            .map(|a| kms::AliasListEntry {
                alias_name: a.alias_name,
                alias_arn: a.alias_arn,
                target_key_id: a.target_key_id,
                creation_date: Some(timestamp(a.creation_date_millis)),
                last_updated_date: Some(timestamp(a.last_updated_date_millis)),
            })
            .collect(),
        next_marker: r.next_marker,
        truncated: r.truncated,
    }
}

pub(super) fn encrypt_response(mut r: v1::EncryptResponse) -> kms::EncryptResponse {
    kms::EncryptResponse {
        ciphertext_blob: std::mem::take(&mut r.ciphertext_blob),
        key_id: std::mem::take(&mut r.key_id),
        encryption_algorithm: symmetric_default(),
        key_material_id: std::mem::take(&mut r.key_material_id),
    }
}

pub(super) fn decrypt_response(mut r: v1::DecryptResponse) -> kms::DecryptResponse {
    kms::DecryptResponse {
        key_id: std::mem::take(&mut r.key_id),
        plaintext: std::mem::take(&mut r.plaintext),
        encryption_algorithm: symmetric_default(),
        key_material_id: std::mem::take(&mut r.key_material_id),
    }
}

pub(super) fn re_encrypt_response(r: v1::ReEncryptResponse) -> kms::ReEncryptResponse {
    kms::ReEncryptResponse {
        ciphertext_blob: r.ciphertext_blob,
        source_key_id: r.source_key_id,
        key_id: r.key_id,
        source_encryption_algorithm: symmetric_default(),
        destination_encryption_algorithm: symmetric_default(),
        source_key_material_id: r.source_key_material_id,
        destination_key_material_id: r.destination_key_material_id,
    }
}

pub(super) fn data_key_response(
    mut r: v1::GenerateDataKeyResponse,
) -> kms::GenerateDataKeyResponse {
    kms::GenerateDataKeyResponse {
        ciphertext_blob: std::mem::take(&mut r.ciphertext_blob),
        plaintext: std::mem::take(&mut r.plaintext),
        key_id: std::mem::take(&mut r.key_id),
        key_material_id: std::mem::take(&mut r.key_material_id),
    }
}

pub(super) fn data_key_without_plaintext_response(
    mut r: v1::GenerateDataKeyResponse,
) -> kms::GenerateDataKeyWithoutPlaintextResponse {
    kms::GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: std::mem::take(&mut r.ciphertext_blob),
        key_id: std::mem::take(&mut r.key_id),
        key_material_id: std::mem::take(&mut r.key_material_id),
    }
}

pub(super) fn random_response(mut r: v1::GenerateRandomResponse) -> kms::GenerateRandomResponse {
    kms::GenerateRandomResponse {
        plaintext: std::mem::take(&mut r.plaintext),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_milliseconds_before_and_after_the_epoch() {
        assert_eq!(
            timestamp(1_700_000_000_123),
            Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_000_000
            }
        );
        assert_eq!(
            timestamp(-1),
            Timestamp {
                seconds: -1,
                nanos: 999_000_000
            }
        );
    }

    #[test]
    fn empty_repeated_members_are_absent_and_set_optionals_stay_set() {
        let converted = generate_data_key(kms::GenerateDataKeyRequest {
            key_id: Some(String::new()),
            number_of_bytes: Some(0),
            ..Default::default()
        });
        assert_eq!(converted.key_id.as_deref(), Some(""));
        assert_eq!(converted.number_of_bytes, Some(0));
        assert_eq!(converted.encryption_context, None);
        assert_eq!(converted.grant_tokens, None);
        assert_eq!(converted.key_spec, None);
    }
}
