//! The model's enums that Keyshard stores or answers with: key specs, usages, states, origins,
//! data-key specs and encryption algorithms, each with its exact wire spelling.

/// Declares a wire enum: a Rust enum whose variants map one to one onto the model's strings, in
/// the model's order, with `as_str`, `parse` and the list of every value (used in validation
/// messages, which print the set in this order).
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const VALUES: &'static [&'static str] = &[$($wire,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// Other modules of this crate declare their model enums the same way.
pub(crate) use wire_enum;

wire_enum! {
    /// `KeySpec` (and its deprecated twin `CustomerMasterKeySpec`, a subset).
    KeySpec {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        Hmac224 => "HMAC_224",
        Hmac256 => "HMAC_256",
        Hmac384 => "HMAC_384",
        Hmac512 => "HMAC_512",
        Sm2 => "SM2",
        MlDsa44 => "ML_DSA_44",
        MlDsa65 => "ML_DSA_65",
        MlDsa87 => "ML_DSA_87",
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        MlKem512 => "ML_KEM_512",
        MlKem768 => "ML_KEM_768",
        MlKem1024 => "ML_KEM_1024",
    }
}

wire_enum! {
    /// The deprecated `CustomerMasterKeySpec` request member's values.
    CustomerMasterKeySpec {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        Hmac224 => "HMAC_224",
        Hmac256 => "HMAC_256",
        Hmac384 => "HMAC_384",
        Hmac512 => "HMAC_512",
        Sm2 => "SM2",
    }
}

wire_enum! {
    /// `KeyUsageType`.
    KeyUsage {
        SignVerify => "SIGN_VERIFY",
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        KeyAgreement => "KEY_AGREEMENT",
        EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
    }
}

wire_enum! {
    /// `KeyState`.
    KeyState {
        Creating => "Creating",
        Enabled => "Enabled",
        Disabled => "Disabled",
        PendingDeletion => "PendingDeletion",
        PendingImport => "PendingImport",
        PendingReplicaDeletion => "PendingReplicaDeletion",
        Unavailable => "Unavailable",
        Updating => "Updating",
    }
}

wire_enum! {
    /// `OriginType`.
    Origin {
        AwsKms => "AWS_KMS",
        External => "EXTERNAL",
        AwsCloudHsm => "AWS_CLOUDHSM",
        ExternalKeyStore => "EXTERNAL_KEY_STORE",
    }
}

wire_enum! {
    /// `DataKeySpec`, the `KeySpec` member of GenerateDataKey.
    DataKeySpec {
        Aes256 => "AES_256",
        Aes128 => "AES_128",
    }
}

wire_enum! {
    /// `EncryptionAlgorithmSpec`.
    EncryptionAlgorithm {
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        Sm2Pke => "SM2PKE",
    }
}

wire_enum! {
    /// `KeyEncryptionMechanism`, the algorithm of a `Recipient`.
    KeyEncryptionMechanism {
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
    }
}

wire_enum! {
    /// `DryRunModifierType`.
    DryRunModifier {
        IgnoreCiphertext => "IGNORE_CIPHERTEXT",
    }
}

impl DataKeySpec {
    /// The data key length in bytes (AES_128: 16, AES_256: 32).
    pub fn byte_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes256 => 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_back_to_itself() {
        for value in KeySpec::VALUES {
            assert_eq!(KeySpec::parse(value).map(KeySpec::as_str), Some(*value));
        }
        for value in KeyState::VALUES {
            assert_eq!(KeyState::parse(value).map(KeyState::as_str), Some(*value));
        }
    }

    #[test]
    fn values_are_case_sensitive() {
        assert_eq!(KeySpec::parse("symmetric_default"), None);
        assert_eq!(DataKeySpec::parse("AES_256"), Some(DataKeySpec::Aes256));
    }

    #[test]
    fn data_key_specs_give_aws_lengths() {
        assert_eq!(
            (
                DataKeySpec::Aes128.byte_len(),
                DataKeySpec::Aes256.byte_len()
            ),
            (16, 32)
        );
    }
}
