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
    Tags,
    KeyRotations,
    Grants,
    RetirableGrants,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Self::Aliases => "aliases",
            Self::Keys => "keys",
            Self::Tags => "tags",
            Self::KeyRotations => "key-rotations",
            Self::Grants => "grants",
            Self::RetirableGrants => "retirable-grants",
        }
    }
}

/// One page of a listing, as the List operations return it.
#[derive(Debug, Eq, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present only when `truncated` is true.
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// Cuts a page of at most `limit` items from `items`, which the caller fetched with one more
/// than `limit` so that a further page can be detected. `sort_key` names the position the
/// next page continues after.
pub fn paginate<T>(
    mut items: Vec<T>,
    limit: u32,
    listing: Listing,
    sort_key: impl Fn(&T) -> String,
) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let truncated = items.len() > limit;
    items.truncate(limit);
    let next_marker = match items.last() {
        Some(last) if truncated => Some(encode(listing, &sort_key(last))),
        _ => None,
    };
    Page {
        items,
        next_marker,
        truncated,
    }
}

/// The error for a marker that is not one this listing handed out.
pub fn invalid_marker() -> KmsError {
    KmsError::InvalidMarker("The marker that specifies where to start is invalid.".to_owned())
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
    fn a_full_page_is_truncated_and_points_past_its_last_item() {
        let page = paginate(vec!["a", "b", "c"], 2, Listing::Aliases, |s| {
            (*s).to_owned()
        });
        assert_eq!(page.items, vec!["a", "b"]);
        assert!(page.truncated);
        assert_eq!(
            decode(Listing::Aliases, &page.next_marker.unwrap()).unwrap(),
            "b"
        );
    }

    #[test]
    fn the_last_page_has_no_marker() {
        let page = paginate(vec!["a", "b"], 2, Listing::Keys, |s| (*s).to_owned());
        assert_eq!(
            page,
            Page {
                items: vec!["a", "b"],
                next_marker: None,
                truncated: false
            }
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
