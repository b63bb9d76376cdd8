//! Key rotation without I/O: the model's rotation enums, the limits of EnableKeyRotation and
//! RotateKeyOnDemand, which keys rotate, and what GetKeyRotationStatus reports (behaviour
//! reference, section 4.5).

use crate::error::KmsError;
use crate::operation::Operation;
use crate::spec::{KeySpec, KeyState, Origin, wire_enum};

wire_enum! {
    /// `RotationType`: how a backing version after the first came to be.
    RotationType {
        Automatic => "AUTOMATIC",
        OnDemand => "ON_DEMAND",
    }
}

wire_enum! {
    /// `KeyMaterialState`. Keys with generated material use only `CURRENT` and `NON_CURRENT`.
    KeyMaterialState {
        NonCurrent => "NON_CURRENT",
        Current => "CURRENT",
        PendingRotation => "PENDING_ROTATION",
        PendingMultiRegionImportAndRotation => "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
    }
}

wire_enum! {
    /// `IncludeKeyMaterial`, the ListKeyRotations member that adds the first material.
    IncludeKeyMaterial {
        AllKeyMaterial => "ALL_KEY_MATERIAL",
        RotationsOnly => "ROTATIONS_ONLY",
    }
}

/// `RotationPeriodInDaysType`: the least `RotationPeriodInDays` EnableKeyRotation takes.
pub const MIN_ROTATION_PERIOD_DAYS: u32 = 90;

/// `RotationPeriodInDaysType`: the greatest `RotationPeriodInDays` EnableKeyRotation takes.
pub const MAX_ROTATION_PERIOD_DAYS: u32 = 2560;

/// The period when EnableKeyRotation names none (AWS KMS API Reference, EnableKeyRotation).
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;

/// On-demand rotations AWS allows per key (AWS KMS API Reference, RotateKeyOnDemand).
pub const DEFAULT_ON_DEMAND_ROTATION_LIMIT: u32 = 25;

pub const MILLIS_PER_DAY: i64 = 86_400_000;

/// How long before an automatic rotation RotateKeyOnDemand is refused with ConflictException
/// (AWS KMS API Reference, RotateKeyOnDemand: ConflictException).
pub const ON_DEMAND_CONFLICT_WINDOW_MILLIS: i64 = 20 * 60 * 1000;

/// A key's automatic rotation schedule. A key without one does not rotate automatically.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RotationSchedule {
    pub period_days: u32,
    /// Milliseconds since the Unix epoch.
    pub next_rotation_at: i64,
}

impl RotationSchedule {
    /// The schedule EnableKeyRotation starts at `now`: the first rotation one period later.
    pub fn starting(now: i64, period_days: u32) -> Self {
        Self {
            period_days,
            next_rotation_at: now.saturating_add(period_millis(period_days)),
        }
    }

    /// The schedule GetKeyRotationStatus reports for a key in `state`. While the key is
    /// pending deletion rotation reads as off, but the schedule is kept and reads as before
    /// once the deletion is cancelled (AWS KMS API Reference, GetKeyRotationStatus).
    pub fn reported(schedule: Option<Self>, state: KeyState) -> Option<Self> {
        match state {
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => None,
            _ => schedule,
        }
    }

    /// Whether an on-demand rotation at `now` would meet this schedule's next automatic one.
    pub fn blocks_on_demand_rotation(&self, now: i64) -> bool {
        self.next_rotation_at <= now.saturating_add(ON_DEMAND_CONFLICT_WINDOW_MILLIS)
    }
}

/// A rotation period in milliseconds.
pub fn period_millis(period_days: u32) -> i64 {
    i64::from(period_days) * MILLIS_PER_DAY
}

/// Whether a key of this spec and origin supports `op`, one of the rotation operations: only
/// symmetric encryption keys whose material KMS generated rotate (behaviour reference, section
/// 2, note 2, and section 4.5).
pub fn check_rotatable(
    op: Operation,
    key_spec: KeySpec,
    origin: Origin,
    key_arn: &str,
) -> Result<(), KmsError> {
    if key_spec != KeySpec::SymmetricDefault {
        return Err(KmsError::UnsupportedOperation(format!(
            "{key_arn} key spec is {key_spec} which is not valid for {op}."
        )));
    }
    match origin {
        Origin::AwsKms => Ok(()),
        // Imported material rotates on demand only to material imported for it, and Keyshard
        // imports none.
        Origin::External if op == Operation::RotateKeyOnDemand => Err(KmsError::InvalidState(
            format!("No available key material pending rotation for the key: {key_arn}."),
        )),
        _ => Err(KmsError::UnsupportedOperation(format!(
            "{key_arn} origin is {origin} which is not valid for this operation."
        ))),
    }
}

/// `LimitExceededException` once a key has had every on-demand rotation it is allowed.
pub fn on_demand_limit_reached(key_arn: &str) -> KmsError {
    KmsError::LimitExceeded(format!(
        "The on-demand rotations limit has been reached for the given keyId. No more on-demand \
         rotations can be performed for this key: {key_arn}"
    ))
}

/// `ConflictException` for RotateKeyOnDemand while an automatic rotation is due.
pub fn automatic_rotation_due(key_arn: &str) -> KmsError {
    KmsError::Conflict(format!(
        "An automatic rotation of {key_arn} is in progress or starts within 20 minutes. Try \
         again after it completes."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn a_schedule_starts_one_period_after_it_is_enabled() {
        assert_eq!(
            RotationSchedule::starting(NOW, 90),
            RotationSchedule {
                period_days: 90,
                next_rotation_at: NOW + 90 * 86_400_000,
            }
        );
    }

    #[test]
    fn a_key_pending_deletion_reports_no_schedule_but_other_states_keep_theirs() {
        let schedule = Some(RotationSchedule::starting(NOW, 365));
        for state in [KeyState::PendingDeletion, KeyState::PendingReplicaDeletion] {
            assert_eq!(RotationSchedule::reported(schedule, state), None, "{state}");
        }
        for state in [KeyState::Enabled, KeyState::Disabled, KeyState::Updating] {
            assert_eq!(
                RotationSchedule::reported(schedule, state),
                schedule,
                "{state}"
            );
        }
        assert_eq!(RotationSchedule::reported(None, KeyState::Enabled), None);
    }

    #[test]
    fn on_demand_rotation_conflicts_only_within_twenty_minutes_of_an_automatic_one() {
        let schedule = RotationSchedule {
            period_days: 90,
            next_rotation_at: NOW + ON_DEMAND_CONFLICT_WINDOW_MILLIS,
        };
        assert!(schedule.blocks_on_demand_rotation(NOW));
        assert!(schedule.blocks_on_demand_rotation(NOW + 3 * ON_DEMAND_CONFLICT_WINDOW_MILLIS));
        assert!(!schedule.blocks_on_demand_rotation(NOW - 1));
    }

    #[test]
    fn only_symmetric_keys_with_generated_material_rotate() {
        let check = |op, spec, origin| check_rotatable(op, spec, origin, ARN);
        for op in [
            Operation::EnableKeyRotation,
            Operation::RotateKeyOnDemand,
            Operation::ListKeyRotations,
        ] {
            assert_eq!(check(op, KeySpec::SymmetricDefault, Origin::AwsKms), Ok(()));
        }
        assert_eq!(
            check(
                Operation::EnableKeyRotation,
                KeySpec::Hmac256,
                Origin::AwsKms
            ),
            Err(KmsError::UnsupportedOperation(format!(
                "{ARN} key spec is HMAC_256 which is not valid for EnableKeyRotation."
            )))
        );
        assert_eq!(
            check(
                Operation::GetKeyRotationStatus,
                KeySpec::SymmetricDefault,
                Origin::External
            ),
            Err(KmsError::UnsupportedOperation(format!(
                "{ARN} origin is EXTERNAL which is not valid for this operation."
            )))
        );
        assert_eq!(
            check(
                Operation::RotateKeyOnDemand,
                KeySpec::SymmetricDefault,
                Origin::External
            ),
            Err(KmsError::InvalidState(format!(
                "No available key material pending rotation for the key: {ARN}."
            )))
        );
    }

    #[test]
    fn the_on_demand_limit_message_names_the_key_arn() {
        assert_eq!(
            on_demand_limit_reached(ARN),
            KmsError::LimitExceeded(format!(
                "The on-demand rotations limit has been reached for the given keyId. No more \
                 on-demand rotations can be performed for this key: {ARN}"
            ))
        );
    }

    #[test]
    fn rotation_enums_keep_their_wire_spelling() {
        assert_eq!(
            RotationType::parse("ON_DEMAND"),
            Some(RotationType::OnDemand)
        );
        assert_eq!(RotationType::Automatic.as_str(), "AUTOMATIC");
        assert_eq!(
            IncludeKeyMaterial::VALUES,
            &["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"]
        );
        assert_eq!(KeyMaterialState::Current.as_str(), "CURRENT");
    }
}
