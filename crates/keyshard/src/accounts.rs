//! `keyshard accounts`: creates accounts, sets their request quotas and issues access keys,
//! straight on the Postgres store that shards share. Output is JSON on stdout, shaped like the
//! AWS CLI's (times in seconds since the Unix epoch, as the KMS API gives them), so scripts can
//! read it; a secret access key is printed once, at creation, and stored only wrapped under the
//! root key.

use std::time::{SystemTime, UNIX_EPOCH};

use keyshard_core::id::AccountId;
use keyshard_crypto::{
    new_access_key_id, new_secret_access_key, new_session_token, session_token_digest,
};
use keyshard_gateway::is_quota_class;
use keyshard_store::{AccessKeyRecord, PostgresStore, Store, StoreError};
use serde_json::{Value, json};

use crate::config::{AccountsArgs, AccountsCommand};
use crate::root_key::{self, RootKeyError};

/// Why an accounts command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountsError {
    #[error("--database-url (or KEYSHARD_DATABASE_URL) is required")]
    NoDatabase,

    #[error("invalid --account-id `{0}`: an account id is 12 digits")]
    Account(String),

    #[error(
        "invalid --principal `{0}`: expected arn:aws:iam::<account-id>:root, \
         arn:aws:iam::<account-id>:user/<name> or arn:aws:iam::<account-id>:role/<name> \
         of the key's account"
    )]
    Principal(String),

    #[error("invalid --class `{0}`: a quota class is `symmetric`, `all` or an operation name")]
    Class(String),

    #[error("account {0} does not exist")]
    NoSuchAccount(String),

    #[error("account {account} has no access key {access_key_id}")]
    NoSuchAccessKey {
        account: String,
        access_key_id: String,
    },

    #[error(transparent)]
    RootKey(#[from] RootKeyError),

    #[error("cannot generate credentials")]
    Crypto(#[from] keyshard_crypto::CryptoError),

    #[error("the store failed")]
    Store(#[from] StoreError),
}

pub(crate) async fn run(args: AccountsArgs) -> Result<(), AccountsError> {
    let url = args.database_url.ok_or(AccountsError::NoDatabase)?;
    let store = PostgresStore::connect(&url).await?;
    let output = match args.command {
        AccountsCommand::Create { account_id } => {
            let account = parse_account(&account_id)?;
            let created = store.create_account(&account, now_millis()).await?;
            json!({ "AccountId": account.as_str(), "Created": created })
        }
        AccountsCommand::Describe { account_id } => {
            let account = parse_account(&account_id)?;
            let record = store
                .account(&account)
                .await?
                .ok_or(AccountsError::NoSuchAccount(account_id))?;
            let quotas: serde_json::Map<String, Value> = record
                .quotas
                .into_iter()
                .map(|q| (q.class, Value::from(q.requests_per_second)))
                .collect();
            json!({
                "AccountId": account.as_str(),
                "CreationDate": record.created_at / 1000,
                "Quotas": quotas,
            })
        }
        AccountsCommand::SetQuota {
            account_id,
            class,
            requests_per_second,
        } => {
            let account = parse_account(&account_id)?;
            if !is_quota_class(&class) {
                return Err(AccountsError::Class(class));
            }
            match store
                .set_account_quota(&account, &class, requests_per_second)
                .await
            {
                Err(StoreError::NotFound) => return Err(AccountsError::NoSuchAccount(account_id)),
                result => result?,
            };
            json!({
                "AccountId": account.as_str(),
                "Class": class,
                "RequestsPerSecond": requests_per_second,
            })
        }
        AccountsCommand::CreateAccessKey {
            account_id,
            principal,
            duration_seconds,
            root_keys,
        } => {
            let account = parse_account(&account_id)?;
            let principal = match principal {
                Some(arn) if is_principal_of(&arn, &account) => arn,
                Some(arn) => return Err(AccountsError::Principal(arn)),
                None => format!("arn:aws:iam::{account}:root"),
            };
            let ring = root_key::ring(&root_keys)?;
            let root = ring.active();
            let temporary = duration_seconds.is_some();
            let access_key_id = new_access_key_id(temporary)?;
            let secret = new_secret_access_key()?;
            let token = temporary.then(new_session_token).transpose()?;
            let now = now_millis();
            let expires_at = duration_seconds.map(|s| now + i64::from(s) * 1000);
            let record = AccessKeyRecord {
                access_key_id: access_key_id.clone(),
                account: account.clone(),
                principal: principal.clone(),
                root_key_id: root.id().to_owned(),
                wrapped_secret: root.wrap_access_secret(&secret, &access_key_id)?,
                session_token_hash: token
                    .as_ref()
                    .map(|t| session_token_digest(t.secret_bytes())),
                expires_at,
                created_at: now,
            };
            store.create_account(&account, now).await?;
            store.create_access_key(&record).await?;

            // The one place a secret is shown: to the operator who asked for it.
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            let mut key = json!({
                "AccessKeyId": access_key_id,
                "SecretAccessKey": text(secret.secret_bytes()),
                "AccountId": account.as_str(),
                "Principal": principal,
            });
            if let (Some(token), Some(expires_at)) = (&token, expires_at) {
                key["SessionToken"] = Value::from(text(token.secret_bytes()));
                key["Expiration"] = Value::from(expires_at / 1000);
            }
            json!({ "AccessKey": key })
        }
        AccountsCommand::ListAccessKeys { account_id } => {
            let account = parse_account(&account_id)?;
            if store.account(&account).await?.is_none() {
                return Err(AccountsError::NoSuchAccount(account_id));
            }
            let keys: Vec<Value> = store
                .access_keys(&account)
                .await?
                .into_iter()
                .map(|key| {
                    json!({
                        "AccessKeyId": key.access_key_id,
                        "Principal": key.principal,
                        "CreationDate": key.created_at / 1000,
                        "Expiration": key.expires_at.map(|t| t / 1000),
                    })
                })
                .collect();
            json!({ "AccessKeyMetadata": keys })
        }
        AccountsCommand::DeleteAccessKey {
            account_id,
            access_key_id,
        } => {
            let account = parse_account(&account_id)?;
            if !store.delete_access_key(&account, &access_key_id).await? {
                return Err(AccountsError::NoSuchAccessKey {
                    account: account_id,
                    access_key_id,
                });
            }
            json!({ "AccessKeyId": access_key_id, "Deleted": true })
        }
    };
    println!("{output:#}");
    Ok(())
}

fn parse_account(text: &str) -> Result<AccountId, AccountsError> {
    text.parse()
        .map_err(|_| AccountsError::Account(text.to_owned()))
}

/// Whether `arn` names the root, a user or a role of `account`: `arn:aws:iam::<account>:root`,
/// or `user/` or `role/` then an optional path and a name of IAM's characters.
fn is_principal_of(arn: &str, account: &AccountId) -> bool {
    let Some(resource) = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_prefix(account.as_str()))
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        return false;
    };
    if resource == "root" {
        return true;
    }
    let Some(path) = resource
        .strip_prefix("user/")
        .or_else(|| resource.strip_prefix("role/"))
    else {
        return false;
    };
    let iam_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    (1..=64).contains(&name.len())
        && name.chars().all(iam_char)
        && dirs.split('/').all(|d| d.chars().all(iam_char))
        && path.len() <= 512
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
