//! The authorization decision for one request on one KMS key, as AWS KMS makes it from a key
//! policy and the key's grants (AWS KMS Developer Guide, "Key policies" and "Grants"; behaviour
//! reference, sections 5.3 and 5.4): who calls ([`Caller`]), the condition values the request
//! carries ([`RequestConditions`]), the key's grants ([`GrantView`]), and [`authorize`].
//!
//! Keyshard has no IAM. How key policy principals match callers is set out in
//! [`crate::policy`]: an account principal stands for every principal of that account. Grants
//! follow the same rule: a grant to an account's root ARN serves every principal of the account.
//! Grants only allow, and an explicit deny in the key policy beats any grant.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use crate::context::EncryptionContext;
use crate::error::KmsError;
use crate::grants::{GrantConstraints, GrantOperation, GrantParameters, Principal};
use crate::id::{AccountId, AliasName, KeyArn, PARTITION, Scope};
use crate::operation::Action;
use crate::policy::KeyPolicy;
use crate::spec::{EncryptionAlgorithm, KeySpec, KeyUsage, Origin};

/// Decides one request: allowed when the key policy allows it, or when the key policy does not
/// deny it explicitly and one of `grants` allows it. Otherwise AccessDeniedException, worded as
/// AWS words a refusal by a resource-based policy.
///
/// Pass every grant of the key, except for RetireGrant: pass only the grant being retired, since
/// a grant's permission to retire covers that grant alone.
pub fn authorize<'g>(
    policy: &KeyPolicy,
    grants: impl IntoIterator<Item = GrantView<'g>>,
    request: &AuthzRequest<'_>,
) -> Result<(), KmsError> {
    let decision = policy.evaluate(
        request.caller,
        request.action,
        request.key_arn,
        request.conditions,
    );
    match decision {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(access_denied(
            request,
            "with an explicit deny in a resource-based policy",
        )),
        Decision::ImplicitDeny => {
            let reachable = reachable(request.caller, request.action, request.key_arn);
            if reachable && grants.into_iter().any(|grant| grant.allows(request)) {
                return Ok(());
            }
            let reason = format!(
                "because no resource-based policy allows the {} action",
                request.action
            );
            Err(access_denied(request, &reason))
        }
    }
}

/// The principal a request is made by: an IAM user, role or assumed-role session, or an
/// account's root. Cloning shares one allocation.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Caller(Arc<CallerParts>);

#[derive(Debug, Eq, PartialEq)]
struct CallerParts {
    account: AccountId,
    principal: String,
}

impl Caller {
    /// The root principal of `account`, `arn:aws:iam::<account>:root`.
    pub fn account_root(account: AccountId) -> Self {
        let principal = format!("arn:{PARTITION}:iam::{account}:root");
        Self(Arc::new(CallerParts { account, principal }))
    }

    /// The caller an IAM or STS ARN names (`arn:aws:iam::<account>:user/alice`,
    /// `arn:aws:sts::<account>:assumed-role/app/session`), or `None` for anything else.
    pub fn from_principal_arn(arn: &str) -> Option<Self> {
        let parsed = PrincipalArn::parse(arn).filter(|parsed| parsed.partition == PARTITION)?;
        Some(Self(Arc::new(CallerParts {
            account: parsed.account,
            principal: arn.to_owned(),
        })))
    }

    pub fn account(&self) -> &AccountId {
        &self.0.account
    }

    /// The caller's ARN, as AccessDeniedException names it.
    pub fn principal(&self) -> &str {
        &self.0.principal
    }
}

/// A caller together with the scope its request acts in: its account and the region the
/// gateway serves. It reads as that [`Scope`], so code that only builds ARNs or scopes lookups
/// takes it where a scope is expected.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Requester {
    pub scope: Scope,
    pub caller: Caller,
}

impl Deref for Requester {
    type Target = Scope;

    fn deref(&self) -> &Scope {
        &self.scope
    }
}

/// What a key policy decides for one request.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Decision {
    /// A statement allows the request and none denies it.
    Allow,
    /// No statement allows the request; a grant still may.
    ImplicitDeny,
    /// A statement denies the request; nothing else can allow it.
    ExplicitDeny,
}

/// A request's condition values: each condition key, lowercased (key names are
/// case-insensitive), with its values in the request. A key with no entry is absent from the
/// request; `kms:ViaService` is always absent, since no AWS service calls Keyshard on a caller's
/// behalf.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct RequestConditions(BTreeMap<String, Vec<String>>);

impl RequestConditions {
    /// The values every request carries: `kms:CallerAccount` and `aws:PrincipalAccount` (the
    /// caller's account) and `aws:PrincipalArn` (the caller's ARN).
    pub fn new(caller: &Caller) -> Self {
        let mut conditions = Self::default();
        conditions.insert("kms:CallerAccount", caller.account().as_str());
        conditions.insert("aws:PrincipalAccount", caller.account().as_str());
        conditions.insert("aws:PrincipalArn", caller.principal());
        conditions
    }

    /// Adds one value to a condition key, after any it already has.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.0
            .entry(key.to_lowercase())
            .or_default()
            .push(value.into());
    }

    /// The request's values for a condition key, matched case-insensitively; `None` when the key
    /// is absent.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.lowercase_key_values(&key.to_lowercase())
    }

    pub(crate) fn lowercase_key_values(&self, key: &str) -> Option<&[String]> {
        self.0
            .get(key)
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }

    /// `kms:EncryptionContext:<key>` for each pair (the key part, like every condition key name,
    /// is matched case-insensitively; values are case-sensitive) and `kms:EncryptionContextKeys`
    /// with every key. An empty context adds neither.
    pub fn with_encryption_context(mut self, context: &EncryptionContext) -> Self {
        for (key, value) in context.pairs() {
            self.insert(&format!("kms:EncryptionContext:{key}"), value.as_str());
            self.insert("kms:EncryptionContextKeys", key.as_str());
        }
        self
    }

    /// `kms:KeySpec`, `kms:KeyUsage` and `kms:KeyOrigin` of the key the request uses.
    pub fn with_key(mut self, spec: KeySpec, usage: KeyUsage, origin: Origin) -> Self {
        self.insert("kms:KeySpec", spec.as_str());
        self.insert("kms:KeyUsage", usage.as_str());
        self.insert("kms:KeyOrigin", origin.as_str());
        self
    }

    /// `kms:EncryptionAlgorithm`, the algorithm an encryption operation names or defaults to.
    pub fn with_encryption_algorithm(mut self, algorithm: EncryptionAlgorithm) -> Self {
        self.insert("kms:EncryptionAlgorithm", algorithm.as_str());
        self
    }

    /// `kms:RequestAlias`, for a request that named its key by this alias.
    pub fn with_request_alias(mut self, alias: &AliasName) -> Self {
        self.insert("kms:RequestAlias", alias.as_str());
        self
    }

    /// The CreateGrant keys of the grant a request creates: `kms:GrantOperations` (every
    /// operation), `kms:GranteePrincipal`, `kms:RetiringPrincipal` (for AWS principals),
    /// `kms:GrantConstraintType` (for an encryption context constraint) and
    /// `kms:GrantIsForAWSResource`, false because no AWS service creates grants in Keyshard.
    pub fn with_grant(mut self, grant: &GrantParameters) -> Self {
        for operation in &grant.operations {
            self.insert("kms:GrantOperations", operation.as_str());
        }
        if let Some(grantee) = grant.grantee.aws() {
            self.insert("kms:GranteePrincipal", grantee);
        }
        if let Some(retiring) = grant.retiring.as_ref().and_then(Principal::aws) {
            self.insert("kms:RetiringPrincipal", retiring);
        }
        if let Some(constraints) = &grant.constraints {
            if constraints.encryption_context_equals.is_some() {
                self.insert("kms:GrantConstraintType", "EncryptionContextEquals");
            }
            if constraints.encryption_context_subset.is_some() {
                self.insert("kms:GrantConstraintType", "EncryptionContextSubset");
            }
        }
        self.insert("kms:GrantIsForAWSResource", "false");
        self
    }
}

/// One request to authorize on one KMS key.
#[derive(Clone, Copy, Debug)]
pub struct AuthzRequest<'a> {
    pub caller: &'a Caller,
    pub action: Action,
    /// The key the action is on.
    pub key_arn: &'a KeyArn,
    pub conditions: &'a RequestConditions,
    /// What a grant's encryption context constraints are checked against.
    pub constraint_subject: ConstraintSubject<'a>,
}

/// What a grant's encryption context constraint is checked against (AWS KMS API Reference,
/// GrantConstraints and CreateGrant: Constraints).
#[derive(Clone, Copy, Debug)]
pub enum ConstraintSubject<'a> {
    /// The operation takes no encryption context (DescribeKey, RetireGrant, operations on
    /// asymmetric and HMAC keys): constraints do not apply to it.
    NoContext,
    /// The encryption context of an operation that takes one, empty when the request gave none.
    EncryptionContext(&'a EncryptionContext),
    /// CreateGrant: the constraints of the grant being created, which must be at least as strict
    /// as those of the grant that allows creating it.
    NewGrant(Option<&'a GrantConstraints>),
}

/// A stored grant as the decision reads it, borrowed from wherever the grant is kept.
#[derive(Clone, Copy, Debug)]
pub struct GrantView<'a> {
    /// The account the grant was created in.
    pub issuing_account: &'a AccountId,
    pub grantee: &'a Principal,
    pub retiring: Option<&'a Principal>,
    pub operations: &'a [GrantOperation],
    pub constraints: Option<&'a GrantConstraints>,
}

impl<'a> GrantView<'a> {
    pub fn new(issuing_account: &'a AccountId, parameters: &'a GrantParameters) -> Self {
        Self {
            issuing_account,
            grantee: &parameters.grantee,
            retiring: parameters.retiring.as_ref(),
            operations: &parameters.operations,
            constraints: parameters.constraints.as_ref(),
        }
    }

    /// Whether this grant allows the request: the grantee is the caller (or the caller's
    /// account), the grant's operations include the action, and its constraints hold. A grant
    /// may also be retired by its retiring principal and by its issuing account (AWS KMS API
    /// Reference, RetireGrant).
    pub fn allows(&self, request: &AuthzRequest<'_>) -> bool {
        let Some(operation) = request.action.grant_operation() else {
            return false;
        };
        let caller = request.caller;
        if operation == GrantOperation::RetireGrant
            && (self
                .retiring
                .is_some_and(|retiring| names(retiring, caller))
                || caller.account() == self.issuing_account)
        {
            return true;
        }
        names(self.grantee, caller)
            && self.operations.contains(&operation)
            && self.constraints_hold(request.constraint_subject)
    }

    fn constraints_hold(&self, subject: ConstraintSubject<'_>) -> bool {
        let Some(constraints) = self.constraints else {
            return true;
        };
        // A SourceArn constraint admits only requests an AWS service makes for a resource, and
        // no AWS service calls Keyshard.
        if constraints.source_arn.is_some() {
            return false;
        }
        let equals = constraints.encryption_context_equals.as_ref();
        let subset = constraints.encryption_context_subset.as_ref();
        match subject {
            ConstraintSubject::NoContext => true,
            ConstraintSubject::EncryptionContext(context) => {
                let pairs = context.pairs();
                equals.is_none_or(|equals| same_pairs(pairs, equals))
                    && subset.is_none_or(|subset| contains_pairs(pairs, subset))
            }
            ConstraintSubject::NewGrant(new) => {
                let new_equals = new.and_then(|c| c.encryption_context_equals.as_ref());
                let new_subset = new.and_then(|c| c.encryption_context_subset.as_ref());
                // Equally strict or stricter: an Equals constraint only by the same Equals; a
                // Subset constraint by any constraint that requires at least its pairs.
                match (equals, subset) {
                    (Some(equals), _) => new_equals.is_some_and(|new| same_pairs(new, equals)),
                    (None, Some(subset)) => new_equals
                        .or(new_subset)
                        .is_some_and(|new| contains_pairs(new, subset)),
                    (None, None) => true,
                }
            }
        }
    }
}

/// An AWS principal as a key policy or grant names it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum PrincipalId {
    /// An account, by id or root ARN: every principal of the account.
    Account(AccountId),
    /// One user, role or session, by ARN.
    Arn(String),
}

impl PrincipalId {
    /// An account id, or an IAM or STS ARN in some account (`arn:<partition>:iam::<account>:
    /// <resource>`); `None` for anything else.
    pub(crate) fn parse(id: &str) -> Option<Self> {
        if let Ok(account) = id.parse::<AccountId>() {
            return Some(Self::Account(account));
        }
        let arn = PrincipalArn::parse(id)?;
        let root = arn.partition == PARTITION && arn.service == "iam" && arn.resource == "root";
        Some(if root {
            Self::Account(arn.account)
        } else {
            Self::Arn(id.to_owned())
        })
    }

    pub(crate) fn names(&self, caller: &Caller) -> bool {
        match self {
            Self::Account(account) => caller.account() == account,
            Self::Arn(arn) => caller.principal() == arn,
        }
    }
}

/// Whether `action` on `key_arn` may be allowed to `caller` at all: always within the key's
/// account, across accounts only for the actions AWS allows there.
pub(crate) fn reachable(caller: &Caller, action: Action, key_arn: &KeyArn) -> bool {
    caller.account() == &key_arn.account || action.allows_cross_account()
}

/// The parts of an IAM or STS principal ARN, `arn:<partition>:(iam|sts)::<account>:<resource>`.
struct PrincipalArn<'a> {
    partition: &'a str,
    service: &'a str,
    account: AccountId,
    resource: &'a str,
}

impl<'a> PrincipalArn<'a> {
    fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service @ ("iam" | "sts")),
            Some(""),
            Some(account),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return None;
        };
        let resource = parts.next().filter(|resource| !resource.is_empty())?;
        if partition.is_empty() {
            return None;
        }
        Some(Self {
            partition,
            service,
            account: account.parse().ok()?,
            resource,
        })
    }
}

/// Whether a grant's grantee or retiring principal is the caller. Service principals never are.
fn names(principal: &Principal, caller: &Caller) -> bool {
    principal
        .aws()
        .and_then(PrincipalId::parse)
        .is_some_and(|id| id.names(caller))
}

/// Whether `context` has exactly the constraint's pairs. Constraint keys match case-insensitively,
/// values exactly (AWS KMS API Reference, GrantConstraints).
fn same_pairs(context: &BTreeMap<String, String>, constraint: &BTreeMap<String, String>) -> bool {
    context.len() == constraint.len()
        && contains_pairs(context, constraint)
        && contains_pairs(constraint, context)
}

/// Whether `context` has every pair of `constraint`, and perhaps more.
fn contains_pairs(
    context: &BTreeMap<String, String>,
    constraint: &BTreeMap<String, String>,
) -> bool {
    constraint
        .iter()
        .all(|(key, value)| context.iter().any(|(k, v)| v == value && same_key(k, key)))
}

fn same_key(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

fn access_denied(request: &AuthzRequest<'_>, reason: &str) -> KmsError {
    KmsError::AccessDenied(format!(
        "User: {} is not authorized to perform: {} on resource: {} {reason}",
        request.caller.principal(),
        request.action,
        request.key_arn
    ))
}

#[cfg(test)]
mod tests;
