//! SigV4 request authentication: the `Authorization` header's shape, every check that needs no
//! secret (credential scope, request time, signed headers, clock skew), and the signature itself
//! under a derived signing key. Messages are AWS's; none carries a canonical request, a string to
//! sign, an expected signature or a key.

mod canonical;
mod timestamp;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, Uri, header};
use keyshard_core::KmsError;
use keyshard_core::id::Region;
use keyshard_crypto::SigningKey;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "kms";
const TERMINATOR: &str = "aws4_request";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// How far the request time may lie from the server's clock, either way.
const MAX_SKEW_SECS: i64 = 5 * 60;

/// Bytes in a signature and in a SHA-256 digest.
const DIGEST_LEN: usize = 32;

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the \
    signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
    service documentation for details.";

/// Checks that the `Authorization` header names SigV4 and carries its three parameters, and
/// nothing more: the development mode's whole authentication.
pub(crate) fn check_shape(headers: &HeaderMap) -> Result<(), KmsError> {
    Authorization::parse(headers).map(|_| ())
}

/// Runs every check that needs no signing key on a request's headers, `now` being the server's
/// time, and returns what the signature check needs.
///
/// In order: an `Authorization` header (else `MissingAuthenticationTokenException`); its
/// algorithm, parameters and five-part credential (else `IncompleteSignatureException`); an
/// `X-Amz-Date` or `Date` header in ISO 8601 basic format (the same); a credential scoped to the
/// request's day, to `region`, to `kms` and to `aws4_request`; `host` and any
/// `X-Amz-Security-Token` among the signed headers; a request time within five minutes of `now`
/// (each else `InvalidSignatureException`). A security token that is not visible ASCII is
/// `UnrecognizedClientException`.
pub(crate) fn parse<'a>(
    headers: &'a HeaderMap,
    region: &Region,
    now: SystemTime,
) -> Result<SignedRequest<'a>, KmsError> {
    let auth = Authorization::parse(headers)?;
    let (access_key_id, scope) = split_credential(auth.credential)?;
    let (timestamp, request_time) = request_time(headers)?;
    check_scope(&scope, timestamp, region)?;

    let signed = |name: &str| {
        auth.signed_headers
            .split(';')
            .any(|signed| signed.eq_ignore_ascii_case(name))
    };
    if !signed("host") {
        return Err(KmsError::InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let security_token = match headers.get(X_AMZ_SECURITY_TOKEN) {
        None => None,
        Some(_) if !signed(X_AMZ_SECURITY_TOKEN) => {
            return Err(KmsError::InvalidSignature(
                "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ));
        }
        Some(token) => Some(token.to_str().map_err(|_| KmsError::UnrecognizedClient)?),
    };

    check_skew(request_time, seconds_since_epoch(now))?;

    // A signature that is not 64 hex digits matches nothing; AWS reports it as a mismatch.
    let mut signature = [0u8; DIGEST_LEN];
    let signature = hex::decode_to_slice(auth.signature, &mut signature)
        .ok()
        .map(|()| signature);
    Ok(SignedRequest {
        access_key_id,
        scope: scope.full,
        date: scope.date,
        timestamp,
        signed_headers: auth.signed_headers,
        signature,
        security_token,
    })
}

/// A request whose SigV4 header passed [`parse`]: who signed it, and what the signature check
/// needs. It borrows the request's headers.
pub(crate) struct SignedRequest<'a> {
    access_key_id: &'a str,
    /// `<yyyymmdd>/<region>/kms/aws4_request`.
    scope: &'a str,
    date: &'a str,
    /// The request time as sent, `yyyymmddThhmmssZ`.
    timestamp: &'a str,
    signed_headers: &'a str,
    signature: Option<[u8; DIGEST_LEN]>,
    security_token: Option<&'a str>,
}

impl SignedRequest<'_> {
    pub(crate) fn access_key_id(&self) -> &str {
        self.access_key_id
    }

    /// The credential scope's date, `yyyymmdd`: the day of the signing key to verify with.
    pub(crate) fn date(&self) -> &str {
        self.date
    }

    /// The signed `X-Amz-Security-Token` of temporary credentials, if the request has one.
    pub(crate) fn security_token(&self) -> Option<&str> {
        self.security_token
    }

    /// Checks the signature of the request that [`parse`] read `headers` from, with the signing
    /// key of [`access_key_id`](Self::access_key_id) for [`date`](Self::date), the gateway's
    /// region and `kms`. An `X-Amz-Content-SHA256` header must hold the body's hash.
    pub(crate) fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        key: &SigningKey,
    ) -> Result<(), KmsError> {
        let mismatch = || KmsError::InvalidSignature(SIGNATURE_MISMATCH.to_owned());
        let payload_hash = canonical::hex_sha256(body);
        if let Some(declared) = headers.get(X_AMZ_CONTENT_SHA256)
            && declared.as_bytes() != payload_hash
        {
            return Err(mismatch());
        }

        let mut text = canonical::request(method, uri, headers, self.signed_headers, &payload_hash);
        let request_hash = canonical::hex_sha256(&text);
        // The string to sign reuses the canonical request's buffer.
        text.clear();
        for part in [ALGORITHM, "\n", self.timestamp, "\n", self.scope, "\n"] {
            text.extend_from_slice(part.as_bytes());
        }
        text.extend_from_slice(&request_hash);

        match &self.signature {
            Some(signature) if key.verify(&text, signature) => Ok(()),
            _ => Err(mismatch()),
        }
    }
}

impl fmt::Debug for SignedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// The three parameters of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
/// Signature=...`, as sent.
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(headers: &'a HeaderMap) -> Result<Self, KmsError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(KmsError::MissingAuthenticationToken);
        };
        let value = value
            .to_str()
            .map_err(|_| incomplete("Authorization header is not ASCII".into()))?;
        let params = value
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.is_empty() || rest.starts_with(' '))
            .ok_or_else(|| {
                incomplete("Authorization header must use the AWS4-HMAC-SHA256 algorithm".into())
            })?;
        let param = |name: &str| {
            params
                .split(',')
                .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
                .ok_or_else(|| {
                    incomplete(format!("Authorization header requires '{name}' parameter."))
                })
        };
        Ok(Self {
            credential: param("Credential")?,
            signed_headers: param("SignedHeaders")?,
            signature: param("Signature")?,
        })
    }
}

/// A credential's scope: `<date>/<region>/<service>/<terminator>`.
struct Scope<'a> {
    full: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
}

/// Splits `<access key id>/<scope>`; anything but five `/`-separated parts is incomplete.
fn split_credential(credential: &str) -> Result<(&str, Scope<'_>), KmsError> {
    let split = credential
        .split_once('/')
        .and_then(|(access_key_id, full)| {
            let mut parts = full.split('/');
            let scope = Scope {
                full,
                date: parts.next()?,
                region: parts.next()?,
                service: parts.next()?,
                terminator: parts.next()?,
            };
            parts.next().is_none().then_some((access_key_id, scope))
        });
    split.ok_or_else(|| {
        incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{credential}'"
        ))
    })
}

/// The request time: `X-Amz-Date`, else `Date`, as sent and in seconds since the epoch.
fn request_time(headers: &HeaderMap) -> Result<(&str, i64), KmsError> {
    let value = headers
        .get(X_AMZ_DATE)
        .or_else(|| headers.get(header::DATE))
        .ok_or_else(|| {
            incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header."
                    .into(),
            )
        })?;
    value
        .to_str()
        .ok()
        .and_then(|text| Some((text, timestamp::parse(text)?)))
        .ok_or_else(|| {
            incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601",
                String::from_utf8_lossy(value.as_bytes())
            ))
        })
}

/// AWS names every fault of the scope in one message, in this order.
fn check_scope(scope: &Scope<'_>, timestamp: &str, region: &Region) -> Result<(), KmsError> {
    // `timestamp` passed `timestamp::parse`, so it is ASCII and starts with the day.
    let day = timestamp.get(..8).unwrap_or(timestamp);
    let faults = [
        (scope.region != region.as_str()).then(|| {
            format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                scope.region
            )
        }),
        (scope.service != SERVICE)
            .then(|| format!("Credential should be scoped to correct service: '{SERVICE}'. ")),
        (scope.terminator != TERMINATOR).then(|| {
            format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'. ",
                scope.terminator
            )
        }),
        (scope.date != day).then(|| {
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{day}', from '{timestamp}'.",
                scope.date
            )
        }),
    ];
    let message: String = faults.into_iter().flatten().collect();
    if message.is_empty() {
        Ok(())
    } else {
        Err(KmsError::InvalidSignature(message))
    }
}

/// Both bounds are inclusive; times are compared to the second.
fn check_skew(request_time: i64, now: i64) -> Result<(), KmsError> {
    let (earliest, latest) = (
        now.saturating_sub(MAX_SKEW_SECS),
        now.saturating_add(MAX_SKEW_SECS),
    );
    if request_time < earliest {
        return Err(KmsError::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            timestamp::format(request_time),
            timestamp::format(earliest),
            timestamp::format(now)
        )));
    }
    if request_time > latest {
        return Err(KmsError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            timestamp::format(request_time),
            timestamp::format(latest),
            timestamp::format(now)
        )));
    }
    Ok(())
}

/// Whole seconds since the Unix epoch, negative before it.
fn seconds_since_epoch(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn incomplete(message: String) -> KmsError {
    KmsError::IncompleteSignature(message)
}

#[cfg(test)]
mod tests;
