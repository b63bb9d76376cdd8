//! Who is calling. A request must carry a valid SigV4 signature by a known access key; the
//! signing key of each (access key, day) comes from a shard, which alone can unwrap secret
//! access keys, and is held here for [`CREDENTIAL_TTL`]. In development mode anyone is the one
//! configured account's root principal.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use keyshard_core::KmsError;
use keyshard_core::authz::Caller;
use keyshard_core::id::{AccountId, Region};
use keyshard_crypto::{SigningKey, session_token_matches};
use keyshard_proto::v1;
use moka::sync::Cache;

use crate::quota::QuotaOverrides;
use crate::routing::{Retry, ShardPool};
use crate::sigv4::{self, SignedRequest};

/// How long a gateway trusts what a shard said about an access key: deleting a key, or changing
/// its account's quotas, takes effect on every gateway within this time.
pub(crate) const CREDENTIAL_TTL: Duration = Duration::from_secs(30);

/// How long an unknown access key is answered without asking a shard again.
const UNKNOWN_TTL: Duration = Duration::from_secs(5);

/// How the gateway establishes who is calling.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum AuthMode {
    /// Every request must carry a valid SigV4 signature by an access key in the credential
    /// store.
    SigV4,
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

/// What a shard said about one access key for one day.
struct Credential {
    identity: Identity,
    signing_key: SigningKey,
    /// Hex SHA-256 of the session token temporary credentials must present.
    session_token_sha256: Option<String>,
    /// When temporary credentials expire, in milliseconds since the Unix epoch.
    expires_at: Option<i64>,
}

/// Authenticates requests as its [`AuthMode`] says.
pub(crate) struct Authenticator {
    mode: Mode,
}

enum Mode {
    SigV4 {
        region: Region,
        credentials: Cache<(String, String), Arc<Credential>>,
        unknown: Cache<String, ()>,
    },
    AcceptAny(Identity),
}

/// A request whose headers passed the checks that need no secret and no body.
pub(crate) enum Pending<'a> {
    Signed(SignedRequest<'a>),
    Accepted(Identity),
}

impl Authenticator {
    pub(crate) fn new(mode: AuthMode, region: Region) -> Self {
        let mode = match mode {
            AuthMode::SigV4 => Mode::SigV4 {
                region,
                credentials: Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(CREDENTIAL_TTL)
                    .build(),
                unknown: Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(UNKNOWN_TTL)
                    .build(),
            },
            AuthMode::DangerAcceptAnyCredentials(account) => Mode::AcceptAny(Identity {
                principal: Caller::account_root(account.clone()).principal().into(),
                account,
                quotas: Arc::default(),
            }),
        };
        Self { mode }
    }

    /// The checks of the `Authorization` header that come before the body is read.
    pub(crate) fn begin<'a>(&self, parts: &'a Parts) -> Result<Pending<'a>, KmsError> {
        match &self.mode {
            Mode::SigV4 { region, .. } => {
                sigv4::parse(&parts.headers, region, SystemTime::now()).map(Pending::Signed)
            }
            Mode::AcceptAny(identity) => {
                sigv4::check_shape(&parts.headers)?;
                Ok(Pending::Accepted(identity.clone()))
            }
        }
    }

    /// Who sent the request, once its body is read: the access key must be known, temporary
    /// credentials must present their session token before they expire, and the signature
    /// must match.
    pub(crate) async fn finish(
        &self,
        pending: Pending<'_>,
        parts: &Parts,
        body: &[u8],
        shards: &ShardPool,
    ) -> Result<Identity, KmsError> {
        let signed = match pending {
            Pending::Accepted(identity) => return Ok(identity),
            Pending::Signed(signed) => signed,
        };
        let Mode::SigV4 {
            region,
            credentials,
            unknown,
        } = &self.mode
        else {
            return Err(KmsError::Internal(
                "A signed request reached a gateway that does not verify signatures.".to_owned(),
            ));
        };

        let access_key_id = signed.access_key_id();
        if unknown.contains_key(access_key_id) {
            return Err(KmsError::UnrecognizedClient);
        }
        let cache_key = (access_key_id.to_owned(), signed.date().to_owned());
        let credential = match credentials.get(&cache_key) {
            Some(credential) => credential,
            None => match fetch(shards, &signed, region).await {
                Ok(credential) => {
                    let credential = Arc::new(credential);
                    credentials.insert(cache_key, Arc::clone(&credential));
                    credential
                }
                Err(KmsError::UnrecognizedClient) => {
                    unknown.insert(access_key_id.to_owned(), ());
                    return Err(KmsError::UnrecognizedClient);
                }
                Err(err) => return Err(err),
            },
        };

        match (&credential.session_token_sha256, signed.security_token()) {
            (None, None) => {}
            (Some(expected), Some(token)) if session_token_matches(token.as_bytes(), expected) => {
                if credential.expires_at.is_some_and(|at| at <= now_millis()) {
                    return Err(KmsError::ExpiredToken);
                }
            }
            _ => return Err(KmsError::UnrecognizedClient),
        }
        signed.verify(
            &parts.method,
            &parts.uri,
            &parts.headers,
            body,
            &credential.signing_key,
        )?;
        Ok(credential.identity.clone())
    }
}

/// Asks a shard, chosen by the access key id, for the signing key of a signed request's day.
async fn fetch(
    shards: &ShardPool,
    signed: &SignedRequest<'_>,
    region: &Region,
) -> Result<Credential, KmsError> {
    let request = v1::GetSigningKeyRequest {
        access_key_id: signed.access_key_id().to_owned(),
        date: signed.date().to_owned(),
        region: region.to_string(),
    };
    let route = request.access_key_id.clone().into_bytes();
    let mut response = shards
        .call(&route, Retry::Idempotent, request, |mut c, r| async move {
            c.get_signing_key(r).await
        })
        .await?;
    let malformed = || KmsError::Internal("A shard sent malformed credentials.".to_owned());
    let account = response.account_id.parse().map_err(|_| malformed())?;
    let key_bytes: [u8; 32] = response
        .signing_key
        .as_slice()
        .try_into()
        .map_err(|_| malformed())?;
    zeroize::Zeroize::zeroize(&mut response.signing_key);
    let quotas: HashMap<String, u32> = response.quotas;
    Ok(Credential {
        identity: Identity {
            account,
            principal: response.principal.into(),
            quotas: Arc::new(quotas),
        },
        signing_key: SigningKey::from_bytes(key_bytes),
        session_token_sha256: response.session_token_sha256,
        expires_at: response.expires_at_millis,
    })
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
