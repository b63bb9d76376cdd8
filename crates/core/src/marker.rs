//! Paging markers: the opaque `Marker`/`NextMarker` strings of the List operations.
//!
//! A marker carries the list it belongs to and the sort key of the last entry returned. It is
//! opaque to callers; anything that does not decode is `InvalidMarkerException`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::KmsError;

/// Which listing a marker continues, so a ListKeys marker is refused by ListAliases.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Listing {
    Aliases,
    Keys,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Self::Aliases => "aliases",
            Self::Keys => "keys",
        }
    }
}

/// Encodes the position after `last` in `listing`.
pub fn encode(listing: Listing, last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1\n{}\n{last}", listing.tag()))
}

/// Decodes a caller's marker back to the sort key it continues after.
pub fn decode(listing: Listing, marker: &str) -> Result<String, KmsError> {
    let invalid =
        || KmsError::InvalidMarker("The marker that specifies where to start is invalid.".into());
    let bytes = URL_SAFE_NO_PAD.decode(marker).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(tag), Some(last)) if tag == listing.tag() && !last.is_empty() => {
            Ok(last.to_owned())
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_decodes_to_what_it_encoded() {
        let marker = encode(Listing::Keys, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(
            decode(Listing::Keys, &marker).unwrap(),
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        );
    }

    #[test]
    fn garbage_and_foreign_markers_are_invalid() {
        let aliases = encode(Listing::Aliases, "alias/app");
        for marker in ["garbage", "", "!!!!", aliases.as_str()] {
            assert!(
                matches!(
                    decode(Listing::Keys, marker),
                    Err(KmsError::InvalidMarker(_))
                ),
                "{marker}"
            );
        }
    }
}
