//! Conversions between grant messages and core grant types.

use keyshard_core::grants::GrantConstraints;

use crate::v1;

impl From<v1::GrantConstraints> for GrantConstraints {
    /// Empty maps arrive as no constraint.
    fn from(constraints: v1::GrantConstraints) -> Self {
        let map = |pairs: std::collections::HashMap<String, String>| {
            (!pairs.is_empty()).then(|| pairs.into_iter().collect())
        };
        Self {
            encryption_context_equals: map(constraints.encryption_context_equals),
            encryption_context_subset: map(constraints.encryption_context_subset),
            source_arn: constraints.source_arn,
        }
    }
}

impl From<GrantConstraints> for v1::GrantConstraints {
    fn from(constraints: GrantConstraints) -> Self {
        Self {
            encryption_context_equals: constraints
                .encryption_context_equals
                .unwrap_or_default()
                .into_iter()
                .collect(),
            encryption_context_subset: constraints
                .encryption_context_subset
                .unwrap_or_default()
                .into_iter()
                .collect(),
            source_arn: constraints.source_arn,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn constraints_cross_the_hop_unchanged() {
        let pairs: BTreeMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
        let constraints = GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(pairs),
            source_arn: Some("arn:aws:sqs:us-east-1:111122223333:queue".to_owned()),
        };
        let message = v1::GrantConstraints::from(constraints.clone());
        assert!(message.encryption_context_equals.is_empty());
        assert_eq!(GrantConstraints::from(message), constraints);
    }
}
