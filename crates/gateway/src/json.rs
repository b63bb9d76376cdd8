//! JSON 1.1 bodies: decoding a request into its serde mirror of the model, blobs as base64,
//! timestamps as epoch seconds, and encoding a response.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyshard_core::KmsError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize as _;

/// Decodes a request body. An empty body counts as `{}`; anything that is not a JSON object of
/// the right member types is `SerializationException`, as AWS answers.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, KmsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|_| KmsError::Serialization)
}

/// Encodes a response body.
pub(crate) fn encode<T: Serialize>(response: &T) -> Result<Vec<u8>, KmsError> {
    serde_json::to_vec(response)
        .map_err(|err| KmsError::Internal(format!("response encoding failed: {err}")))
}

/// A blob member: standard, padded base64 on the wire. Blobs may hold plaintext, so they are
/// wiped when dropped.
pub(crate) struct Blob(pub(crate) Vec<u8>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob(<{} bytes>)", self.0.len())
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Self)
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

/// Milliseconds since the epoch as the fractional epoch seconds AWS sends.
pub(crate) fn epoch_seconds(millis: i64) -> f64 {
    // Millisecond timestamps until the year 285,000 fit f64's 53-bit mantissa exactly.
    #[allow(clippy::cast_precision_loss, reason = "see the comment above")]
    let millis = millis as f64;
    millis / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Sample {
        key_id: Option<String>,
        plaintext: Option<Blob>,
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        let sample: Sample = decode(b"").unwrap();
        assert_eq!((sample.key_id, sample.plaintext.is_none()), (None, true));
    }

    #[test]
    fn wrong_types_and_bad_json_are_serialization_errors() {
        for body in [
            &b"{\"KeyId\": 5}"[..],
            b"{\"KeyId\":",
            b"[]",
            b"{\"Plaintext\": \"not base64!\"}",
        ] {
            assert_eq!(decode::<Sample>(body).unwrap_err(), KmsError::Serialization);
        }
    }

    #[test]
    fn blobs_are_standard_base64() {
        let sample: Sample = decode(br#"{"Plaintext": "aGk/Pz8="}"#).unwrap();
        assert_eq!(
            sample.plaintext.as_ref().map(|b| &b.0[..]),
            Some(&b"hi???"[..])
        );
        assert_eq!(
            serde_json::to_string(&Blob(b"hi???".to_vec())).unwrap(),
            "\"aGk/Pz8=\""
        );
    }

    #[test]
    fn timestamps_are_fractional_seconds() {
        assert_eq!(epoch_seconds(1_700_000_000_123), 1_700_000_000.123);
    }
}
