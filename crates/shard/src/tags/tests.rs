//! The check-then-write loop of tag changes, driven with scripted key states in place of the
//! store.

use std::cell::RefCell;

use keyshard_core::id::{KeyId, Scope};

use super::*;

fn arn() -> KeyArn {
    let scope = Scope {
        account: "111122223333".parse().unwrap(),
        region: "us-east-1".parse().unwrap(),
    };
    scope.key_arn(KeyId::from_bytes([0x42; 16]))
}

/// Runs the loop for TagResource over the states the store reports, one per read, and returns
/// its outcome and the states the writes were made against. A write applies only if the next
/// state read (the one a concurrent change leaves behind) equals the state it was made against.
async fn run(states: &[Option<KeyState>]) -> (Result<(), KmsError>, Vec<KeyState>) {
    let reads = RefCell::new(states.iter().copied());
    let writes = RefCell::new(Vec::new());
    let next_state = RefCell::new(None);
    let read = || {
        let state = match next_state.borrow_mut().take() {
            Some(state) => state,
            None => reads
                .borrow_mut()
                .next()
                .expect("the script has a state for every read"),
        };
        std::future::ready(Ok(state))
    };
    let write = |state| {
        writes.borrow_mut().push(state);
        let now = reads.borrow_mut().next().flatten();
        *next_state.borrow_mut() = Some(now);
        std::future::ready(Ok(now == Some(state)))
    };
    let outcome = apply_in_current_state(Operation::TagResource, &arn(), read, write).await;
    (outcome, writes.into_inner())
}

#[tokio::test]
async fn a_key_whose_state_holds_is_written_once() {
    let enabled = Some(KeyState::Enabled);
    assert_eq!(
        run(&[enabled, enabled]).await,
        (Ok(()), vec![KeyState::Enabled])
    );
}

#[tokio::test]
async fn a_key_disabled_between_check_and_write_is_checked_again_and_tagged() {
    let (enabled, disabled) = (Some(KeyState::Enabled), Some(KeyState::Disabled));
    assert_eq!(
        run(&[enabled, disabled, disabled]).await,
        (Ok(()), vec![KeyState::Enabled, KeyState::Disabled])
    );
}

#[tokio::test]
async fn a_key_scheduled_for_deletion_between_check_and_write_is_refused_as_pending_deletion() {
    let enabled = Some(KeyState::Enabled);
    assert_eq!(
        run(&[enabled, Some(KeyState::PendingDeletion)]).await,
        (
            Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                arn()
            ))),
            vec![KeyState::Enabled]
        )
    );
}

#[tokio::test]
async fn a_key_deleted_between_check_and_write_is_not_found() {
    assert_eq!(
        run(&[Some(KeyState::Enabled), None]).await,
        (
            Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                arn()
            ))),
            vec![KeyState::Enabled]
        )
    );
}

#[tokio::test]
async fn a_key_that_keeps_changing_state_fails_after_three_attempts() {
    let (enabled, disabled) = (Some(KeyState::Enabled), Some(KeyState::Disabled));
    let (outcome, writes) = run(&[enabled, disabled, enabled, disabled]).await;
    assert_eq!(
        outcome,
        Err(KmsError::Internal(
            "The key changed state repeatedly while the request ran.".to_owned()
        ))
    );
    assert_eq!(
        writes,
        [KeyState::Enabled, KeyState::Disabled, KeyState::Enabled]
    );
}

#[tokio::test]
async fn a_refused_write_is_answered_as_it_is() {
    let read = || std::future::ready(Ok(Some(KeyState::Enabled)));
    let write = |_| std::future::ready(Err(too_many_tags()));
    assert_eq!(
        apply_in_current_state(Operation::TagResource, &arn(), read, write).await,
        Err(KmsError::Tag("Too many tags".to_owned()))
    );
}
