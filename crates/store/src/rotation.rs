//! The records of key rotation: how each backing version came to be, what triggers a new one,
//! and the keys whose automatic rotation is due.

use keyshard_core::id::{AccountId, KeyId};
use keyshard_core::rotation::RotationType;

use crate::Millis;

/// One backing version of a key, as ListKeyRotations shows it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeyRotation {
    pub version: u32,
    /// When the version was made: the rotation date of every version after the first.
    pub created_at: Millis,
    /// `None` for the key's first version, which no rotation made.
    pub rotation_type: Option<RotationType>,
}

/// What adds a backing version to a key, and the condition it adds it under.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RotationTrigger {
    /// RotateKeyOnDemand: refused once the key has had `limit` on-demand rotations.
    OnDemand { limit: u32 },
    /// The automatic schedule: only while the key's rotation is due, and it moves the next
    /// rotation one period after this one.
    Automatic,
}

impl RotationTrigger {
    pub fn rotation_type(self) -> RotationType {
        match self {
            Self::OnDemand { .. } => RotationType::OnDemand,
            Self::Automatic => RotationType::Automatic,
        }
    }
}

/// A key whose automatic rotation is due, as the administrative walk finds it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DueRotation {
    pub account: AccountId,
    pub key_id: KeyId,
    pub next_rotation_at: Millis,
}
