//! An AWS error crossing the gRPC hop: the shard puts `__type` and message in metadata on the
//! `tonic::Status`; the gateway rebuilds the same [`KmsError`], falling back to a mapping from
//! the gRPC code when the metadata is missing or unreadable.

use keyshard_core::KmsError;
use tonic::metadata::{BinaryMetadataValue, MetadataValue};
use tonic::{Code, Status};

use crate::v1;

const ERROR_TYPE: &str = "keyshard-error-type";
const ERROR_MESSAGE: &str = "keyshard-error-message-bin";

/// The status a shard answers with for `err`.
pub fn status_from_error(err: &KmsError) -> Status {
    let wire = err.wire();
    let code = match wire.status {
        500 => Code::Internal,
        503 => Code::Unavailable,
        _ => Code::FailedPrecondition,
    };
    let mut status = Status::new(code, wire.error_type);
    let metadata = status.metadata_mut();
    metadata.insert(ERROR_TYPE, MetadataValue::from_static(wire.error_type));
    if let Some(message) = wire.message {
        metadata.insert_bin(
            ERROR_MESSAGE,
            BinaryMetadataValue::from_bytes(message.as_bytes()),
        );
    }
    status
}

/// Whether a status is a shard's answer (it carries an AWS error type) rather than a failure of
/// the transport or of the shard process.
pub fn carries_kms_error(status: &Status) -> bool {
    status.metadata().contains_key(ERROR_TYPE)
}

/// The error a gateway reports for a status from a shard.
pub fn error_from_status(status: &Status) -> KmsError {
    let metadata = status.metadata();
    let error_type = metadata.get(ERROR_TYPE).and_then(|v| v.to_str().ok());
    if let Some(error_type) = error_type {
        let message = metadata
            .get_bin(ERROR_MESSAGE)
            .and_then(|v| v.to_bytes().ok())
            .and_then(|b| String::from_utf8(b.to_vec()).ok());
        return KmsError::from_wire(error_type, message);
    }
    match status.code() {
        Code::DeadlineExceeded | Code::Unavailable => {
            KmsError::DependencyTimeout("The shard did not answer in time.".to_owned())
        }
        _ => KmsError::Internal("The shard failed to process the request.".to_owned()),
    }
}

/// Most items one batch call carries, on the public API and between gateway and shard.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// How one failed item of a batch crosses the hop.
pub fn item_error(err: &KmsError) -> v1::ItemError {
    let wire = err.wire();
    v1::ItemError {
        error_type: wire.error_type.to_owned(),
        message: wire.message.map(str::to_owned),
    }
}

/// The error a gateway reports for one failed item of a batch.
pub fn error_from_item(item: v1::ItemError) -> KmsError {
    KmsError::from_wire(&item.error_type, item.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_type_and_message_across_the_hop() {
        let errors = [
            KmsError::disabled("arn:aws:kms:us-east-1:111122223333:key/k"),
            KmsError::InvalidCiphertext,
            KmsError::NotFound("Invalid keyId 'x'".to_owned()),
            KmsError::Validation("naïve message with ünïcode".to_owned()),
            KmsError::Internal("boom".to_owned()),
            KmsError::DependencyTimeout("slow".to_owned()),
        ];
        for err in errors {
            let status = status_from_error(&err);
            assert!(carries_kms_error(&status));
            assert_eq!(error_from_status(&status), err);
        }
    }

    #[test]
    fn a_batch_item_s_error_keeps_its_type_and_message_across_the_hop() {
        let errors = [
            KmsError::disabled("arn:aws:kms:us-east-1:111122223333:key/k"),
            KmsError::InvalidCiphertext,
            KmsError::Throttling("Rate exceeded".to_owned()),
            KmsError::DependencyTimeout("slow".to_owned()),
        ];
        for err in errors {
            assert_eq!(error_from_item(item_error(&err)), err);
        }
    }

    #[test]
    fn a_status_without_metadata_maps_by_code() {
        assert!(!carries_kms_error(&Status::unavailable(
            "connection refused"
        )));
        assert_eq!(
            error_from_status(&Status::unavailable("connection refused")),
            KmsError::DependencyTimeout("The shard did not answer in time.".to_owned())
        );
        assert_eq!(
            error_from_status(&Status::invalid_argument("bad field")),
            KmsError::Internal("The shard failed to process the request.".to_owned())
        );
    }
}
