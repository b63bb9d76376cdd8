//! Identifiers: accounts, regions, key ids, aliases, their ARNs, and how a caller's `KeyId`
//! string resolves to one of them (AWS KMS API Reference, "KeyId" parameter).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::KmsError;

/// The ARN partition. Keyshard answers as the commercial partition, which every SDK expects.
pub const PARTITION: &str = "aws";

/// A 12-digit AWS account id.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct AccountId(String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AccountId {
    type Err = InvalidIdentifier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidIdentifier::Account)
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS region name such as `us-east-1`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Region(String);

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Region {
    type Err = InvalidIdentifier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let well_formed = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidIdentifier::Region)
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Configuration values that are not identifiers of the expected shape.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum InvalidIdentifier {
    #[error("an account id is 12 digits")]
    Account,

    #[error("a region is lowercase letters, digits and dashes")]
    Region,
}

/// Where a call is made: the caller's account and the region Keyshard serves.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Scope {
    pub account: AccountId,
    pub region: Region,
}

impl Scope {
    pub fn key_arn(&self, key_id: KeyId) -> KeyArn {
        KeyArn {
            region: self.region.clone(),
            account: self.account.clone(),
            key_id,
        }
    }

    pub fn alias_arn<'a>(&'a self, alias: &'a AliasName) -> AliasArn<'a> {
        AliasArn { scope: self, alias }
    }
}

/// The id of a KMS key Keyshard created: a lowercase UUID.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct KeyId(Uuid);

impl KeyId {
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Parses the canonical form only: 36 lowercase characters with dashes, as AWS prints ids.
    pub fn parse(s: &str) -> Option<Self> {
        let canonical = s.len() == 36
            && s.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            });
        canonical
            .then(|| Uuid::parse_str(s).ok().map(Self))
            .flatten()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A full key ARN, the form every response member called `KeyId` carries.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeyArn {
    pub region: Region,
    pub account: AccountId,
    pub key_id: KeyId,
}

impl fmt::Display for KeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{PARTITION}:kms:{}:{}:key/{}",
            self.region, self.account, self.key_id
        )
    }
}

/// An alias name, `alias/` followed by letters, digits, `:/_-`; 256 characters at most.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct AliasName(String);

impl AliasName {
    const PREFIX: &'static str = "alias/";
    const RESERVED_PREFIX: &'static str = "alias/aws/";

    /// Checks the parts of an alias name the model's pattern does not cover. Length and
    /// character set are checked earlier, as model validation.
    pub fn parse(s: &str) -> Result<Self, KmsError> {
        if !s.starts_with(Self::PREFIX) {
            return Err(KmsError::Validation(
                "Alias must start with the prefix \"alias/\". Please see \
                 https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
                    .to_owned(),
            ));
        }
        if s.len() == Self::PREFIX.len() {
            return Err(KmsError::InvalidAliasName(format!(
                "Alias name {s} must have a name after the \"alias/\" prefix"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// Names under `alias/aws/` belong to AWS managed keys; callers may not create, move or
    /// delete them (AWS KMS API Reference, CreateAlias).
    pub fn check_not_reserved(&self) -> Result<(), KmsError> {
        if self.0.starts_with(Self::RESERVED_PREFIX) {
            Err(KmsError::InvalidAliasName(format!(
                "Alias {} is reserved: the alias/aws/ prefix is for AWS managed keys.",
                self.0
            )))
        } else {
            Ok(())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ARN of an alias in a scope.
#[derive(Clone, Copy, Debug)]
pub struct AliasArn<'a> {
    scope: &'a Scope,
    alias: &'a AliasName,
}

impl fmt::Display for AliasArn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{PARTITION}:kms:{}:{}:{}",
            self.scope.region, self.scope.account, self.alias
        )
    }
}

/// What a request's `KeyId` names, before any lookup.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum KeyRef {
    /// A key in the caller's account, by id or by key ARN.
    Key(KeyArn),
    /// The ARN of a well-formed multi-Region key id (`mrk-` and 32 hex digits). Keyshard
    /// creates no multi-Region keys, so these name nothing.
    MultiRegion(String),
    /// An alias, by name or by alias ARN.
    Alias(AccountId, AliasName),
}

/// Which identifier forms an operation accepts (AWS KMS API Reference: cryptographic
/// operations and DescribeKey take all four, everything else a key id or key ARN only).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum KeyRefForms {
    All,
    KeyOnly,
}

impl KeyRef {
    /// Resolves a `KeyId` string as the caller in `scope` gave it. Failures carry the exact
    /// `NotFoundException` wording AWS uses.
    pub fn parse(input: &str, scope: &Scope, forms: KeyRefForms) -> Result<Self, KmsError> {
        if let Some(rest) = input.strip_prefix("arn:") {
            return Self::parse_arn(input, rest, scope, forms);
        }
        if input.starts_with(AliasName::PREFIX) {
            return match forms {
                KeyRefForms::All => Ok(Self::Alias(scope.account.clone(), AliasName(input.into()))),
                KeyRefForms::KeyOnly => Err(invalid_key_id(input)),
            };
        }
        parse_key_id(input, scope.region.clone(), scope.account.clone())
            .ok_or_else(|| invalid_key_id(input))
    }

    fn parse_arn(
        input: &str,
        rest: &str,
        scope: &Scope,
        forms: KeyRefForms,
    ) -> Result<Self, KmsError> {
        let invalid_arn = || KmsError::NotFound(format!("Invalid arn {input}"));
        let mut parts = rest.splitn(5, ':');
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid_arn());
        };
        if partition != PARTITION || service != "kms" {
            return Err(invalid_arn());
        }
        let account: AccountId = account.parse().map_err(|_| invalid_arn())?;
        let region: Region = region.parse().map_err(|_| invalid_arn())?;
        if region != scope.region {
            return Err(KmsError::NotFound(format!("Invalid arn {region}")));
        }
        if let Some(id) = resource.strip_prefix("key/") {
            return parse_key_id(id, region, account).ok_or_else(invalid_arn);
        }
        if resource.starts_with(AliasName::PREFIX) && forms == KeyRefForms::All {
            return Ok(Self::Alias(account, AliasName(resource.to_owned())));
        }
        Err(invalid_arn())
    }
}

fn parse_key_id(id: &str, region: Region, account: AccountId) -> Option<KeyRef> {
    if let Some(key_id) = KeyId::parse(id) {
        return Some(KeyRef::Key(KeyArn {
            region,
            account,
            key_id,
        }));
    }
    let hex = id.strip_prefix("mrk-")?;
    let well_formed =
        hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    well_formed
        .then(|| KeyRef::MultiRegion(format!("arn:{PARTITION}:kms:{region}:{account}:key/{id}")))
}

fn invalid_key_id(input: &str) -> KmsError {
    KmsError::NotFound(format!("Invalid keyId '{input}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn scope() -> Scope {
        Scope {
            account: "111122223333".parse().unwrap(),
            region: "us-east-1".parse().unwrap(),
        }
    }

    fn key(id: &str) -> KeyRef {
        KeyRef::Key(scope().key_arn(KeyId::parse(id).unwrap()))
    }

    fn not_found(input: &str, forms: KeyRefForms) -> String {
        match KeyRef::parse(input, &scope(), forms) {
            Err(KmsError::NotFound(message)) => message,
            other => panic!("expected NotFound for {input}, got {other:?}"),
        }
    }

    #[test]
    fn a_bare_key_id_and_its_arn_name_the_same_key() {
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{ID}");
        assert_eq!(
            KeyRef::parse(ID, &scope(), KeyRefForms::All).unwrap(),
            key(ID)
        );
        assert_eq!(
            KeyRef::parse(&arn, &scope(), KeyRefForms::KeyOnly).unwrap(),
            key(ID)
        );
    }

    #[test]
    fn a_key_arn_prints_as_aws_does() {
        let KeyRef::Key(arn) = key(ID) else {
            unreachable!()
        };
        assert_eq!(
            arn.to_string(),
            format!("arn:aws:kms:us-east-1:111122223333:key/{ID}")
        );
    }

    #[test]
    fn aliases_parse_by_name_and_by_arn() {
        let by_name = KeyRef::parse("alias/app", &scope(), KeyRefForms::All).unwrap();
        let by_arn = KeyRef::parse(
            "arn:aws:kms:us-east-1:111122223333:alias/app",
            &scope(),
            KeyRefForms::All,
        )
        .unwrap();
        let expected = KeyRef::Alias(scope().account, AliasName("alias/app".into()));
        assert_eq!(by_name, expected);
        assert_eq!(by_arn, expected);
    }

    #[test]
    fn malformed_key_ids_are_reported_with_aws_wording() {
        for input in [
            "fake-key-id",
            "mrk-fake-key-id",
            "1234abcd12ab34cd56ef1234567890ab",
        ] {
            assert_eq!(
                not_found(input, KeyRefForms::All),
                format!("Invalid keyId '{input}'")
            );
        }
        assert_eq!(
            not_found(&ID.to_uppercase(), KeyRefForms::All),
            format!("Invalid keyId '{}'", ID.to_uppercase())
        );
    }

    #[test]
    fn an_arn_from_another_region_names_that_region() {
        let input = format!("arn:aws:kms:eu-west-1:111122223333:key/{ID}");
        assert_eq!(not_found(&input, KeyRefForms::All), "Invalid arn eu-west-1");
    }

    #[test]
    fn an_alias_where_only_keys_are_accepted_is_not_found() {
        assert_eq!(
            not_found("alias/app", KeyRefForms::KeyOnly),
            "Invalid keyId 'alias/app'"
        );
        let arn = "arn:aws:kms:us-east-1:111122223333:alias/app";
        assert_eq!(
            not_found(arn, KeyRefForms::KeyOnly),
            format!("Invalid arn {arn}")
        );
    }

    #[test]
    fn a_well_formed_multi_region_id_parses_but_names_no_created_key() {
        let id = "mrk-1234abcd12ab34cd56ef1234567890ab";
        let parsed = KeyRef::parse(id, &scope(), KeyRefForms::All).unwrap();
        assert_eq!(
            parsed,
            KeyRef::MultiRegion(format!("arn:aws:kms:us-east-1:111122223333:key/{id}"))
        );
    }

    #[test]
    fn malformed_arns_are_not_found() {
        for input in [
            "arn:aws:kms",
            "arn:aws:s3:us-east-1:111122223333:key/x",
            "arn:aws:kms:us-east-1:12:key/x",
        ] {
            assert_eq!(
                not_found(input, KeyRefForms::All),
                format!("Invalid arn {input}")
            );
        }
    }

    #[test]
    fn alias_names_need_the_prefix_and_a_name() {
        assert_eq!(
            AliasName::parse("app"),
            Err(KmsError::Validation(
                "Alias must start with the prefix \"alias/\". Please see \
                 https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
                    .to_owned()
            ))
        );
        assert!(matches!(
            AliasName::parse("alias/"),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert_eq!(AliasName::parse("alias/app").unwrap().as_str(), "alias/app");
    }

    #[test]
    fn reserved_alias_names_are_refused() {
        let name = AliasName::parse("alias/aws/s3").unwrap();
        assert!(matches!(
            name.check_not_reserved(),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert_eq!(
            AliasName::parse("alias/awsome")
                .unwrap()
                .check_not_reserved(),
            Ok(())
        );
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert_eq!(
            "111122223333".parse::<AccountId>().unwrap().as_str(),
            "111122223333"
        );
        assert_eq!(
            "11112222333".parse::<AccountId>(),
            Err(InvalidIdentifier::Account)
        );
        assert_eq!(
            "11112222333x".parse::<AccountId>(),
            Err(InvalidIdentifier::Account)
        );
    }
}
