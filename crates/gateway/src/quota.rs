//! Request quotas: requests per second per account and quota class, as AWS KMS counts them
//! (behaviour reference, section 8). Symmetric cryptographic operations share one class; every
//! other operation is a class of its own.
//!
//! Each gateway enforces `1 / replicas` of every quota with a generic cell rate algorithm
//! (a token bucket holding one second of requests), so that several gateways behind a load
//! balancer together allow the quota, provided the balancer spreads an account's requests
//! evenly. A request over quota is answered `ThrottlingException`, which SDKs back off on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keyshard_core::KmsError;
use keyshard_core::id::AccountId;
use keyshard_core::operation::Operation;
use moka::sync::Cache;
use tokio::time::Instant;

/// The class symmetric cryptographic operations share.
pub(crate) const SYMMETRIC: &str = "symmetric";

/// In a quota setting, every class not set by name.
pub const ALL: &str = "all";

/// The quota class an operation counts against.
pub(crate) fn class_of(op: Operation) -> &'static str {
    use Operation as Op;
    match op {
        Op::Encrypt
        | Op::Decrypt
        | Op::ReEncrypt
        | Op::GenerateDataKey
        | Op::GenerateDataKeyWithoutPlaintext
        | Op::GenerateRandom
        | Op::GenerateMac
        | Op::VerifyMac => SYMMETRIC,
        other => other.as_str(),
    }
}

/// AWS KMS's default request quota of a class, in requests per second.
fn aws_default(class: &str) -> u32 {
    match class {
        SYMMETRIC => 10_000,
        "DescribeKey" | "GetPublicKey" | "ListResourceTags" => 2_000,
        "Sign"
        | "Verify"
        | "DeriveSharedSecret"
        | "GenerateDataKeyPair"
        | "GenerateDataKeyPairWithoutPlaintext" => 1_000,
        "GetKeyPolicy" | "GetKeyRotationStatus" => 1_000,
        "ListAliases" | "ListKeys" => 500,
        "ListGrants" | "ListKeyPolicies" | "ListRetirableGrants" | "ListKeyRotations" => 100,
        "CreateGrant" => 50,
        "RetireGrant" | "RevokeGrant" => 30,
        "EnableKeyRotation" | "PutKeyPolicy" | "ScheduleKeyDeletion" | "DeleteAlias" => 15,
        "TagResource" | "UntagResource" => 10,
        _ => 5,
    }
}

/// Quota overrides by class name; [`ALL`] sets every class not named.
pub type QuotaOverrides = HashMap<String, u32>;

/// A class name in a quota setting that names no class.
#[derive(Debug, thiserror::Error)]
pub enum QuotaSettingError {
    #[error(
        "invalid quota `{0}`: expected CLASS=REQUESTS_PER_SECOND, where CLASS is `symmetric`, \
         `all` or an operation name, and the rate is a positive whole number"
    )]
    Malformed(String),
}

/// Parses `CLASS=REQUESTS_PER_SECOND` settings.
pub fn parse_overrides(settings: &[String]) -> Result<QuotaOverrides, QuotaSettingError> {
    let mut overrides = QuotaOverrides::new();
    for setting in settings {
        let malformed = || QuotaSettingError::Malformed(setting.clone());
        let (class, rate) = setting.split_once('=').ok_or_else(malformed)?;
        let class = class.trim();
        let rate: u32 = rate.trim().parse().map_err(|_| malformed())?;
        if rate == 0 || !is_class(class) {
            return Err(malformed());
        }
        overrides.insert(class.to_owned(), rate);
    }
    Ok(overrides)
}

/// Whether `name` may be set: a class, or [`ALL`].
pub fn is_class(name: &str) -> bool {
    name == ALL
        || name == SYMMETRIC
        || Operation::parse(name).is_some_and(|op| class_of(op) == op.as_str())
}

/// The quotas one gateway enforces.
pub(crate) struct Quotas {
    defaults: QuotaOverrides,
    replicas: u32,
    limiters: Cache<(AccountId, &'static str), Arc<Limiter>>,
    epoch: Instant,
}

impl Quotas {
    /// `defaults` override AWS's defaults for every account; `replicas` gateways share them.
    pub(crate) fn new(defaults: QuotaOverrides, replicas: u32) -> Self {
        Self {
            defaults,
            replicas: replicas.max(1),
            limiters: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(120))
                .build(),
            epoch: Instant::now(),
        }
    }

    /// Counts one request of `account` in `op`'s class, or refuses it. `account_overrides`
    /// are the account's own settings, which win over the gateway's.
    pub(crate) fn admit(
        &self,
        account: &AccountId,
        op: Operation,
        account_overrides: &QuotaOverrides,
    ) -> Result<(), KmsError> {
        let class = class_of(op);
        let quota = [account_overrides, &self.defaults]
            .iter()
            .find_map(|o| o.get(class).or_else(|| o.get(ALL)).copied())
            .unwrap_or_else(|| aws_default(class));
        let rate = quota.div_ceil(self.replicas);

        let key = (account.clone(), class);
        let limiter = match self.limiters.get(&key) {
            Some(limiter) if limiter.rate == rate => limiter,
            _ => {
                let limiter = Arc::new(Limiter::new(rate));
                self.limiters.insert(key, Arc::clone(&limiter));
                limiter
            }
        };
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if limiter.admit(now) {
            Ok(())
        } else {
            Err(KmsError::Throttling("Rate exceeded".to_owned()))
        }
    }
}

/// A generic cell rate limiter: `rate` requests per second, in bursts of up to one second's
/// worth.
struct Limiter {
    rate: u32,
    /// Nanoseconds per request.
    interval: u64,
    /// How far ahead of now the theoretical arrival time may run.
    tolerance: u64,
    /// Theoretical arrival time of the next request, in nanoseconds since the epoch.
    tat: AtomicU64,
}

impl Limiter {
    fn new(rate: u32) -> Self {
        let interval = 1_000_000_000 / u64::from(rate.max(1));
        Self {
            rate,
            interval,
            tolerance: interval * u64::from(rate.max(1) - 1),
            tat: AtomicU64::new(0),
        }
    }

    fn admit(&self, now: u64) -> bool {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > self.tolerance {
                return false;
            }
            match self.tat.compare_exchange_weak(
                tat,
                start + self.interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => tat = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        id.parse().unwrap()
    }

    fn admitted(quotas: &Quotas, account: &AccountId, op: Operation, n: usize) -> usize {
        let none = QuotaOverrides::new();
        (0..n)
            .filter(|_| quotas.admit(account, op, &none).is_ok())
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_gets_one_second_of_quota_then_one_request_per_interval() {
        let quotas = Quotas::new(parse_overrides(&["symmetric=10".into()]).unwrap(), 1);
        let a = account("111122223333");
        assert_eq!(admitted(&quotas, &a, Operation::GenerateDataKey, 25), 10);
        assert_eq!(
            quotas.admit(&a, Operation::Decrypt, &QuotaOverrides::new()),
            Err(KmsError::Throttling("Rate exceeded".to_owned()))
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(admitted(&quotas, &a, Operation::Encrypt, 5), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(admitted(&quotas, &a, Operation::Encrypt, 25), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn accounts_and_classes_count_separately() {
        let quotas = Quotas::new(QuotaOverrides::new(), 1);
        let (a, b) = (account("111122223333"), account("444455556666"));
        assert_eq!(admitted(&quotas, &a, Operation::CreateKey, 9), 5);
        assert_eq!(admitted(&quotas, &b, Operation::CreateKey, 9), 5);
        assert_eq!(admitted(&quotas, &a, Operation::CreateAlias, 9), 5);
        assert_eq!(admitted(&quotas, &a, Operation::CreateGrant, 60), 50);
    }

    #[tokio::test(start_paused = true)]
    async fn account_settings_beat_gateway_settings_which_beat_aws_defaults() {
        let gateway = parse_overrides(&["all=20".into(), "CreateKey=7".into()]).unwrap();
        let quotas = Quotas::new(gateway, 1);
        let a = account("111122223333");
        let mine = parse_overrides(&["CreateKey=3".into()]).unwrap();
        let create = (0..9)
            .filter(|_| quotas.admit(&a, Operation::CreateKey, &mine).is_ok())
            .count();
        assert_eq!(create, 3);
        assert_eq!(
            admitted(&quotas, &account("444455556666"), Operation::CreateKey, 9),
            7
        );
        assert_eq!(admitted(&quotas, &a, Operation::TagResource, 30), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn replicas_split_the_quota() {
        let quotas = Quotas::new(parse_overrides(&["symmetric=100".into()]).unwrap(), 3);
        let a = account("111122223333");
        assert_eq!(admitted(&quotas, &a, Operation::Encrypt, 100), 34);
    }

    #[test]
    fn settings_name_a_class_and_a_positive_rate() {
        let parsed = parse_overrides(&["symmetric=50000".into(), " DescribeKey = 9 ".into()]);
        assert_eq!(
            parsed.unwrap(),
            QuotaOverrides::from([("symmetric".into(), 50_000), ("DescribeKey".into(), 9)])
        );
        for bad in [
            "Encrypt=5",
            "symmetric",
            "NoSuchOp=1",
            "CreateKey=0",
            "all=-1",
        ] {
            let QuotaSettingError::Malformed(setting) = parse_overrides(&[bad.into()]).unwrap_err();
            assert_eq!(setting, bad);
        }
    }
}
