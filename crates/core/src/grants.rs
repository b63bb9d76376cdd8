//! Grants without I/O: the grant operations, the principals and constraints a grant names, grant
//! ids and tokens, and the rules CreateGrant applies beyond the model (behaviour reference,
//! section 5.3; AWS KMS API Reference, CreateGrant).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::KmsError;
use crate::id::KeyId;
use crate::spec::{KeySpec, KeyUsage, wire_enum};

wire_enum! {
    /// `GrantOperation`: what a grant allows.
    GrantOperation {
        Decrypt => "Decrypt",
        Encrypt => "Encrypt",
        GenerateDataKey => "GenerateDataKey",
        GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
        ReEncryptFrom => "ReEncryptFrom",
        ReEncryptTo => "ReEncryptTo",
        Sign => "Sign",
        Verify => "Verify",
        GetPublicKey => "GetPublicKey",
        CreateGrant => "CreateGrant",
        RetireGrant => "RetireGrant",
        DescribeKey => "DescribeKey",
        GenerateDataKeyPair => "GenerateDataKeyPair",
        GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
        GenerateMac => "GenerateMac",
        VerifyMac => "VerifyMac",
        DeriveSharedSecret => "DeriveSharedSecret",
        Encapsulate => "Encapsulate",
        Decapsulate => "Decapsulate",
    }
}

/// Grants one key may have (AWS KMS resource quota).
pub const MAX_GRANTS_PER_KEY: u32 = 50_000;

/// Pairs one encryption context constraint may hold (AWS KMS API Reference, CreateGrant:
/// Constraints).
pub const MAX_CONSTRAINT_PAIRS: usize = 8;

/// Characters, keys and values together, of one encryption context constraint (AWS KMS API
/// Reference, CreateGrant: Constraints).
pub const MAX_CONSTRAINT_CHARS: usize = 384;

impl GrantOperation {
    /// Whether a grant on a key of this spec and usage may allow this operation (AWS KMS
    /// Developer Guide, "Grant operations"): DescribeKey and the grant operations on every key,
    /// the rest only where the key can do them.
    pub fn applies_to(self, spec: KeySpec, usage: KeyUsage) -> bool {
        let symmetric = spec == KeySpec::SymmetricDefault;
        match self {
            Self::CreateGrant | Self::RetireGrant | Self::DescribeKey => true,
            Self::Decrypt | Self::Encrypt | Self::ReEncryptFrom | Self::ReEncryptTo => {
                usage == KeyUsage::EncryptDecrypt
            }
            Self::GenerateDataKey
            | Self::GenerateDataKeyWithoutPlaintext
            | Self::GenerateDataKeyPair
            | Self::GenerateDataKeyPairWithoutPlaintext => {
                usage == KeyUsage::EncryptDecrypt && symmetric
            }
            Self::GetPublicKey => !symmetric && usage != KeyUsage::GenerateVerifyMac,
            Self::Sign | Self::Verify => usage == KeyUsage::SignVerify,
            Self::GenerateMac | Self::VerifyMac => usage == KeyUsage::GenerateVerifyMac,
            Self::DeriveSharedSecret => usage == KeyUsage::KeyAgreement,
            Self::Encapsulate | Self::Decapsulate => usage == KeyUsage::EncapsulateDecapsulate,
        }
    }
}

/// A grant's id: 32 random bytes, written as 64 lowercase hex digits as AWS writes them.
#[derive(Clone, Copy, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct GrantId([u8; 32]);

impl GrantId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the form Keyshard hands out: exactly 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let text = s.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(Self(bytes))
    }

    /// The id a request's `GrantId` names, or InvalidGrantIdException when it cannot be one.
    pub fn parse_request(s: &str) -> Result<Self, KmsError> {
        Self::parse(s).ok_or_else(|| KmsError::InvalidGrantId(format!("Invalid grant ID '{s}'")))
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantId({self})")
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// What a grant token carries: the grant it names and that grant's key. Tokens are not secrets:
/// they identify a grant (AWS KMS API Reference, RetireGrant: GrantToken), and every token of a
/// grant is as good as any other.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct GrantToken {
    pub key_id: KeyId,
    pub grant_id: GrantId,
}

impl GrantToken {
    /// Layout version of the decoded token.
    const VERSION: u8 = 1;
    /// Version, key id, grant id and a nonce.
    const LEN: usize = 1 + 16 + 32 + 16;

    /// A fresh token: URL-safe base64 of the version, the key id, the grant id and a random
    /// nonce, so that every CreateGrant answer carries a token of its own.
    pub fn issue(self) -> String {
        let mut bytes = Vec::with_capacity(Self::LEN);
        bytes.push(Self::VERSION);
        bytes.extend_from_slice(self.key_id.as_bytes());
        bytes.extend_from_slice(&self.grant_id.0);
        bytes.extend_from_slice(Uuid::new_v4().as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The grant a token names, or InvalidGrantTokenException when it is not a token Keyshard
    /// issued.
    pub fn parse(token: &str) -> Result<Self, KmsError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| invalid_grant_token())?;
        if bytes.len() != Self::LEN || bytes[0] != Self::VERSION {
            return Err(invalid_grant_token());
        }
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&bytes[1..17]);
        let mut grant_id = [0u8; 32];
        grant_id.copy_from_slice(&bytes[17..49]);
        Ok(Self {
            key_id: KeyId::from_bytes(key_id),
            grant_id: GrantId(grant_id),
        })
    }
}

/// InvalidGrantTokenException for a token Keyshard did not issue.
pub fn invalid_grant_token() -> KmsError {
    KmsError::InvalidGrantToken("The grant token is not valid.".to_owned())
}

/// NotFoundException for a well-formed grant id or token that names no grant of the key.
pub fn grant_not_found(grant_id: GrantId) -> KmsError {
    KmsError::NotFound(format!("Grant '{grant_id}' does not exist"))
}

/// LimitExceededException for a key that already has [`MAX_GRANTS_PER_KEY`] grants.
pub fn too_many_grants(key_arn: impl fmt::Display) -> KmsError {
    KmsError::LimitExceeded(format!(
        "{key_arn} already has the maximum of {MAX_GRANTS_PER_KEY} grants."
    ))
}

/// An AWS principal (an account, user or role ARN) or an AWS service principal.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Principal {
    Aws(String),
    Service(String),
}

impl Principal {
    /// The principal of a request that names it by at most one of two members, `Aws` taking the
    /// `*Principal` member and `Service` the `*ServicePrincipal` one. `Ok(None)` when neither is
    /// given; `what` names the pair in the error when both are.
    pub fn one_of(
        aws: Option<String>,
        service: Option<String>,
        what: &str,
    ) -> Result<Option<Self>, KmsError> {
        match (aws, service) {
            (Some(_), Some(_)) => Err(KmsError::Validation(format!(
                "Specify either {what}Principal or {what}ServicePrincipal, not both."
            ))),
            (Some(aws), None) => Ok(Some(Self::Aws(aws))),
            (None, Some(service)) => Ok(Some(Self::Service(service))),
            (None, None) => Ok(None),
        }
    }

    pub fn aws(&self) -> Option<&str> {
        match self {
            Self::Aws(arn) => Some(arn),
            Self::Service(_) => None,
        }
    }

    pub fn service(&self) -> Option<&str> {
        match self {
            Self::Aws(_) => None,
            Self::Service(name) => Some(name),
        }
    }
}

/// `GrantConstraints`. Empty maps count as absent.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct GrantConstraints {
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    pub source_arn: Option<String>,
}

impl GrantConstraints {
    /// The constraints of a request, `None` when they constrain nothing.
    pub fn normalized(self) -> Option<Self> {
        let normalized = Self {
            encryption_context_equals: self.encryption_context_equals.filter(|m| !m.is_empty()),
            encryption_context_subset: self.encryption_context_subset.filter(|m| !m.is_empty()),
            source_arn: self.source_arn,
        };
        (normalized != Self::default()).then_some(normalized)
    }

    fn has_encryption_context(&self) -> bool {
        self.encryption_context_equals.is_some() || self.encryption_context_subset.is_some()
    }

    /// Only one kind of encryption context constraint per grant, each with at most
    /// [`MAX_CONSTRAINT_PAIRS`] pairs of at most [`MAX_CONSTRAINT_CHARS`] characters in all.
    fn check(&self) -> Result<(), KmsError> {
        if self.encryption_context_equals.is_some() && self.encryption_context_subset.is_some() {
            return Err(KmsError::Validation(
                "A grant can have an EncryptionContextEquals or an EncryptionContextSubset \
                 constraint, not both."
                    .to_owned(),
            ));
        }
        let maps = [
            ("EncryptionContextEquals", &self.encryption_context_equals),
            ("EncryptionContextSubset", &self.encryption_context_subset),
        ];
        for (name, map) in maps {
            let Some(map) = map else { continue };
            let chars: usize = map
                .iter()
                .map(|(k, v)| k.chars().count() + v.chars().count())
                .sum();
            if map.len() > MAX_CONSTRAINT_PAIRS || chars > MAX_CONSTRAINT_CHARS {
                return Err(KmsError::Validation(format!(
                    "The {name} constraint can have at most {MAX_CONSTRAINT_PAIRS} pairs of at \
                     most {MAX_CONSTRAINT_CHARS} characters in all."
                )));
            }
        }
        Ok(())
    }

    /// The stored form: a JSON object with the wire member names.
    pub fn to_json(&self) -> String {
        let mut object = Map::new();
        let map = |pairs: &BTreeMap<String, String>| {
            Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        };
        if let Some(pairs) = &self.encryption_context_equals {
            object.insert("EncryptionContextEquals".to_owned(), map(pairs));
        }
        if let Some(pairs) = &self.encryption_context_subset {
            object.insert("EncryptionContextSubset".to_owned(), map(pairs));
        }
        if let Some(arn) = &self.source_arn {
            object.insert("SourceArn".to_owned(), Value::String(arn.clone()));
        }
        Value::Object(object).to_string()
    }

    /// Reads back what [`GrantConstraints::to_json`] wrote; `None` for anything else.
    pub fn from_json(text: &str) -> Option<Self> {
        let Value::Object(object) = serde_json::from_str(text).ok()? else {
            return None;
        };
        let map = |name: &str| -> Option<Option<BTreeMap<String, String>>> {
            match object.get(name) {
                None => Some(None),
                Some(Value::Object(pairs)) => pairs
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect::<Option<BTreeMap<_, _>>>()
                    .map(Some),
                Some(_) => None,
            }
        };
        let source_arn = match object.get("SourceArn") {
            None => None,
            Some(Value::String(arn)) => Some(arn.clone()),
            Some(_) => return None,
        };
        Some(Self {
            encryption_context_equals: map("EncryptionContextEquals")?,
            encryption_context_subset: map("EncryptionContextSubset")?,
            source_arn,
        })
    }
}

/// What a grant allows and to whom: everything CreateGrant compares to decide that a request
/// with a grant's `Name` asks for that grant again.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GrantParameters {
    pub grantee: Principal,
    pub retiring: Option<Principal>,
    /// Each operation once, in the order of their names, as ListGrants shows them.
    pub operations: Vec<GrantOperation>,
    pub constraints: Option<GrantConstraints>,
}

impl GrantParameters {
    /// The parameters of a CreateGrant request whose members passed model validation, checked
    /// against the rules the model leaves to the service (AWS KMS API Reference, CreateGrant).
    pub fn new(
        grantee: Option<Principal>,
        retiring: Option<Principal>,
        operations: Vec<GrantOperation>,
        constraints: Option<GrantConstraints>,
    ) -> Result<Self, KmsError> {
        let invalid = |message: &str| Err(KmsError::Validation(message.to_owned()));
        let Some(grantee) = grantee else {
            return invalid("Specify a GranteePrincipal or a GranteeServicePrincipal.");
        };
        let mut operations = operations;
        operations.sort_unstable_by_key(|op| op.as_str());
        operations.dedup();
        if operations.is_empty() {
            return invalid("Operations must name at least one grant operation.");
        }
        // Observed from AWS KMS: CreateGrant with Operations [CreateGrant].
        if operations == [GrantOperation::CreateGrant] {
            return invalid("Grants must not contain only the CreateGrant operation.");
        }
        let constraints = constraints.and_then(GrantConstraints::normalized);
        if let Some(constraints) = &constraints {
            constraints.check()?;
        }
        if let Principal::Service(_) = grantee {
            let has_source_arn = constraints.as_ref().is_some_and(|c| c.source_arn.is_some());
            if !has_source_arn || retiring.is_none() {
                return invalid(
                    "A grant for a GranteeServicePrincipal needs a SourceArn constraint and a \
                     RetiringPrincipal or RetiringServicePrincipal.",
                );
            }
        }
        Ok(Self {
            grantee,
            retiring,
            operations,
            constraints,
        })
    }

    /// Checks that the grant suits its key: every operation is one the key can do, and
    /// encryption context constraints only on symmetric encryption keys, the only keys whose
    /// operations take an encryption context.
    pub fn check_key(&self, key_arn: &str, spec: KeySpec, usage: KeyUsage) -> Result<(), KmsError> {
        let unfit: Vec<&str> = self
            .operations
            .iter()
            .filter(|op| !op.applies_to(spec, usage))
            .map(|op| op.as_str())
            .collect();
        if !unfit.is_empty() {
            return Err(KmsError::Validation(format!(
                "Grant operations [{}] are not valid for {key_arn}, whose KeySpec is {spec} and \
                 KeyUsage is {usage}.",
                unfit.join(", ")
            )));
        }
        let symmetric = spec == KeySpec::SymmetricDefault && usage == KeyUsage::EncryptDecrypt;
        let context = self
            .constraints
            .as_ref()
            .is_some_and(GrantConstraints::has_encryption_context);
        if context && !symmetric {
            return Err(KmsError::Validation(format!(
                "Encryption context constraints are valid only for symmetric encryption KMS \
                 keys; {key_arn} has KeySpec {spec}."
            )));
        }
        Ok(())
    }

    /// The stored form of the operations: their names, comma-separated.
    pub fn operations_text(&self) -> String {
        let names: Vec<&str> = self.operations.iter().map(|op| op.as_str()).collect();
        names.join(",")
    }

    /// Reads back what [`GrantParameters::operations_text`] wrote.
    pub fn parse_operations(text: &str) -> Option<Vec<GrantOperation>> {
        text.split(',').map(GrantOperation::parse).collect()
    }
}

/// The `IssuingAccount` of a grant made in `account`.
pub fn issuing_account(account: impl fmt::Display) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// Whether `s` matches `ServicePrincipalType`'s pattern,
/// `^([A-Za-z0-9\-]+)\.([A-Za-z0-9\-]+)(\.[A-Za-z0-9\-]+)+$`: at least three dot-separated
/// labels of letters, digits and dashes.
pub fn is_service_principal(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 3
        && labels.iter().all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The `[\w+=,.@:/-]` class of `PrincipalIdType`.
pub fn is_principal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | ':' | '/' | '-')
}

/// Whether `s` matches `GrantConstraintSourceArnType`'s pattern,
/// `^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$`.
pub fn is_source_arn(s: &str) -> bool {
    let lower = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    partition.starts_with("aws")
        && lower(partition)
        && !service.is_empty()
        && lower(service)
        && lower(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !rest.is_empty()
        && !rest.contains(['\n', '\r'])
}

#[cfg(test)]
mod tests;
