//! The one error type every Keyshard crate converges on, and its wire form: the AWS `__type`,
//! the HTTP status and the `message` a JSON 1.1 client receives.

use std::fmt;

/// An error as an AWS KMS client sees it.
///
/// Each variant is one AWS `__type`. The `String` payload is the wire `message`, written for the
/// caller; causes meant for operators are logged where they happen and never stored here.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    #[error("access denied: {0}")]
    AccessDenied(String),

    #[error("already exists: {0}")]
    AlreadyExists(String),

    #[error("conflict: {0}")]
    Conflict(String),

    #[error("custom key store not found: {0}")]
    CustomKeyStoreNotFound(String),

    #[error("dependency timeout: {0}")]
    DependencyTimeout(String),

    #[error("disabled: {0}")]
    Disabled(String),

    #[error("dry run would have succeeded")]
    DryRunOperation,

    #[error("expired security token")]
    ExpiredToken,

    #[error("incomplete signature: {0}")]
    IncompleteSignature(String),

    #[error("incorrect key")]
    IncorrectKey,

    #[error("internal error: {0}")]
    Internal(String),

    #[error("invalid alias name: {0}")]
    InvalidAliasName(String),

    #[error("invalid arn: {0}")]
    InvalidArn(String),

    #[error("invalid ciphertext")]
    InvalidCiphertext,

    #[error("invalid grant id: {0}")]
    InvalidGrantId(String),

    #[error("invalid grant token: {0}")]
    InvalidGrantToken(String),

    #[error("invalid key usage: {0}")]
    InvalidKeyUsage(String),

    #[error("invalid marker: {0}")]
    InvalidMarker(String),

    #[error("invalid signature: {0}")]
    InvalidSignature(String),

    #[error("invalid key state: {0}")]
    InvalidState(String),

    #[error("limit exceeded: {0}")]
    LimitExceeded(String),

    #[error("malformed policy document: {0}")]
    MalformedPolicyDocument(String),

    #[error("missing authentication token")]
    MissingAuthenticationToken,

    #[error("not found: {0}")]
    NotFound(String),

    #[error("request body is not a valid request")]
    Serialization,

    #[error("invalid tags: {0}")]
    Tag(String),

    #[error("throttled: {0}")]
    Throttling(String),

    #[error("unknown operation")]
    UnknownOperation,

    #[error("unrecognized client")]
    UnrecognizedClient,

    #[error("unsupported operation: {0}")]
    UnsupportedOperation(String),

    #[error("validation failed: {0}")]
    Validation(String),
}

/// How a [`KmsError`] travels: HTTP status, `__type` and optional `message`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct WireError<'a> {
    pub status: u16,
    pub error_type: &'static str,
    pub message: Option<&'a str>,
}

/// What kind of failure an error is, in the terms of gRPC status codes, for front ends that
/// answer with a code rather than an HTTP status.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Category {
    /// The request is malformed or names something malformed.
    InvalidArgument,
    /// What the request names does not exist.
    NotFound,
    /// What the request would create exists already.
    AlreadyExists,
    /// The caller may not do this.
    PermissionDenied,
    /// The caller could not be authenticated.
    Unauthenticated,
    /// A quota or limit was reached.
    ResourceExhausted,
    /// The key or resource is not in a state that allows the operation.
    FailedPrecondition,
    /// Keyshard does not implement the operation or option.
    Unimplemented,
    /// A dependency did not answer in time; retrying may succeed.
    Unavailable,
    /// A fault of the service.
    Internal,
}

impl KmsError {
    /// `DisabledException` as AWS words it for every operation on a disabled key.
    pub fn disabled(arn: impl fmt::Display) -> Self {
        Self::Disabled(format!("{arn} is disabled."))
    }

    /// `KMSInvalidStateException` for a key that is pending deletion.
    pub fn pending_deletion(arn: impl fmt::Display) -> Self {
        Self::InvalidState(format!("{arn} is pending deletion."))
    }

    /// `NotFoundException` for a well-formed key id or ARN that names no key.
    pub fn key_not_found(arn: impl fmt::Display) -> Self {
        Self::NotFound(format!("Key '{arn}' does not exist"))
    }

    /// `NotFoundException` for an alias that does not exist.
    pub fn alias_not_found(alias_arn: impl fmt::Display) -> Self {
        Self::NotFound(format!("Alias {alias_arn} is not found."))
    }

    /// The wire form of this error. Every variant is listed, so a new one cannot compile until
    /// its `__type` and status are decided. Statuses follow what AWS sends, not the Smithy
    /// model's `httpError` traits (see the behaviour reference, section 6).
    pub fn wire(&self) -> WireError<'_> {
        let (status, error_type, message): (u16, &'static str, Option<&str>) = match self {
            Self::AccessDenied(m) => (400, "AccessDeniedException", Some(m)),
            Self::AlreadyExists(m) => (400, "AlreadyExistsException", Some(m)),
            Self::Conflict(m) => (400, "ConflictException", Some(m)),
            Self::CustomKeyStoreNotFound(m) => (400, "CustomKeyStoreNotFoundException", Some(m)),
            Self::DependencyTimeout(m) => (503, "DependencyTimeoutException", Some(m)),
            Self::Disabled(m) => (400, "DisabledException", Some(m)),
            Self::DryRunOperation => (
                400,
                "DryRunOperationException",
                Some("The request would have succeeded, but the DryRun option is set."),
            ),
            Self::ExpiredToken => (
                400,
                "ExpiredTokenException",
                Some("The security token included in the request is expired"),
            ),
            Self::IncompleteSignature(m) => (400, "IncompleteSignatureException", Some(m)),
            Self::IncorrectKey => (
                400,
                "IncorrectKeyException",
                Some(
                    "The key ID in the request does not identify a CMK that can perform this \
                     operation.",
                ),
            ),
            Self::Internal(m) => (500, "KMSInternalException", Some(m)),
            Self::InvalidAliasName(m) => (400, "InvalidAliasNameException", Some(m)),
            Self::InvalidArn(m) => (400, "InvalidArnException", Some(m)),
            Self::InvalidCiphertext => (400, "InvalidCiphertextException", None),
            Self::InvalidGrantId(m) => (400, "InvalidGrantIdException", Some(m)),
            Self::InvalidGrantToken(m) => (400, "InvalidGrantTokenException", Some(m)),
            Self::InvalidKeyUsage(m) => (400, "InvalidKeyUsageException", Some(m)),
            Self::InvalidMarker(m) => (400, "InvalidMarkerException", Some(m)),
            Self::InvalidSignature(m) => (400, "InvalidSignatureException", Some(m)),
            Self::InvalidState(m) => (400, "KMSInvalidStateException", Some(m)),
            Self::LimitExceeded(m) => (400, "LimitExceededException", Some(m)),
            Self::MalformedPolicyDocument(m) => (400, "MalformedPolicyDocumentException", Some(m)),
            Self::MissingAuthenticationToken => (
                400,
                "MissingAuthenticationTokenException",
                Some("Missing Authentication Token"),
            ),
            Self::NotFound(m) => (400, "NotFoundException", Some(m)),
            Self::Serialization => (400, "SerializationException", None),
            Self::Tag(m) => (400, "TagException", Some(m)),
            Self::Throttling(m) => (400, "ThrottlingException", Some(m)),
            Self::UnknownOperation => (400, "UnknownOperationException", None),
            Self::UnrecognizedClient => (
                400,
                "UnrecognizedClientException",
                Some("The security token included in the request is invalid."),
            ),
            Self::UnsupportedOperation(m) => (400, "UnsupportedOperationException", Some(m)),
            Self::Validation(m) => (400, "ValidationException", Some(m)),
        };
        WireError {
            status,
            error_type,
            message,
        }
    }

    /// Rebuilds an error from its `__type` and message, as read back after a hop between
    /// Keyshard processes. Unknown types become internal errors rather than being dropped.
    pub fn from_wire(error_type: &str, message: Option<String>) -> Self {
        let m = message.unwrap_or_default();
        match error_type {
            "AccessDeniedException" => Self::AccessDenied(m),
            "AlreadyExistsException" => Self::AlreadyExists(m),
            "ConflictException" => Self::Conflict(m),
            "CustomKeyStoreNotFoundException" => Self::CustomKeyStoreNotFound(m),
            "DependencyTimeoutException" => Self::DependencyTimeout(m),
            "DisabledException" => Self::Disabled(m),
            "DryRunOperationException" => Self::DryRunOperation,
            "ExpiredTokenException" => Self::ExpiredToken,
            "IncompleteSignatureException" => Self::IncompleteSignature(m),
            "IncorrectKeyException" => Self::IncorrectKey,
            "KMSInternalException" => Self::Internal(m),
            "InvalidAliasNameException" => Self::InvalidAliasName(m),
            "InvalidArnException" => Self::InvalidArn(m),
            "InvalidCiphertextException" => Self::InvalidCiphertext,
            "InvalidGrantIdException" => Self::InvalidGrantId(m),
            "InvalidGrantTokenException" => Self::InvalidGrantToken(m),
            "InvalidKeyUsageException" => Self::InvalidKeyUsage(m),
            "InvalidMarkerException" => Self::InvalidMarker(m),
            "InvalidSignatureException" => Self::InvalidSignature(m),
            "KMSInvalidStateException" => Self::InvalidState(m),
            "LimitExceededException" => Self::LimitExceeded(m),
            "MalformedPolicyDocumentException" => Self::MalformedPolicyDocument(m),
            "MissingAuthenticationTokenException" => Self::MissingAuthenticationToken,
            "NotFoundException" => Self::NotFound(m),
            "SerializationException" => Self::Serialization,
            "TagException" => Self::Tag(m),
            "ThrottlingException" => Self::Throttling(m),
            "UnknownOperationException" => Self::UnknownOperation,
            "UnrecognizedClientException" => Self::UnrecognizedClient,
            "UnsupportedOperationException" => Self::UnsupportedOperation(m),
            "ValidationException" => Self::Validation(m),
            other => Self::Internal(format!("unrecognised error type {other}")),
        }
    }

    /// The category of this error. Every variant is listed, as in [`wire`](Self::wire).
    pub fn category(&self) -> Category {
        use Category as C;
        match self {
            Self::AccessDenied(_) => C::PermissionDenied,
            Self::AlreadyExists(_) => C::AlreadyExists,
            Self::Conflict(_) => C::FailedPrecondition,
            Self::CustomKeyStoreNotFound(_) => C::NotFound,
            Self::DependencyTimeout(_) => C::Unavailable,
            Self::Disabled(_) => C::FailedPrecondition,
            Self::DryRunOperation => C::FailedPrecondition,
            Self::ExpiredToken => C::Unauthenticated,
            Self::IncompleteSignature(_) => C::Unauthenticated,
            Self::IncorrectKey => C::InvalidArgument,
            Self::Internal(_) => C::Internal,
            Self::InvalidAliasName(_) => C::InvalidArgument,
            Self::InvalidArn(_) => C::InvalidArgument,
            Self::InvalidCiphertext => C::InvalidArgument,
            Self::InvalidGrantId(_) => C::InvalidArgument,
            Self::InvalidGrantToken(_) => C::InvalidArgument,
            Self::InvalidKeyUsage(_) => C::InvalidArgument,
            Self::InvalidMarker(_) => C::InvalidArgument,
            Self::InvalidSignature(_) => C::Unauthenticated,
            Self::InvalidState(_) => C::FailedPrecondition,
            Self::LimitExceeded(_) => C::ResourceExhausted,
            Self::MalformedPolicyDocument(_) => C::InvalidArgument,
            Self::MissingAuthenticationToken => C::Unauthenticated,
            Self::NotFound(_) => C::NotFound,
            Self::Serialization => C::InvalidArgument,
            Self::Tag(_) => C::InvalidArgument,
            Self::Throttling(_) => C::ResourceExhausted,
            Self::UnknownOperation => C::Unimplemented,
            Self::UnrecognizedClient => C::Unauthenticated,
            Self::UnsupportedOperation(_) => C::Unimplemented,
            Self::Validation(_) => C::InvalidArgument,
        }
    }

    /// Whether the error is the caller's doing (4xx) rather than a fault of the service.
    pub fn is_client_error(&self) -> bool {
        self.wire().status < 500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<KmsError> {
        let m = || "some message".to_owned();
        vec![
            KmsError::AccessDenied(m()),
            KmsError::AlreadyExists(m()),
            KmsError::Conflict(m()),
            KmsError::CustomKeyStoreNotFound(m()),
            KmsError::DependencyTimeout(m()),
            KmsError::Disabled(m()),
            KmsError::DryRunOperation,
            KmsError::ExpiredToken,
            KmsError::IncompleteSignature(m()),
            KmsError::IncorrectKey,
            KmsError::Internal(m()),
            KmsError::InvalidAliasName(m()),
            KmsError::InvalidArn(m()),
            KmsError::InvalidCiphertext,
            KmsError::InvalidGrantId(m()),
            KmsError::InvalidGrantToken(m()),
            KmsError::InvalidKeyUsage(m()),
            KmsError::InvalidMarker(m()),
            KmsError::InvalidSignature(m()),
            KmsError::InvalidState(m()),
            KmsError::LimitExceeded(m()),
            KmsError::MalformedPolicyDocument(m()),
            KmsError::MissingAuthenticationToken,
            KmsError::NotFound(m()),
            KmsError::Serialization,
            KmsError::Tag(m()),
            KmsError::Throttling(m()),
            KmsError::UnknownOperation,
            KmsError::UnrecognizedClient,
            KmsError::UnsupportedOperation(m()),
            KmsError::Validation(m()),
        ]
    }

    #[test]
    fn every_variant_survives_a_round_trip_through_its_wire_form() {
        for err in every_variant() {
            let wire = err.wire();
            let back = KmsError::from_wire(wire.error_type, wire.message.map(str::to_owned));
            assert_eq!(back, err);
        }
    }

    #[test]
    fn invalid_ciphertext_carries_no_message() {
        let wire = KmsError::InvalidCiphertext.wire();
        assert_eq!(
            (wire.status, wire.error_type, wire.message),
            (400, "InvalidCiphertextException", None)
        );
    }

    #[test]
    fn disabled_message_names_the_key_arn() {
        let err = KmsError::disabled("arn:aws:kms:us-east-1:111122223333:key/k");
        assert_eq!(
            err.wire().message,
            Some("arn:aws:kms:us-east-1:111122223333:key/k is disabled.")
        );
    }

    #[test]
    fn an_unknown_type_becomes_an_internal_error() {
        assert_eq!(
            KmsError::from_wire("NoSuchException", None),
            KmsError::Internal("unrecognised error type NoSuchException".to_owned())
        );
    }
}
