//! Authorization on the shard: every request on a key is decided by the key's policy and its
//! grants (`keyshard_core::authz`), which are loaded once per key and cached with it, so a warm
//! key is authorized without a query. A grant named by one of the request's grant tokens counts
//! even if this shard has not heard of it yet.
//!
//! Keys of another account are reached only by key ARN or alias ARN, and only for the
//! operations AWS allows across accounts.

use std::sync::Arc;

use keyshard_core::KmsError;
use keyshard_core::authz::{
    AuthzRequest, ConstraintSubject, GrantView, RequestConditions, Requester, authorize,
};
use keyshard_core::context::EncryptionContext;
use keyshard_core::grants::{GrantParameters, GrantToken};
use keyshard_core::id::{KeyRef, KeyRefForms, Scope};
use keyshard_core::operation::{Action, Operation};
use keyshard_core::policy::{DEFAULT_POLICY_NAME, KeyPolicy, default_key_policy};
use keyshard_core::spec::EncryptionAlgorithm;
use keyshard_store::{GrantFilter, GrantRecord};

use crate::Shard;
use crate::error::from_store;
use crate::keys::ResolvedKey;

/// Grants read per query when a key's grants are loaded.
const GRANT_PAGE: u32 = 1_000;

/// What authorizing a request on one key reads: its policy, parsed, and its grants.
pub(crate) struct KeyAccess {
    /// Shared by every key of an account that has the default policy.
    policy: Arc<KeyPolicy>,
    grants: Vec<GrantRecord>,
}

/// What a request's grant constraints and condition keys are checked against.
#[derive(Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// An operation without an encryption context.
    Plain,
    /// A cryptographic operation and its encryption context (empty when none was given).
    Context(&'a EncryptionContext),
    /// CreateGrant and the grant it would create.
    NewGrant(&'a GrantParameters),
}

impl Shard {
    /// Resolves a request's `KeyId` and authorizes `op` on the key. A key ARN or alias ARN of
    /// another account names that account's key, which its policy may open to the caller for
    /// the operations AWS allows across accounts; for the others the answer is
    /// AccessDeniedException, as AWS gives.
    pub(crate) async fn authorized_key(
        &self,
        who: &Requester,
        input: &str,
        forms: KeyRefForms,
        op: Operation,
        subject: Subject<'_>,
        grant_tokens: &[String],
    ) -> Result<ResolvedKey, KmsError> {
        let key = self.resolve_across(who, input, forms, true).await?;
        self.authorize(who, &key, op.action(), subject, grant_tokens)
            .await?;
        Ok(key)
    }

    /// The key a management operation names by key id or key ARN, authorized for `op` and in
    /// a state the key-state table allows for it.
    pub(crate) async fn managed_key(
        &self,
        who: &Requester,
        input: &str,
        op: Operation,
    ) -> Result<ResolvedKey, KmsError> {
        let key = self
            .authorized_key(who, input, KeyRefForms::KeyOnly, op, Subject::Plain, &[])
            .await?;
        key.check_state(op)?;
        Ok(key)
    }

    /// Resolves a `KeyId` as [`Shard::resolve`] does, and, with `cross_account`, also a key ARN
    /// or alias ARN of another account.
    pub(crate) async fn resolve_across(
        &self,
        who: &Requester,
        input: &str,
        forms: KeyRefForms,
        cross_account: bool,
    ) -> Result<ResolvedKey, KmsError> {
        let owner = match KeyRef::parse(input, who, forms)? {
            KeyRef::Key(arn) if cross_account && arn.account != who.account => arn.account,
            KeyRef::Alias(account, _) if cross_account && account != who.account => account,
            _ => return self.resolve(who, input, forms).await,
        };
        let scope = Scope {
            account: owner,
            region: who.region.clone(),
        };
        self.resolve(&scope, input, forms).await
    }

    /// Decides `action` on `key` for the requester: the key policy, the key's grants and the
    /// grants named by `grant_tokens`; AccessDeniedException otherwise.
    pub(crate) async fn authorize(
        &self,
        who: &Requester,
        key: &ResolvedKey,
        action: Action,
        subject: Subject<'_>,
        grant_tokens: &[String],
    ) -> Result<(), KmsError> {
        let access = self.key_access(key).await?;
        let extra = self.token_grants(key, &access, grant_tokens).await?;
        let grants = access.grants.iter().chain(&extra);
        decide(who, key, &access.policy, grants, action, subject)
    }

    /// Decides RetireGrant: only the grant being retired can allow it, besides the key policy.
    pub(crate) async fn authorize_retirement(
        &self,
        who: &Requester,
        key: &ResolvedKey,
        grant: &GrantRecord,
    ) -> Result<(), KmsError> {
        let access = self.key_access(key).await?;
        let action = Operation::RetireGrant.action();
        decide(who, key, &access.policy, [grant], action, Subject::Plain)
    }

    /// The policy a PutKeyPolicy or CreateKey request would store must still let the caller
    /// change it, unless the request bypasses the check.
    pub(crate) fn check_lockout(
        who: &Requester,
        key: &ResolvedKey,
        policy: &KeyPolicy,
    ) -> Result<(), KmsError> {
        let conditions = conditions(who, key, Subject::Plain);
        policy.check_lockout(&who.caller, &key.arn, &conditions)
    }

    /// The key's policy and grants, from the cache or the store.
    async fn key_access(&self, key: &ResolvedKey) -> Result<Arc<KeyAccess>, KmsError> {
        let (account, key_id) = (&key.record.account, key.record.key_id);
        if let Some(access) = self.cache.access(account, key_id) {
            return Ok(access);
        }
        let ticket = self.cache.ticket();
        let stored = self
            .store
            .key_policy(account, key_id, DEFAULT_POLICY_NAME)
            .await
            .map_err(from_store)?;
        let policy = match stored {
            Some(text) if text != default_key_policy(account) => {
                Some(Arc::new(KeyPolicy::parse_stored(&text).map_err(|err| {
                    tracing::error!(%key_id, error = %err, "stored key policy does not parse");
                    KmsError::Internal("The key policy cannot be read.".to_owned())
                })?))
            }
            _ => None,
        };
        let mut grants = Vec::new();
        loop {
            let after = grants.last().map(|g: &GrantRecord| g.grant_id);
            let page = self
                .store
                .list_grants(account, key_id, &GrantFilter::default(), after, GRANT_PAGE)
                .await
                .map_err(from_store)?;
            let full = page.len() == GRANT_PAGE as usize;
            grants.extend(page);
            if !full {
                break;
            }
        }
        let access = match policy {
            Some(policy) => Arc::new(KeyAccess { policy, grants }),
            None => {
                // Most keys have their account's default policy and no grants: they share one
                // copy of it.
                let shared = self.default_access.get_with(account.clone(), || {
                    Arc::new(KeyAccess {
                        policy: Arc::new(KeyPolicy::default_for(account)),
                        grants: Vec::new(),
                    })
                });
                if grants.is_empty() {
                    shared
                } else {
                    let policy = Arc::clone(&shared.policy);
                    Arc::new(KeyAccess { policy, grants })
                }
            }
        };
        self.cache
            .put_access(ticket, account, key_id, Arc::clone(&access));
        Ok(access)
    }

    /// The grants of `key` that `tokens` name and the cached grants lack: created so recently
    /// that this shard's copy predates them. A token Keyshard did not issue is
    /// InvalidGrantTokenException.
    async fn token_grants(
        &self,
        key: &ResolvedKey,
        access: &KeyAccess,
        tokens: &[String],
    ) -> Result<Vec<GrantRecord>, KmsError> {
        let mut extra = Vec::new();
        for token in tokens {
            let token = GrantToken::parse(token)?;
            let known = access.grants.iter().any(|g| g.grant_id == token.grant_id);
            if token.key_id != key.record.key_id || known {
                continue;
            }
            let grant = self
                .store
                .grant(&key.record.account, token.grant_id)
                .await
                .map_err(from_store)?;
            extra.extend(grant.filter(|g| g.key_id == key.record.key_id));
        }
        Ok(extra)
    }
}

fn decide<'g>(
    who: &Requester,
    key: &ResolvedKey,
    policy: &KeyPolicy,
    grants: impl IntoIterator<Item = &'g GrantRecord>,
    action: Action,
    subject: Subject<'_>,
) -> Result<(), KmsError> {
    let conditions = conditions(who, key, subject);
    let constraint_subject = match subject {
        Subject::Plain => ConstraintSubject::NoContext,
        Subject::Context(context) => ConstraintSubject::EncryptionContext(context),
        Subject::NewGrant(grant) => ConstraintSubject::NewGrant(grant.constraints.as_ref()),
    };
    let request = AuthzRequest {
        caller: &who.caller,
        action,
        key_arn: &key.arn,
        conditions: &conditions,
        constraint_subject,
    };
    let views = grants
        .into_iter()
        .map(|grant| GrantView::new(&grant.account, &grant.parameters));
    authorize(policy, views, &request)
}

/// The condition keys of a request on `key`.
fn conditions(who: &Requester, key: &ResolvedKey, subject: Subject<'_>) -> RequestConditions {
    let record = &key.record;
    let mut conditions = RequestConditions::new(&who.caller).with_key(
        record.key_spec,
        record.key_usage,
        record.origin,
    );
    match subject {
        Subject::Plain => {}
        Subject::Context(context) => {
            conditions = conditions
                .with_encryption_context(context)
                .with_encryption_algorithm(EncryptionAlgorithm::SymmetricDefault);
        }
        Subject::NewGrant(grant) => conditions = conditions.with_grant(grant),
    }
    if let Some(alias) = &key.via_alias {
        conditions = conditions.with_request_alias(alias);
    }
    conditions
}
