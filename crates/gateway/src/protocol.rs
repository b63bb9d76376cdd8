//! The JSON 1.1 envelope: method, path, `Content-Type`, `X-Amz-Target` and `Authorization`
//! checks, and reading the body under a size cap.

use std::time::Duration;

use http::{HeaderMap, Method, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Bytes};
use keyshard_core::KmsError;
use keyshard_core::operation::Operation;

/// Largest accepted request body. The largest valid KMS request (a 256 KiB attestation
/// document, base64-encoded, with its other members) stays well below it.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

const TARGET_PREFIX: &str = "TrentService.";
const CONTENT_TYPES: &[&str] = &["application/x-amz-json-1.1", "application/json"];

/// Which operation the request names. A wrong method, path or content type, or a target that
/// is not `TrentService.<Operation>`, is `UnknownOperationException`, as AWS answers.
pub(crate) fn operation(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Operation, KmsError> {
    if method != Method::POST || path != "/" {
        return Err(KmsError::UnknownOperation);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !CONTENT_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(media_type))
    {
        return Err(KmsError::UnknownOperation);
    }
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|target| target.strip_prefix(TARGET_PREFIX))
        .and_then(Operation::parse)
        .ok_or(KmsError::UnknownOperation)
}

/// A client must send the whole body within this time.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] (at once when the declared
/// length is larger) and a body that does not arrive in [`BODY_READ_TIMEOUT`].
pub(crate) async fn read_body<B>(body: B) -> Result<Bytes, KmsError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        KmsError::Validation(format!(
            "Request body must be at most {MAX_BODY_BYTES} bytes."
        ))
    };
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        Limited::new(body, MAX_BODY_BYTES).collect(),
    )
    .await
    .map_err(|_| KmsError::Serialization)?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(KmsError::Serialization),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    const JSON: (&str, &str) = ("content-type", "application/x-amz-json-1.1");

    #[test]
    fn a_trent_service_target_names_its_operation() {
        let h = headers(&[JSON, ("x-amz-target", "TrentService.GenerateDataKey")]);
        assert_eq!(
            operation(&Method::POST, "/", &h),
            Ok(Operation::GenerateDataKey)
        );
    }

    #[test]
    fn unknown_or_missing_targets_are_unknown_operations() {
        for target in [
            "TrentService.Nope",
            "Other.GenerateDataKey",
            "TrentService.generateDataKey",
        ] {
            let mut h = headers(&[JSON]);
            h.insert("x-amz-target", HeaderValue::from_static(target));
            assert_eq!(
                operation(&Method::POST, "/", &h),
                Err(KmsError::UnknownOperation),
                "{target}"
            );
        }
        assert_eq!(
            operation(&Method::POST, "/", &headers(&[JSON])),
            Err(KmsError::UnknownOperation)
        );
    }

    #[test]
    fn other_methods_paths_and_content_types_are_unknown_operations() {
        let good = [JSON, ("x-amz-target", "TrentService.ListKeys")];
        assert_eq!(
            operation(&Method::GET, "/", &headers(&good)),
            Err(KmsError::UnknownOperation)
        );
        assert_eq!(
            operation(&Method::POST, "/x", &headers(&good)),
            Err(KmsError::UnknownOperation)
        );
        let xml = headers(&[
            ("content-type", "text/xml"),
            ("x-amz-target", "TrentService.ListKeys"),
        ]);
        assert_eq!(
            operation(&Method::POST, "/", &xml),
            Err(KmsError::UnknownOperation)
        );
    }

    #[test]
    fn a_missing_authorization_header_is_a_missing_token() {
        assert_eq!(
            crate::sigv4::check_shape(&HeaderMap::new()),
            Err(KmsError::MissingAuthenticationToken)
        );
    }

    #[test]
    fn a_malformed_authorization_header_names_what_is_missing() {
        let h = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=a/b, Signature=00",
        )]);
        assert_eq!(
            crate::sigv4::check_shape(&h),
            Err(KmsError::IncompleteSignature(
                "Authorization header requires 'SignedHeaders' parameter.".into()
            ))
        );
        let h = headers(&[("authorization", "Basic abc")]);
        assert_eq!(
            crate::sigv4::check_shape(&h),
            Err(KmsError::IncompleteSignature(
                "Authorization header must use the AWS4-HMAC-SHA256 algorithm".into()
            ))
        );
    }

    #[test]
    fn a_bare_algorithm_name_asks_for_the_credential() {
        let h = headers(&[("authorization", "AWS4-HMAC-SHA256")]);
        assert_eq!(
            crate::sigv4::check_shape(&h),
            Err(KmsError::IncompleteSignature(
                "Authorization header requires 'Credential' parameter.".into()
            ))
        );
    }

    #[test]
    fn a_well_formed_sigv4_header_is_accepted_in_development_mode() {
        let h = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd",
        )]);
        assert_eq!(crate::sigv4::check_shape(&h), Ok(()));
    }
}
