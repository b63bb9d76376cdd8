//! Conversions between generated messages and core types, and the redacting `Debug` of the
//! messages that carry plaintext.

use std::fmt;

use keyshard_core::authz::{Caller, Requester};
use keyshard_core::id::Scope;
use keyshard_core::tags::Tag;
use tonic::Status;

use crate::{k8s_kms_v2, kms, v1};

impl v1::Caller {
    /// A caller in `scope` acting as `principal`.
    pub fn acting_as(scope: &Scope, principal: &str) -> Self {
        Self {
            account_id: scope.account.to_string(),
            region: scope.region.to_string(),
            principal: principal.to_owned(),
        }
    }
}

/// A requester as the shard reads it back.
impl From<&Requester> for v1::Caller {
    fn from(requester: &Requester) -> Self {
        Self::acting_as(&requester.scope, requester.caller.principal())
    }
}

/// A caller acting as its account's root principal.
impl From<&Scope> for v1::Caller {
    fn from(scope: &Scope) -> Self {
        Self::acting_as(
            scope,
            Caller::account_root(scope.account.clone()).principal(),
        )
    }
}

/// The caller of a request and the scope it acts in. A missing or malformed caller, or a
/// principal outside the caller's account, is a gateway bug, answered as `InvalidArgument`. A
/// caller without a principal acts as its account's root.
pub fn caller_scope(caller: Option<&v1::Caller>) -> Result<Requester, Status> {
    let caller = caller.ok_or_else(|| Status::invalid_argument("missing caller"))?;
    let scope = Scope {
        account: caller
            .account_id
            .parse()
            .map_err(|_| Status::invalid_argument("malformed caller account id"))?,
        region: caller
            .region
            .parse()
            .map_err(|_| Status::invalid_argument("malformed caller region"))?,
    };
    let principal = if caller.principal.is_empty() {
        Caller::account_root(scope.account.clone())
    } else {
        Caller::from_principal_arn(&caller.principal)
            .filter(|principal| *principal.account() == scope.account)
            .ok_or_else(|| Status::invalid_argument("malformed caller principal"))?
    };
    Ok(Requester {
        scope,
        caller: principal,
    })
}

impl From<v1::Tag> for Tag {
    fn from(tag: v1::Tag) -> Self {
        Self {
            key: tag.key,
            value: tag.value,
        }
    }
}

impl From<Tag> for v1::Tag {
    fn from(tag: Tag) -> Self {
        Self {
            key: tag.key,
            value: tag.value,
        }
    }
}

/// The length of a secret field, the one thing its `Debug` shows.
trait SecretLen {
    fn secret_len(&self) -> usize;
}

impl SecretLen for Vec<u8> {
    fn secret_len(&self) -> usize {
        self.len()
    }
}

impl SecretLen for Option<Vec<u8>> {
    fn secret_len(&self) -> usize {
        self.as_ref().map_or(0, Vec::len)
    }
}

macro_rules! redacted_debug {
    ($package:ident: $($message:ident { $($field:ident),* } redacting { $($secret:ident),* })+) => {
        $(
            impl fmt::Debug for $package::$message {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct(stringify!($message))
                        $(.field(stringify!($field), &self.$field))*
                        $(.field(stringify!($secret), &format_args!("<{} bytes redacted>", self.$secret.secret_len())))*
                        .finish()
                }
            }
        )+
    };
}

redacted_debug! {
    v1:
    GenerateDataKeyResponse { ciphertext_blob, key_id, key_material_id } redacting { plaintext }
    EncryptRequest { caller, key_id, encryption_context, dry_run } redacting { plaintext }
    DecryptResponse { key_id, key_material_id } redacting { plaintext }
    GenerateRandomResponse { } redacting { plaintext }
    GetSigningKeyResponse {
        account_id, principal, session_token_sha256, expires_at_millis, quotas
    } redacting { signing_key }
}

redacted_debug! {
    kms:
    GenerateDataKeyResponse { ciphertext_blob, key_id, key_material_id } redacting { plaintext }
    EncryptRequest {
        key_id, encryption_context, grant_tokens, encryption_algorithm, dry_run
    } redacting { plaintext }
    DecryptResponse { key_id, encryption_algorithm, key_material_id } redacting { plaintext }
    GenerateRandomResponse { } redacting { plaintext }
}

redacted_debug! {
    k8s_kms_v2:
    EncryptRequest { uid } redacting { plaintext }
    DecryptResponse { } redacting { plaintext }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_plaintext_messages_hides_the_plaintext() {
        let response = v1::DecryptResponse {
            plaintext: b"secret data".to_vec(),
            key_id: "arn".to_owned(),
            key_material_id: "id".to_owned(),
        };
        assert_eq!(
            format!("{response:?}"),
            "DecryptResponse { key_id: \"arn\", key_material_id: \"id\", plaintext: <11 bytes redacted> }"
        );
    }

    #[test]
    fn a_caller_converts_to_a_scope_and_back() {
        let scope = Scope {
            account: "111122223333".parse().unwrap(),
            region: "us-east-1".parse().unwrap(),
        };
        let caller = v1::Caller::from(&scope);
        let requester = caller_scope(Some(&caller)).unwrap();
        assert_eq!(requester.scope, scope);
        assert_eq!(
            requester.caller.principal(),
            "arn:aws:iam::111122223333:root"
        );
        let user = "arn:aws:iam::111122223333:user/alice";
        let caller = v1::Caller::acting_as(&scope, user);
        assert_eq!(
            caller_scope(Some(&caller)).unwrap().caller.principal(),
            user
        );
    }

    #[test]
    fn a_missing_or_malformed_caller_is_an_invalid_argument() {
        let bad = v1::Caller {
            account_id: "12".to_owned(),
            region: "us-east-1".to_owned(),
            principal: String::new(),
        };
        let foreign = v1::Caller {
            account_id: "111122223333".to_owned(),
            region: "us-east-1".to_owned(),
            principal: "arn:aws:iam::444455556666:user/mallory".to_owned(),
        };
        for caller in [None, Some(&bad), Some(&foreign)] {
            assert_eq!(
                caller_scope(caller).unwrap_err().code(),
                tonic::Code::InvalidArgument
            );
        }
    }
}
