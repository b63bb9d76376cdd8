//! The `Condition` element of a key policy statement, parsed once, and its evaluation against the
//! condition values of a request (IAM JSON policy reference, "Condition", "Condition operators"
//! and "Multivalued context keys").

use serde_json::Value;

use super::malformed;
use super::wildcard;
use crate::authz::RequestConditions;
use crate::error::KmsError;

/// Every condition of one statement; the statement applies only when all of them hold.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct Conditions(Vec<Condition>);

/// One operator applied to one condition key: true when the request's values for the key pass
/// the test against any of the policy's values.
#[derive(Clone, Debug, Eq, PartialEq)]
struct Condition {
    set: SetQualifier,
    test: Test,
    /// The `Not` operators: a value passes when it matches none of the policy's values.
    negated: bool,
    /// The `IfExists` suffix: an absent key passes.
    if_exists: bool,
    /// The condition key, lowercased: key names are case-insensitive.
    key: String,
    values: Vec<String>,
}

/// How a condition treats a key with several values in the request.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum SetQualifier {
    /// No qualifier: one request value that passes is enough.
    Single,
    /// `ForAnyValue:`: at least one request value passes; an absent key fails.
    AnyValue,
    /// `ForAllValues:`: every request value passes; an absent key passes.
    AllValues,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Test {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Comparison),
    Bool,
    Arn,
    /// `Null`: whether the key is absent, not a comparison of values.
    Null,
    /// Date, IP address and binary operators. Keyshard supplies no condition key of these types,
    /// so no request value ever matches them.
    NeverMatches,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Comparison {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

impl Conditions {
    /// Parses a statement's `Condition`: an object mapping operators to objects that map condition
    /// keys to a value or a non-empty list of values (strings, numbers or booleans).
    pub(crate) fn parse(condition: &Value) -> Result<Self, KmsError> {
        let Value::Object(operators) = condition else {
            return Err(malformed_condition());
        };
        let mut conditions = Vec::new();
        for (operator, keys) in operators {
            let Some((set, test, negated, if_exists)) = parse_operator(operator) else {
                return Err(malformed(&format!(
                    "Policy contains a statement with an unknown condition operator: {operator}."
                )));
            };
            let Value::Object(keys) = keys else {
                return Err(malformed_condition());
            };
            for (key, values) in keys {
                let values = condition_values(values).ok_or_else(malformed_condition)?;
                if key.is_empty() {
                    return Err(malformed_condition());
                }
                if !values.iter().all(|value| test.accepts_policy_value(value)) {
                    return Err(malformed(&format!(
                        "Policy contains a statement with a condition value that {operator} \
                         cannot compare."
                    )));
                }
                conditions.push(Condition {
                    set,
                    test,
                    negated,
                    if_exists,
                    key: key.to_lowercase(),
                    values,
                });
            }
        }
        Ok(Self(conditions))
    }

    /// Whether every condition holds for a request with these condition values.
    pub(crate) fn hold(&self, request: &RequestConditions) -> bool {
        self.0
            .iter()
            .all(|condition| condition.holds(request.lowercase_key_values(&condition.key)))
    }
}

impl Condition {
    fn holds(&self, request: Option<&[String]>) -> bool {
        if self.test == Test::Null {
            let absent = request.is_none();
            return self
                .values
                .iter()
                .any(|value| value.eq_ignore_ascii_case("true") == absent);
        }
        let Some(request) = request else {
            // IAM JSON policy reference: an absent key fails a condition, except that it passes
            // IfExists, ForAllValues and the negated operators.
            return self.if_exists
                || match self.set {
                    SetQualifier::AllValues => true,
                    SetQualifier::AnyValue => false,
                    SetQualifier::Single => self.negated,
                };
        };
        let matches = |value: &String| {
            self.values
                .iter()
                .any(|policy| self.test.matches(policy, value))
        };
        let passes = |value: &String| matches(value) != self.negated;
        match self.set {
            SetQualifier::AllValues => request.iter().all(passes),
            SetQualifier::AnyValue => request.iter().any(passes),
            // A negated operator without a qualifier fails when any value matches: the values of
            // `StringNotEquals` combine as "none of these".
            SetQualifier::Single => request.iter().any(matches) != self.negated,
        }
    }
}

impl Test {
    fn matches(self, policy: &str, request: &str) -> bool {
        match self {
            Self::String => policy == request,
            Self::StringIgnoreCase => policy.to_lowercase() == request.to_lowercase(),
            Self::StringLike => wildcard::matches(policy, request, false),
            Self::Numeric(comparison) => match (number(policy), number(request)) {
                (Some(policy), Some(request)) => comparison.holds(request, policy),
                _ => false,
            },
            Self::Bool => policy.eq_ignore_ascii_case(request),
            Self::Arn => wildcard::matches_arn(policy, request),
            Self::Null | Self::NeverMatches => false,
        }
    }

    /// Whether a value written in a policy is one this test can compare with.
    fn accepts_policy_value(self, value: &str) -> bool {
        match self {
            Self::Numeric(_) => number(value).is_some(),
            Self::Bool | Self::Null => {
                value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
            }
            _ => true,
        }
    }
}

impl Comparison {
    fn holds(self, request: f64, policy: f64) -> bool {
        match self {
            Self::Equals => request == policy,
            Self::LessThan => request < policy,
            Self::LessThanEquals => request <= policy,
            Self::GreaterThan => request > policy,
            Self::GreaterThanEquals => request >= policy,
        }
    }
}

/// An operator's set qualifier, test, negation and `IfExists` suffix, or `None` for a name that
/// is no IAM condition operator.
fn parse_operator(name: &str) -> Option<(SetQualifier, Test, bool, bool)> {
    let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (SetQualifier::AnyValue, rest)
    } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (SetQualifier::AllValues, rest)
    } else {
        (SetQualifier::Single, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let (test, negated) = match base {
        "StringEquals" => (Test::String, false),
        "StringNotEquals" => (Test::String, true),
        "StringEqualsIgnoreCase" => (Test::StringIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::StringIgnoreCase, true),
        "StringLike" => (Test::StringLike, false),
        "StringNotLike" => (Test::StringLike, true),
        "NumericEquals" => (Test::Numeric(Comparison::Equals), false),
        "NumericNotEquals" => (Test::Numeric(Comparison::Equals), true),
        "NumericLessThan" => (Test::Numeric(Comparison::LessThan), false),
        "NumericLessThanEquals" => (Test::Numeric(Comparison::LessThanEquals), false),
        "NumericGreaterThan" => (Test::Numeric(Comparison::GreaterThan), false),
        "NumericGreaterThanEquals" => (Test::Numeric(Comparison::GreaterThanEquals), false),
        "DateEquals"
        | "DateLessThan"
        | "DateLessThanEquals"
        | "DateGreaterThan"
        | "DateGreaterThanEquals"
        | "BinaryEquals"
        | "IpAddress" => (Test::NeverMatches, false),
        "DateNotEquals" | "NotIpAddress" => (Test::NeverMatches, true),
        "Bool" => (Test::Bool, false),
        "ArnEquals" | "ArnLike" => (Test::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
        // Null tests presence itself, so it takes neither a qualifier nor IfExists.
        "Null" if set == SetQualifier::Single && !if_exists => (Test::Null, false),
        _ => return None,
    };
    Some((set, test, negated, if_exists))
}

/// A condition key's values: one scalar or a non-empty list of scalars, each as a string.
fn condition_values(values: &Value) -> Option<Vec<String>> {
    let scalar = |value: &Value| match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match values {
        Value::Array(list) if !list.is_empty() => list.iter().map(scalar).collect(),
        Value::Array(_) => None,
        one => scalar(one).map(|value| vec![value]),
    }
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn malformed_condition() -> KmsError {
    malformed(
        "Policy contains a statement whose Condition is not an object of condition operators, \
         each mapping condition keys to a value or a list of values.",
    )
}
