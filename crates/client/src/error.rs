//! A failed call, as the client reports it.

use keyshard_proto::public_error_type;
use tonic::{Code, Status};

/// Why a call failed: its gRPC code, the AWS error type when Keyshard answered (none when the
/// call failed on the way, such as a refused connection), and the message.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{}: {message}", error_type.as_deref().unwrap_or("gRPC error"))]
pub struct Error {
    code: Code,
    error_type: Option<String>,
    message: String,
}

impl Error {
    /// The gRPC status code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The AWS error type, such as `NotFoundException`, when Keyshard answered the call.
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    /// AWS's message, or the transport's description of what went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn transport(err: impl std::error::Error) -> Self {
        Self {
            code: Code::Unavailable,
            error_type: None,
            message: err.to_string(),
        }
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Self {
            code: status.code(),
            error_type: public_error_type(&status).map(str::to_owned),
            message: status.message().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use keyshard_core::KmsError;
    use keyshard_proto::public_status;

    use super::*;

    #[test]
    fn an_answered_failure_keeps_its_aws_type_and_message() {
        let err = Error::from(public_status(&KmsError::NotFound(
            "Alias x is not found.".into(),
        )));
        assert_eq!(err.code(), Code::NotFound);
        assert_eq!(err.error_type(), Some("NotFoundException"));
        assert_eq!(err.message(), "Alias x is not found.");
        assert_eq!(err.to_string(), "NotFoundException: Alias x is not found.");
    }

    #[test]
    fn a_failure_on_the_way_has_no_aws_type() {
        let err = Error::from(Status::unavailable("connection refused"));
        assert_eq!(err.error_type(), None);
        assert_eq!(err.to_string(), "gRPC error: connection refused");
    }
}
