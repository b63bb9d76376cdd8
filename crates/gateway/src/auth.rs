//! Who is calling. In development mode anyone is the one configured account's root principal;
//! otherwise a request must carry a valid SigV4 signature by a known access key.

use std::sync::Arc;

use http::request::Parts;
use keyshard_core::KmsError;
use keyshard_core::id::{AccountId, Region};
use keyshard_proto::root_principal;

use crate::protocol;
use crate::quota::QuotaOverrides;

/// How the gateway establishes who is calling.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum AuthMode {
    /// Development only: any well-formed SigV4 `Authorization` header is accepted, unverified,
    /// and every caller acts as the root principal of this one account.
    DangerAcceptAnyCredentials(AccountId),
}

/// The caller of one request, once authenticated.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) account: AccountId,
    /// The ARN of the user, role or account root the request acts as.
    pub(crate) principal: Arc<str>,
    /// The account's own quota settings.
    pub(crate) quotas: Arc<QuotaOverrides>,
}

/// Authenticates requests as its [`AuthMode`] says.
pub(crate) struct Authenticator {
    mode: Mode,
}

enum Mode {
    AcceptAny(Identity),
}

/// A request whose headers passed the checks that need no secret and no body.
pub(crate) enum Pending {
    Accepted(Identity),
}

impl Authenticator {
    pub(crate) fn new(mode: AuthMode, _region: Region) -> Self {
        let mode = match mode {
            AuthMode::DangerAcceptAnyCredentials(account) => Mode::AcceptAny(Identity {
                principal: root_principal(&account).into(),
                account,
                quotas: Arc::default(),
            }),
        };
        Self { mode }
    }

    /// The checks of the `Authorization` header that come before the body is read.
    pub(crate) fn begin(&self, parts: &Parts) -> Result<Pending, KmsError> {
        match &self.mode {
            Mode::AcceptAny(identity) => {
                protocol::authenticate(&parts.headers)?;
                Ok(Pending::Accepted(identity.clone()))
            }
        }
    }

    /// Who sent the request, once its body is read.
    pub(crate) async fn finish(
        &self,
        pending: Pending,
        _parts: &Parts,
        _body: &[u8],
    ) -> Result<Identity, KmsError> {
        match pending {
            Pending::Accepted(identity) => Ok(identity),
        }
    }
}
