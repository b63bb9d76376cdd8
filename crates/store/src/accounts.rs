//! The records of tenants: accounts, the request quotas they differ from the defaults by, and
//! the access keys that sign for their principals.

use std::fmt;

use keyshard_core::id::AccountId;

use crate::Millis;

/// An account known to the credential store, with its quota overrides.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AccountRecord {
    pub account: AccountId,
    pub created_at: Millis,
    /// Overrides of the gateway's default quotas, in ascending order of class name.
    pub quotas: Vec<AccountQuota>,
}

/// Requests per second an account may make in one quota class.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AccountQuota {
    pub class: String,
    pub requests_per_second: u32,
}

/// One access key: the principal it signs for and its secret, wrapped under a root key.
#[derive(Clone, Eq, PartialEq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account: AccountId,
    /// The user or role ARN requests signed with this key act as.
    pub principal: String,
    /// Which root key wrapped `wrapped_secret`.
    pub root_key_id: String,
    /// Nonce, ciphertext and tag of the secret access key; never the secret itself.
    pub wrapped_secret: Vec<u8>,
    /// Lowercase hex SHA-256 of the session token temporary credentials carry.
    pub session_token_hash: Option<String>,
    /// When temporary credentials stop being accepted.
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
}

// The wrapped secret is not the secret, but it has no reader in a log either.
impl fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("account", &self.account)
            .field("principal", &self.principal)
            .field("root_key_id", &self.root_key_id)
            .field("temporary", &self.session_token_hash.is_some())
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}
