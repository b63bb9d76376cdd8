//! Key policies: the default policy CreateKey attaches, the policy names, the checks CreateKey
//! and PutKeyPolicy apply before a policy is stored (behaviour reference, sections 4.1 and 5.4),
//! and the parsed form whose statements [`crate::authz`] evaluates.
//!
//! Keyshard has no IAM. A statement whose principal is an account (`arn:aws:iam::<acct>:root`
//! or the bare 12-digit id) applies to every principal of that account, as if each had an
//! identity policy allowing `kms:*`; a statement naming a user or role ARN applies to that
//! principal only; `"*"` and `{"AWS": "*"}` apply to everyone; `Service`, `Federated` and
//! `CanonicalUser` principals never match a caller.

mod condition;
mod wildcard;

use std::cell::OnceCell;

use serde_json::{Map, Value};

use crate::authz::{Caller, Decision, PrincipalId, RequestConditions, reachable};
use crate::error::KmsError;
use crate::id::{AccountId, KeyArn};
use crate::operation::{Action, Operation};
use condition::Conditions;

/// The name of the one key policy a caller manages.
pub const DEFAULT_POLICY_NAME: &str = "default";

/// The name of the key policy AWS Resource Access Manager manages for shared keys.
pub const RAM_POLICY_NAME: &str = "AWS_RAM";

/// The key policy size quota, in bytes (AWS KMS quotas: 32 KB), narrower than the model's
/// `PolicyType` length.
pub const MAX_POLICY_BYTES: usize = 32_768;

// The default key policy is these two pieces around the account id, byte for byte as AWS
// returns it (AWS KMS Developer Guide, "Default key policy").
const DEFAULT_POLICY_HEAD: &str = r#"{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::"#;
const DEFAULT_POLICY_TAIL: &str = r#":root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"#;

/// The policy a key created without `Policy` gets: the account's root principal may do
/// everything, which in AWS leaves access to IAM policies and in Keyshard allows every principal
/// of the account.
pub fn default_key_policy(account: &AccountId) -> String {
    format!("{DEFAULT_POLICY_HEAD}{account}{DEFAULT_POLICY_TAIL}")
}

/// `ValidationException` for PutKeyPolicy with the RAM policy's name (AWS KMS API Reference,
/// PutKeyPolicy: PolicyName).
pub fn check_put_policy_name(name: &str) -> Result<(), KmsError> {
    if name == RAM_POLICY_NAME {
        return Err(KmsError::Validation(
            "The AWS_RAM policy can only be managed by the RAM service.".to_owned(),
        ));
    }
    Ok(())
}

/// Checks a key policy before it is stored: the size quota, then the document's shape. Every
/// statement needs an `Effect` of `Allow` or `Deny`, an `Action` or `NotAction`, a `Resource`
/// and a well-formed `Principal` or `NotPrincipal`, and any `Condition` must use known operators
/// on well-formed values. Whether the principals exist is not checked.
pub fn check_key_policy(text: &str) -> Result<(), KmsError> {
    KeyPolicy::parse(text).map(drop)
}

/// A key policy parsed for evaluation: its statements, with principals, actions, resources and
/// conditions in the form [`KeyPolicy::evaluate`] matches a request against. Parse a key's policy
/// once when the key is loaded and keep it with the key.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeyPolicy {
    statements: Vec<Statement>,
}

#[derive(Clone, Debug, Eq, PartialEq)]
struct Statement {
    effect: Effect,
    principals: Principals,
    actions: Actions,
    /// `Resource` patterns; `*` is the key itself.
    resources: Vec<String>,
    conditions: Conditions,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Effect {
    Allow,
    Deny,
}

/// `Principal`, or `NotPrincipal` when `negated`.
#[derive(Clone, Debug, Eq, PartialEq)]
struct Principals {
    anyone: bool,
    /// The AWS principals named; service, federated and canonical-user principals are left out
    /// because no caller is one.
    ids: Vec<PrincipalId>,
    negated: bool,
}

/// `Action`, or `NotAction` when `negated`.
#[derive(Clone, Debug, Eq, PartialEq)]
struct Actions {
    patterns: Vec<String>,
    negated: bool,
}

/// Which checks a policy must pass: all of them for a new policy, or for a policy read back from
/// the store only those every stored policy has passed.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Checks {
    New,
    Stored,
}

impl KeyPolicy {
    /// Parses a policy that CreateKey or PutKeyPolicy is about to store, refusing it with
    /// LimitExceededException over the size quota and MalformedPolicyDocumentException when it is
    /// not a well-formed policy.
    pub fn parse(text: &str) -> Result<Self, KmsError> {
        parse_document(text, Checks::New)
    }

    /// Parses a policy read back from the store. Policies stored before Keyshard evaluated them
    /// passed every check but those on `Condition` and `NotResource`; a statement that fails one
    /// of those is left out, as a statement whose condition can never hold, instead of making
    /// the whole policy unreadable.
    pub fn parse_stored(text: &str) -> Result<Self, KmsError> {
        parse_document(text, Checks::Stored)
    }

    /// The parsed form of [`default_key_policy`]: every principal of `account` may do
    /// everything.
    pub fn default_for(account: &AccountId) -> Self {
        Self {
            statements: vec![Statement {
                effect: Effect::Allow,
                principals: Principals {
                    anyone: false,
                    ids: vec![PrincipalId::Account(account.clone())],
                    negated: false,
                },
                actions: Actions {
                    patterns: vec!["kms:*".to_owned()],
                    negated: false,
                },
                resources: vec!["*".to_owned()],
                conditions: Conditions::default(),
            }],
        }
    }

    /// What this policy decides for `caller` asking for `action` on the key `key_arn` with
    /// these condition values (IAM policy evaluation logic, resource-based policies): any
    /// statement that applies with `Deny` makes an explicit deny; otherwise any that applies
    /// with `Allow` allows, unless the caller is of another account and the action cannot be
    /// used across accounts; otherwise the request is implicitly denied.
    pub fn evaluate(
        &self,
        caller: &Caller,
        action: Action,
        key_arn: &KeyArn,
        conditions: &RequestConditions,
    ) -> Decision {
        let key_arn_text = OnceCell::new();
        let arn = || key_arn_text.get_or_init(|| key_arn.to_string()).as_str();
        let mut allowed = false;
        for statement in &self.statements {
            if !statement.applies(caller, action, arn, conditions) {
                continue;
            }
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed && reachable(caller, action, key_arn) {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }

    /// Whether this policy, once in place, would keep `caller` from calling PutKeyPolicy on the
    /// key again (AWS KMS API Reference, PutKeyPolicy: Policy).
    pub fn would_lock_out(
        &self,
        caller: &Caller,
        key_arn: &KeyArn,
        conditions: &RequestConditions,
    ) -> bool {
        let action = Operation::PutKeyPolicy.action();
        self.evaluate(caller, action, key_arn, conditions) != Decision::Allow
    }

    /// MalformedPolicyDocumentException for a policy that [would lock the caller
    /// out](Self::would_lock_out). CreateKey and PutKeyPolicy skip this check when the request
    /// sets `BypassPolicyLockoutSafetyCheck`.
    pub fn check_lockout(
        &self,
        caller: &Caller,
        key_arn: &KeyArn,
        conditions: &RequestConditions,
    ) -> Result<(), KmsError> {
        if self.would_lock_out(caller, key_arn, conditions) {
            return Err(malformed(
                "The new key policy will not allow you to update the key policy in the future.",
            ));
        }
        Ok(())
    }
}

impl Statement {
    fn applies<'a>(
        &self,
        caller: &Caller,
        action: Action,
        key_arn: impl Fn() -> &'a str,
        conditions: &RequestConditions,
    ) -> bool {
        self.principals.match_caller(caller)
            && self.actions.match_action(action)
            && self
                .resources
                .iter()
                .any(|pattern| pattern == "*" || wildcard::matches_arn(pattern, key_arn()))
            && self.conditions.hold(conditions)
    }
}

impl Principals {
    fn match_caller(&self, caller: &Caller) -> bool {
        let named = self.anyone || self.ids.iter().any(|id| id.names(caller));
        named != self.negated
    }
}

impl Actions {
    fn match_action(&self, action: Action) -> bool {
        let named = self
            .patterns
            .iter()
            .any(|pattern| wildcard::matches(pattern, action.name(), true));
        named != self.negated
    }
}

fn parse_document(text: &str, checks: Checks) -> Result<KeyPolicy, KmsError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(KmsError::LimitExceeded(format!(
            "The key policy is {} bytes long; the limit is {MAX_POLICY_BYTES} bytes.",
            text.len()
        )));
    }
    let Ok(document) = serde_json::from_str::<Value>(text) else {
        return Err(malformed("The key policy is not valid JSON."));
    };
    let Value::Object(document) = document else {
        return Err(malformed("The key policy must be a JSON object."));
    };
    let statements = match document.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => {
            return Err(malformed(
                "The key policy must have a Statement: an object or a non-empty list of objects.",
            ));
        }
    };

    let mut parsed = Vec::with_capacity(statements.len());
    for statement in statements {
        let Value::Object(statement) = statement else {
            return Err(malformed(
                "Policy contains a statement that is not a JSON object.",
            ));
        };
        parsed.extend(parse_statement(statement, checks)?);
    }
    Ok(KeyPolicy { statements: parsed })
}

/// One statement, or `None` for a stored statement left out (see [`KeyPolicy::parse_stored`]).
fn parse_statement(
    statement: &Map<String, Value>,
    checks: Checks,
) -> Result<Option<Statement>, KmsError> {
    let effect = match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => {
            return Err(malformed(
                "Policy contains a statement without a valid Effect: it must be Allow or Deny.",
            ));
        }
    };

    let actions = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(action), None) => string_list(action).map(|patterns| (patterns, false)),
        (None, Some(action)) => string_list(action).map(|patterns| (patterns, true)),
        _ => None,
    };
    let Some((patterns, negated)) = actions else {
        return Err(malformed(
            "Policy contains a statement without exactly one of Action and NotAction, given as \
             a string or a list of strings.",
        ));
    };
    let Some(resources) = statement.get("Resource").and_then(string_list) else {
        return Err(malformed(
            "Policy contains a statement without a Resource, given as a string or a list of \
             strings.",
        ));
    };

    let (principal, negated_principal) =
        match (statement.get("Principal"), statement.get("NotPrincipal")) {
            (Some(principal), None) => (principal, false),
            (None, Some(principal)) => (principal, true),
            (None, None) => {
                return Err(malformed("Policy contains a statement with no principal."));
            }
            (Some(_), Some(_)) => return Err(invalid_principals()),
        };
    let Some(principals) = parse_principals(principal, negated_principal) else {
        return Err(invalid_principals());
    };

    let conditions = if statement.contains_key("NotResource") {
        Err(malformed(
            "Policy contains a statement with both Resource and NotResource.",
        ))
    } else {
        statement
            .get("Condition")
            .map_or_else(|| Ok(Conditions::default()), Conditions::parse)
    };
    let conditions = match (conditions, checks) {
        (Ok(conditions), _) => conditions,
        (Err(err), Checks::New) => return Err(err),
        (Err(_), Checks::Stored) => return Ok(None),
    };

    Ok(Some(Statement {
        effect,
        principals,
        actions: Actions {
            patterns: owned(patterns),
            negated,
        },
        resources: owned(resources),
        conditions,
    }))
}

/// `"*"`, or an object mapping `AWS`, `Service`, `Federated` or `CanonicalUser` to one
/// identifier or a list of them (IAM JSON policy reference, "Principal"); `None` when the
/// element is not well formed.
fn parse_principals(principal: &Value, negated: bool) -> Option<Principals> {
    let mut principals = Principals {
        anyone: false,
        ids: Vec::new(),
        negated,
    };
    match principal {
        Value::String(any) if any == "*" => principals.anyone = true,
        Value::Object(kinds) if !kinds.is_empty() => {
            for (kind, ids) in kinds {
                let ids = string_list(ids)?;
                match kind.as_str() {
                    "AWS" => {
                        for id in ids {
                            if id == "*" {
                                principals.anyone = true;
                            } else {
                                principals.ids.push(PrincipalId::parse(id)?);
                            }
                        }
                    }
                    "Service" | "Federated" | "CanonicalUser" => {
                        if !ids.into_iter().all(is_named_principal) {
                            return None;
                        }
                    }
                    _ => return None,
                }
            }
        }
        _ => return None,
    }
    Some(principals)
}

/// A service name, identity provider or canonical user id: one word, not empty.
fn is_named_principal(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(char::is_whitespace)
}

/// A non-empty string, or a non-empty list of them.
fn string_list(value: &Value) -> Option<Vec<&str>> {
    let items = match value {
        Value::String(one) => vec![one.as_str()],
        Value::Array(list) => list.iter().map(Value::as_str).collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    (!items.is_empty() && items.iter().all(|item| !item.is_empty())).then_some(items)
}

fn owned(items: Vec<&str>) -> Vec<String> {
    items.into_iter().map(str::to_owned).collect()
}

fn malformed(message: &str) -> KmsError {
    KmsError::MalformedPolicyDocument(message.to_owned())
}

fn invalid_principals() -> KmsError {
    malformed("Policy contains a statement with one or more invalid principals.")
}

#[cfg(test)]
mod tests;
