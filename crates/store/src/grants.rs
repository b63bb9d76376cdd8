//! The records of grants: a stored grant, what creating one did, and how ListGrants filters.

use keyshard_core::grants::{GrantId, GrantParameters, Principal};
use keyshard_core::id::{AccountId, KeyId};

use crate::Millis;

/// One grant on one key (AWS KMS API Reference, CreateGrant and GrantListEntry).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GrantRecord {
    pub account: AccountId,
    pub key_id: KeyId,
    pub grant_id: GrantId,
    /// The request's `Name`, if it had one.
    pub name: Option<String>,
    pub created_at: Millis,
    pub parameters: GrantParameters,
}

impl GrantRecord {
    /// Whether a CreateGrant request for `other` asks for this grant again: same key, same
    /// name and same parameters. Requests without a name never do.
    pub fn is_repeated_by(&self, other: &Self) -> bool {
        self.name.is_some()
            && self.account == other.account
            && self.key_id == other.key_id
            && self.name == other.name
            && self.parameters == other.parameters
    }
}

/// What [`Store::create_grant`](crate::Store::create_grant) did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum GrantCreation {
    /// The grant was added.
    Created,
    /// Nothing was added: this grant, with the same id or the same name and parameters, was
    /// there already.
    Existing(Box<GrantRecord>),
    /// Nothing was added: the key does not exist or is no longer in the state the caller
    /// checked, or the grant the request repeats went away while it was being fetched. The
    /// caller reads the key again and decides anew.
    Conflict,
}

/// Which of a key's grants ListGrants returns.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct GrantFilter<'a> {
    pub grant_id: Option<GrantId>,
    pub grantee: Option<&'a Principal>,
}
