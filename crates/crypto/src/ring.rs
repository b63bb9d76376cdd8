//! The root keys a process holds: one active key that wraps new key material, and any number of
//! previous keys that still unwrap what they wrapped until it is re-wrapped.

use crate::secret::RootKey;

/// Root keys by id, with the active one first.
#[derive(Debug)]
pub struct RootKeyRing {
    keys: Vec<RootKey>,
}

impl RootKeyRing {
    /// A ring whose `active` key wraps new material; `previous` keys only unwrap. Keys that
    /// repeat the active key's id are dropped.
    pub fn new(active: RootKey, previous: Vec<RootKey>) -> Self {
        let mut keys = vec![active];
        for key in previous {
            if keys.iter().all(|k| k.id() != key.id()) {
                keys.push(key);
            }
        }
        Self { keys }
    }

    /// The key new material is wrapped under.
    pub fn active(&self) -> &RootKey {
        &self.keys[0]
    }

    /// The key with this id, if the ring holds it.
    pub fn get(&self, id: &str) -> Option<&RootKey> {
        self.keys.iter().find(|k| k.id() == id)
    }

    /// Ids of every key held, active first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(RootKey::id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretBytes;

    fn key(byte: u8) -> RootKey {
        RootKey::new(SecretBytes::new(vec![byte; 32])).unwrap()
    }

    #[test]
    fn the_active_key_comes_first_and_every_key_is_found_by_id() {
        let (a, b) = (key(1), key(2));
        let (a_id, b_id) = (a.id().to_owned(), b.id().to_owned());
        let ring = RootKeyRing::new(a, vec![b, key(1)]);
        assert_eq!(ring.active().id(), a_id);
        assert_eq!(ring.get(&b_id).map(RootKey::id), Some(b_id.as_str()));
        assert_eq!(
            ring.ids().collect::<Vec<_>>(),
            vec![a_id.as_str(), b_id.as_str()]
        );
        assert_eq!(ring.get("0000000000000000").map(RootKey::id), None);
    }
}
