//! The KMS operations (the `X-Amz-Target` suffix), the permission each needs on a key, and the
//! key-state table that decides, for each operation and key state, whether the call may proceed
//! and which error it gets if not.

use std::fmt;

use crate::error::KmsError;
use crate::grants::GrantOperation;
use crate::spec::KeyState;

macro_rules! operations {
    ($($name:ident,)+) => {
        /// Every operation of the `TrentService` API model (kms-2014-11-01).
        #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
        pub enum Operation {
            $($name,)+
        }

        impl Operation {
            pub const ALL: &'static [Self] = &[$(Self::$name,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)+
                }
            }

            /// The operation named by an `X-Amz-Target` suffix, matched exactly.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(Self::$name),)+
                    _ => None,
                }
            }

            /// `kms:` and the operation's name.
            fn permission_name(self) -> &'static str {
                match self {
                    $(Self::$name => concat!("kms:", stringify!($name)),)+
                }
            }
        }
    };
}

operations! {
    CancelKeyDeletion,
    ConnectCustomKeyStore,
    CreateAlias,
    CreateCustomKeyStore,
    CreateGrant,
    CreateKey,
    Decapsulate,
    Decrypt,
    DeleteAlias,
    DeleteCustomKeyStore,
    DeleteImportedKeyMaterial,
    DeriveSharedSecret,
    DescribeCustomKeyStores,
    DescribeKey,
    DisableKey,
    DisableKeyRotation,
    DisconnectCustomKeyStore,
    EnableKey,
    EnableKeyRotation,
    Encapsulate,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GenerateDataKeyWithoutPlaintext,
    GenerateMac,
    GenerateRandom,
    GetKeyLastUsage,
    GetKeyPolicy,
    GetKeyRotationStatus,
    GetParametersForImport,
    GetPublicKey,
    ImportKeyMaterial,
    ListAliases,
    ListGrants,
    ListKeyPolicies,
    ListKeyRotations,
    ListKeys,
    ListResourceTags,
    ListRetirableGrants,
    PutKeyPolicy,
    ReEncrypt,
    ReplicateKey,
    RetireGrant,
    RevokeGrant,
    RotateKeyOnDemand,
    ScheduleKeyDeletion,
    Sign,
    TagResource,
    UntagResource,
    UpdateAlias,
    UpdateCustomKeyStore,
    UpdateKeyDescription,
    UpdatePrimaryRegion,
    Verify,
    VerifyMac,
}

impl Operation {
    /// The permission this call needs on the key it names by `KeyId`: `kms:` and the operation's
    /// name, except ReEncrypt, which needs [`Action::RE_ENCRYPT_FROM`] on its source key (and
    /// [`Action::RE_ENCRYPT_TO`] on its destination key).
    pub fn action(self) -> Action {
        match self {
            Self::ReEncrypt => Action::RE_ENCRYPT_FROM,
            op => Action(Permission::Call(op)),
        }
    }

    /// Whether a principal of another account may call this operation on a key, given a key
    /// policy or grant that allows it (AWS KMS API Reference: "Cross-account use" of each
    /// operation). Permissions for any other operation have no effect across accounts.
    pub fn allows_cross_account(self) -> bool {
        matches!(
            self,
            Self::CreateGrant
                | Self::Decapsulate
                | Self::Decrypt
                | Self::DeriveSharedSecret
                | Self::DescribeKey
                | Self::Encapsulate
                | Self::Encrypt
                | Self::GenerateDataKey
                | Self::GenerateDataKeyPair
                | Self::GenerateDataKeyPairWithoutPlaintext
                | Self::GenerateDataKeyWithoutPlaintext
                | Self::GenerateMac
                | Self::GetKeyRotationStatus
                | Self::GetPublicKey
                | Self::ListGrants
                | Self::ReEncrypt
                | Self::RetireGrant
                | Self::RevokeGrant
                | Self::Sign
                | Self::Verify
                | Self::VerifyMac
        )
    }

    /// Whether the key policy and grants of a KMS key decide this call. The operations that name
    /// no key (CreateKey, ListKeys, ListAliases, ListRetirableGrants, GenerateRandom and the
    /// custom key store operations) are authorized by IAM policies alone in AWS (AWS KMS
    /// Developer Guide, "AWS KMS permissions"); Keyshard has no IAM and allows them to every
    /// principal of the caller's account.
    pub fn uses_key_policy(self) -> bool {
        !matches!(
            self,
            Self::CreateKey
                | Self::ListKeys
                | Self::ListAliases
                | Self::ListRetirableGrants
                | Self::GenerateRandom
                | Self::ConnectCustomKeyStore
                | Self::CreateCustomKeyStore
                | Self::DeleteCustomKeyStore
                | Self::DescribeCustomKeyStores
                | Self::DisconnectCustomKeyStore
                | Self::UpdateCustomKeyStore
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission a call needs on a KMS key, as policies name it: `kms:Encrypt`, `kms:ReEncryptTo`.
/// Made by [`Operation::action`] or one of the ReEncrypt constants.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Action(Permission);

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
enum Permission {
    Call(Operation),
    ReEncryptFrom,
    ReEncryptTo,
}

impl Action {
    /// ReEncrypt's permission on the key that decrypts.
    pub const RE_ENCRYPT_FROM: Self = Self(Permission::ReEncryptFrom);

    /// ReEncrypt's permission on the key that encrypts again.
    pub const RE_ENCRYPT_TO: Self = Self(Permission::ReEncryptTo);

    /// The action's name in a policy, `kms:` and the permission.
    pub fn name(self) -> &'static str {
        match self.0 {
            Permission::Call(op) => op.permission_name(),
            Permission::ReEncryptFrom => "kms:ReEncryptFrom",
            Permission::ReEncryptTo => "kms:ReEncryptTo",
        }
    }

    /// The grant operation that allows this action, if a grant can (AWS KMS Developer Guide,
    /// "Grant operations"); the grant operations carry the names of the permissions they stand
    /// for.
    pub fn grant_operation(self) -> Option<GrantOperation> {
        GrantOperation::parse(self.name().strip_prefix("kms:")?)
    }

    /// Whether the action may be allowed to a principal of another account.
    pub fn allows_cross_account(self) -> bool {
        match self.0 {
            Permission::Call(op) => op.allows_cross_account(),
            Permission::ReEncryptFrom | Permission::ReEncryptTo => true,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the key-state table refuses a call; each becomes one AWS error.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Refusal {
    Disabled,
    PendingDeletion,
    PendingImport,
    Unavailable,
    NotPendingDeletion,
    Creating,
    Updating,
    Unsupported,
}

/// The columns of the key-state table, in the order of the behaviour reference, section 2.
#[derive(Clone, Copy)]
struct Row {
    enabled: Option<Refusal>,
    disabled: Option<Refusal>,
    pending_deletion: Option<Refusal>,
    pending_import: Option<Refusal>,
    unavailable: Option<Refusal>,
    creating: Option<Refusal>,
    updating: Option<Refusal>,
}

const fn row(
    enabled: Option<Refusal>,
    disabled: Option<Refusal>,
    pending_deletion: Option<Refusal>,
    pending_import: Option<Refusal>,
    unavailable: Option<Refusal>,
    creating: Option<Refusal>,
    updating: Option<Refusal>,
) -> Row {
    Row {
        enabled,
        disabled,
        pending_deletion,
        pending_import,
        unavailable,
        creating,
        updating,
    }
}

use Refusal::{
    Creating as CR, Disabled as D, NotPendingDeletion as NPD, PendingDeletion as PD,
    PendingImport as PI, Unavailable as UA, Unsupported as US, Updating as UP,
};

const ENC: Row = row(None, Some(D), Some(PD), Some(PI), Some(UA), Some(CR), None);
const SIG: Row = row(None, Some(D), Some(PD), Some(PI), None, Some(CR), None);
const CREATE_GRANT: Row = row(None, Some(D), Some(PD), Some(PI), None, Some(CR), None);
const ENABLE_DISABLE: Row = row(None, None, Some(PD), Some(PI), None, Some(CR), Some(UP));
const ROTATION: Row = row(None, Some(D), Some(PD), Some(US), Some(US), Some(CR), None);
const ROTATION_STATUS: Row = row(None, None, None, Some(US), Some(US), Some(CR), None);
const ROTATE_ON_DEMAND: Row = row(None, Some(D), Some(PD), Some(PI), Some(US), Some(CR), None);
const SCHEDULE_DELETION: Row = row(None, None, Some(PD), None, None, None, Some(UP));
const CANCEL_DELETION: Row = row(
    Some(NPD),
    Some(NPD),
    None,
    Some(NPD),
    Some(NPD),
    Some(NPD),
    Some(NPD),
);
const ADM: Row = row(None, None, Some(PD), None, None, None, None);
const IMPORT: Row = row(None, None, Some(PD), None, Some(US), Some(CR), None);
const DELETE_IMPORTED: Row = row(None, None, Some(PD), None, Some(US), Some(CR), Some(UP));
const REPLICATE: Row = row(None, Some(D), Some(PD), Some(PI), None, Some(CR), Some(UP));
const ANY: Row = row(None, None, None, None, None, None, None);

impl Operation {
    /// Whether this operation may act on a key in `state`, and the exact AWS error if not.
    ///
    /// This is the one place the key-state table lives (behaviour reference, section 2).
    /// Operations that take no key answer `Ok` for every state.
    pub fn check_key_state(self, state: KeyState, key_arn: &str) -> Result<(), KmsError> {
        let row = self.state_row();
        let refusal = match state {
            KeyState::Enabled => row.enabled,
            KeyState::Disabled => row.disabled,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => row.pending_deletion,
            KeyState::PendingImport => row.pending_import,
            KeyState::Unavailable => row.unavailable,
            KeyState::Creating => row.creating,
            KeyState::Updating => row.updating,
        };
        match refusal {
            None => Ok(()),
            Some(D) => Err(KmsError::disabled(key_arn)),
            Some(PD) => Err(KmsError::pending_deletion(key_arn)),
            Some(PI) => Err(KmsError::InvalidState(format!(
                "{key_arn} is pending import."
            ))),
            Some(UA) => Err(KmsError::InvalidState(format!("{key_arn} is unavailable."))),
            Some(NPD) => Err(KmsError::InvalidState(format!(
                "{key_arn} is not pending deletion."
            ))),
            Some(CR) => Err(KmsError::InvalidState(format!(
                "{key_arn} is being created."
            ))),
            Some(UP) => Err(KmsError::InvalidState(format!(
                "{key_arn} is being updated."
            ))),
            Some(US) => Err(KmsError::UnsupportedOperation(format!(
                "{key_arn} is in state {state}, which does not support {self}."
            ))),
        }
    }

    fn state_row(self) -> Row {
        match self {
            Self::Encrypt
            | Self::Decrypt
            | Self::ReEncrypt
            | Self::GenerateDataKey
            | Self::GenerateDataKeyWithoutPlaintext
            | Self::GenerateDataKeyPair
            | Self::GenerateDataKeyPairWithoutPlaintext
            | Self::Encapsulate
            | Self::Decapsulate => ENC,
            Self::Sign
            | Self::Verify
            | Self::GenerateMac
            | Self::VerifyMac
            | Self::GetPublicKey
            | Self::DeriveSharedSecret => SIG,
            Self::CreateGrant => CREATE_GRANT,
            Self::EnableKey | Self::DisableKey => ENABLE_DISABLE,
            Self::EnableKeyRotation | Self::DisableKeyRotation => ROTATION,
            Self::GetKeyRotationStatus => ROTATION_STATUS,
            Self::RotateKeyOnDemand => ROTATE_ON_DEMAND,
            Self::ScheduleKeyDeletion => SCHEDULE_DELETION,
            Self::CancelKeyDeletion => CANCEL_DELETION,
            Self::CreateAlias
            | Self::UpdateAlias
            | Self::TagResource
            | Self::UntagResource
            | Self::UpdateKeyDescription => ADM,
            Self::GetParametersForImport | Self::ImportKeyMaterial => IMPORT,
            Self::DeleteImportedKeyMaterial => DELETE_IMPORTED,
            Self::ReplicateKey | Self::UpdatePrimaryRegion => REPLICATE,
            Self::DescribeKey
            | Self::GetKeyPolicy
            | Self::PutKeyPolicy
            | Self::ListKeyPolicies
            | Self::ListAliases
            | Self::ListGrants
            | Self::ListResourceTags
            | Self::ListRetirableGrants
            | Self::ListKeyRotations
            | Self::GetKeyLastUsage
            | Self::RetireGrant
            | Self::RevokeGrant
            | Self::DeleteAlias
            | Self::CreateKey
            | Self::ListKeys
            | Self::GenerateRandom
            | Self::ConnectCustomKeyStore
            | Self::CreateCustomKeyStore
            | Self::DeleteCustomKeyStore
            | Self::DescribeCustomKeyStores
            | Self::DisconnectCustomKeyStore
            | Self::UpdateCustomKeyStore => ANY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn every_operation_name_parses_back() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(*op));
        }
        assert_eq!(Operation::ALL.len(), 56);
        assert_eq!(Operation::parse("generateDataKey"), None);
    }

    #[test]
    fn actions_are_named_as_policies_name_them() {
        assert_eq!(Operation::Encrypt.action().name(), "kms:Encrypt");
        assert_eq!(
            Operation::GenerateDataKeyPairWithoutPlaintext
                .action()
                .to_string(),
            "kms:GenerateDataKeyPairWithoutPlaintext"
        );
        assert_eq!(Operation::ReEncrypt.action(), Action::RE_ENCRYPT_FROM);
        assert_eq!(Action::RE_ENCRYPT_FROM.name(), "kms:ReEncryptFrom");
        assert_eq!(Action::RE_ENCRYPT_TO.name(), "kms:ReEncryptTo");
    }

    #[test]
    fn every_grant_operation_stands_for_exactly_one_action() {
        let mut actions: Vec<Action> = Operation::ALL.iter().map(|op| op.action()).collect();
        actions.push(Action::RE_ENCRYPT_TO);
        let granted: Vec<&str> = actions
            .iter()
            .filter_map(|action| action.grant_operation())
            .map(GrantOperation::as_str)
            .collect();
        assert_eq!(granted.len(), GrantOperation::VALUES.len());
        for name in GrantOperation::VALUES {
            assert!(granted.contains(name), "{name}");
        }
        assert_eq!(Operation::PutKeyPolicy.action().grant_operation(), None);
        assert_eq!(
            Action::RE_ENCRYPT_TO.grant_operation(),
            Some(GrantOperation::ReEncryptTo)
        );
    }

    #[test]
    fn twenty_one_operations_work_across_accounts() {
        let cross: Vec<&str> = Operation::ALL
            .iter()
            .filter(|op| op.allows_cross_account())
            .map(|op| op.as_str())
            .collect();
        assert_eq!(
            cross,
            [
                "CreateGrant",
                "Decapsulate",
                "Decrypt",
                "DeriveSharedSecret",
                "DescribeKey",
                "Encapsulate",
                "Encrypt",
                "GenerateDataKey",
                "GenerateDataKeyPair",
                "GenerateDataKeyPairWithoutPlaintext",
                "GenerateDataKeyWithoutPlaintext",
                "GenerateMac",
                "GetKeyRotationStatus",
                "GetPublicKey",
                "ListGrants",
                "ReEncrypt",
                "RetireGrant",
                "RevokeGrant",
                "Sign",
                "Verify",
                "VerifyMac",
            ]
        );
        assert!(Action::RE_ENCRYPT_TO.allows_cross_account());
        assert!(!Operation::PutKeyPolicy.action().allows_cross_account());
    }

    #[test]
    fn eleven_operations_name_no_key_and_skip_the_key_policy() {
        let keyless = Operation::ALL
            .iter()
            .filter(|op| !op.uses_key_policy())
            .count();
        assert_eq!(keyless, 11);
        assert!(Operation::CreateAlias.uses_key_policy());
        assert!(!Operation::GenerateRandom.uses_key_policy());
    }

    #[test]
    fn cryptographic_operations_refuse_a_disabled_key_with_aws_wording() {
        for op in [
            Operation::Encrypt,
            Operation::Decrypt,
            Operation::GenerateDataKey,
        ] {
            assert_eq!(
                op.check_key_state(KeyState::Disabled, ARN),
                Err(KmsError::Disabled(format!("{ARN} is disabled.")))
            );
        }
    }

    #[test]
    fn cryptographic_operations_refuse_a_key_pending_deletion() {
        assert_eq!(
            Operation::GenerateDataKeyWithoutPlaintext
                .check_key_state(KeyState::PendingDeletion, ARN),
            Err(KmsError::InvalidState(format!(
                "{ARN} is pending deletion."
            )))
        );
        assert_eq!(
            Operation::Encrypt.check_key_state(KeyState::PendingReplicaDeletion, ARN),
            Err(KmsError::InvalidState(format!(
                "{ARN} is pending deletion."
            )))
        );
    }

    #[test]
    fn enabled_keys_allow_every_operation_but_cancel_deletion() {
        for op in Operation::ALL {
            let expected = if *op == Operation::CancelKeyDeletion {
                Err(KmsError::InvalidState(format!(
                    "{ARN} is not pending deletion."
                )))
            } else {
                Ok(())
            };
            assert_eq!(op.check_key_state(KeyState::Enabled, ARN), expected, "{op}");
        }
    }

    #[test]
    fn describe_key_works_in_every_state() {
        for state in KeyState::VALUES.iter().filter_map(|s| KeyState::parse(s)) {
            assert_eq!(Operation::DescribeKey.check_key_state(state, ARN), Ok(()));
        }
    }

    #[test]
    fn administration_is_allowed_on_disabled_keys_but_not_pending_deletion() {
        assert_eq!(
            Operation::CreateAlias.check_key_state(KeyState::Disabled, ARN),
            Ok(())
        );
        assert_eq!(
            Operation::CreateAlias.check_key_state(KeyState::PendingDeletion, ARN),
            Err(KmsError::InvalidState(format!(
                "{ARN} is pending deletion."
            )))
        );
    }
}
