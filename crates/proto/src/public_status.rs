//! How the public API (`keyshard.kms.v1`) reports an AWS error: a gRPC status whose code says
//! what kind of failure it is, whose message is AWS's message (or the error type when AWS sends
//! none), and whose `x-amz-error-type` metadata is the AWS `__type`.

use keyshard_core::KmsError;
use keyshard_core::error::Category;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The metadata key that carries the AWS error type of a failed public call.
pub const ERROR_TYPE_METADATA: &str = "x-amz-error-type";

/// The gRPC code the public API answers `err` with.
pub fn public_code(err: &KmsError) -> Code {
    match err.category() {
        Category::InvalidArgument => Code::InvalidArgument,
        Category::NotFound => Code::NotFound,
        Category::AlreadyExists => Code::AlreadyExists,
        Category::PermissionDenied => Code::PermissionDenied,
        Category::Unauthenticated => Code::Unauthenticated,
        Category::ResourceExhausted => Code::ResourceExhausted,
        Category::FailedPrecondition => Code::FailedPrecondition,
        Category::Unimplemented => Code::Unimplemented,
        Category::Unavailable => Code::Unavailable,
        Category::Internal => Code::Internal,
    }
}

/// The status a public call fails with for `err`.
pub fn public_status(err: &KmsError) -> Status {
    let wire = err.wire();
    let mut status = Status::new(public_code(err), wire.message.unwrap_or(wire.error_type));
    status.metadata_mut().insert(
        ERROR_TYPE_METADATA,
        MetadataValue::from_static(wire.error_type),
    );
    status
}

/// The AWS error type of a status from the public API (its message is the status message), or
/// `None` for a status that carries no error type (a failure of the transport or of a proxy on
/// the way).
pub fn public_error_type(status: &Status) -> Option<&str> {
    status
        .metadata()
        .get(ERROR_TYPE_METADATA)
        .and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_category_has_its_grpc_code_and_the_aws_type_in_metadata() {
        let cases = [
            (
                KmsError::Validation("bad".into()),
                Code::InvalidArgument,
                "ValidationException",
                "bad",
            ),
            (
                KmsError::Serialization,
                Code::InvalidArgument,
                "SerializationException",
                "SerializationException",
            ),
            (
                KmsError::NotFound("gone".into()),
                Code::NotFound,
                "NotFoundException",
                "gone",
            ),
            (
                KmsError::AccessDenied("no".into()),
                Code::PermissionDenied,
                "AccessDeniedException",
                "no",
            ),
            (
                KmsError::MissingAuthenticationToken,
                Code::Unauthenticated,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            (
                KmsError::Throttling("Rate exceeded".into()),
                Code::ResourceExhausted,
                "ThrottlingException",
                "Rate exceeded",
            ),
            (
                KmsError::disabled("arn:k"),
                Code::FailedPrecondition,
                "DisabledException",
                "arn:k is disabled.",
            ),
            (
                KmsError::DependencyTimeout("slow".into()),
                Code::Unavailable,
                "DependencyTimeoutException",
                "slow",
            ),
            (
                KmsError::Internal("boom".into()),
                Code::Internal,
                "KMSInternalException",
                "boom",
            ),
            (
                KmsError::AlreadyExists("dup".into()),
                Code::AlreadyExists,
                "AlreadyExistsException",
                "dup",
            ),
        ];
        for (err, code, error_type, message) in cases {
            let status = public_status(&err);
            assert_eq!(status.code(), code, "{error_type}");
            assert_eq!(public_error_type(&status), Some(error_type));
            assert_eq!(status.message(), message);
        }
    }

    #[test]
    fn a_status_without_the_metadata_has_no_error_type() {
        assert_eq!(public_error_type(&Status::unavailable("down")), None);
    }
}
