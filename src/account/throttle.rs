//! Sign-in attempts counted per account and per client address, before the password is
//! checked: past the limit within the window, further attempts are refused for a while,
//! whether the password is right or not, and attempts under way count — so many parallel
//! guesses at one account get the limit's worth of password checks, not one each.
//!
//! The counts live in the database (`store::throttle`): every node sees them and a restart
//! keeps them. Accounts and addresses are stored as hashes, never as themselves.

use crate::store::Store;
use crate::store::throttle::Counted;
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures per account before it is locked.
    pub per_account: u32,
    /// Failures per client address before it is locked (a service hall shares one address,
    /// so this is higher).
    pub per_address: u32,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// How long a lock lasts.
    pub lock: Duration,
    /// Passwords checked at once on this node (argon2id takes 19 MiB for each).
    pub concurrent_checks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
            lock: Duration::from_secs(15 * 60),
            concurrent_checks: 2,
        }
    }
}

/// One admitted attempt, counted against its account and its address.
#[derive(Debug)]
pub struct Attempt {
    account: String,
    address: String,
}

pub struct Throttle {
    limits: Limits,
    store: Store,
}

fn key(kind: &str, value: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"xiaoban sign-in\0")
        .chain_update(kind.as_bytes())
        .chain_update(b"\0")
        .chain_update(value.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Throttle {
    pub fn new(store: Store, limits: Limits) -> Throttle {
        Throttle { limits, store }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock_secs(&self) -> i64 {
        self.limits.lock.as_secs().max(1) as i64
    }

    /// Counts `key`'s attempt; `Err(seconds to wait)` if it is locked or now over `limit`.
    async fn count(&self, key: &str, limit: u32) -> Result<Result<(), u64>> {
        let window = self.limits.window.as_secs() as i64;
        match self.store.count_attempt(key, window).await? {
            Counted::Locked(wait) => Ok(Err(wait.max(1))),
            Counted::Attempt(n) if n > limit => {
                self.store
                    .lock_attempts(key, limit, self.lock_secs())
                    .await?;
                Ok(Err(self.lock_secs() as u64))
            }
            Counted::Attempt(_) => Ok(Ok(())),
        }
    }

    /// Counts an attempt against the account and the address before its password is
    /// checked; `Err(seconds to wait)` when either is locked or has no attempts left.
    pub async fn admit(&self, account: &str, address: &str) -> Result<Result<Attempt, u64>> {
        let attempt = Attempt {
            account: key("account", account),
            address: key("address", address),
        };
        if let Err(wait) = self
            .count(&attempt.account, self.limits.per_account)
            .await?
        {
            return Ok(Err(wait));
        }
        if let Err(wait) = self
            .count(&attempt.address, self.limits.per_address)
            .await?
        {
            self.store.uncount_attempt(&attempt.account).await?;
            return Ok(Err(wait));
        }
        Ok(Ok(attempt))
    }

    /// The attempt failed: locks the account or the address that reached its limit; the
    /// wait if either is locked now.
    pub async fn fail(&self, attempt: Attempt) -> Result<Option<u64>> {
        let lock = self.lock_secs();
        let account = self
            .store
            .lock_attempts(&attempt.account, self.limits.per_account, lock)
            .await?;
        let address = self
            .store
            .lock_attempts(&attempt.address, self.limits.per_address, lock)
            .await?;
        Ok((account || address).then_some(lock as u64))
    }

    /// The attempt succeeded: the account's failures are forgotten, and the address's count
    /// no longer holds this attempt (its earlier failures stay).
    pub async fn succeed(&self, attempt: Attempt) -> Result<()> {
        self.store.clear_attempts(&attempt.account).await?;
        self.store.uncount_attempt(&attempt.address).await
    }

    /// The attempt was not made (no password check was free): it counts against neither.
    pub async fn withdraw(&self, attempt: Attempt) -> Result<()> {
        self.store.uncount_attempt(&attempt.account).await?;
        self.store.uncount_attempt(&attempt.address).await
    }

    /// Forgets attempts that neither lock nor count any more.
    pub async fn purge(&self) -> Result<u64> {
        let keep = self.limits.window.max(self.limits.lock).as_secs() as i64;
        self.store.purge_attempts(keep).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn small(dir: &std::path::Path) -> Throttle {
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        Throttle::new(
            store,
            Limits {
                per_account: 3,
                per_address: 5,
                window: Duration::from_secs(60),
                lock: Duration::from_secs(60),
                concurrent_checks: 1,
            },
        )
    }

    async fn fail(t: &Throttle, account: &str, address: &str) -> Result<Option<u64>, u64> {
        let a = t.admit(account, address).await.unwrap()?;
        Ok(t.fail(a).await.unwrap())
    }

    #[tokio::test]
    async fn an_account_locks_after_its_limit_of_failures() {
        let dir = tempfile::tempdir().unwrap();
        let t = small(dir.path()).await;
        assert_eq!(fail(&t, "a", "1.1.1.1").await, Ok(None));
        assert_eq!(fail(&t, "a", "1.1.1.2").await, Ok(None));
        assert_eq!(fail(&t, "a", "1.1.1.3").await, Ok(Some(60)));
        let wait = t.admit("a", "9.9.9.9").await.unwrap().unwrap_err();
        assert!((59..=60).contains(&wait), "from any address: {wait}");
        assert!(
            t.admit("b", "9.9.9.9").await.unwrap().is_ok(),
            "other accounts are free"
        );
    }

    #[tokio::test]
    async fn attempts_under_way_count_before_their_password_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let t = small(dir.path()).await;
        let mut admitted = Vec::new();
        for _ in 0..3 {
            admitted.push(
                t.admit("a", "1.1.1.1")
                    .await
                    .unwrap()
                    .expect("within the limit"),
            );
        }
        assert_eq!(t.admit("a", "1.1.1.1").await.unwrap().unwrap_err(), 60);
        // A right password among those under way still signs in and frees the account.
        t.succeed(admitted.pop().unwrap()).await.unwrap();
        assert!(t.admit("a", "1.1.1.1").await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn an_address_locks_after_its_limit_across_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let t = small(dir.path()).await;
        for name in ["a", "b", "c", "d"] {
            assert_eq!(fail(&t, name, "1.1.1.1").await, Ok(None));
        }
        assert_eq!(fail(&t, "e", "1.1.1.1").await, Ok(Some(60)));
        assert!(t.admit("zzz", "1.1.1.1").await.unwrap().is_err());
        assert!(t.admit("zzz", "2.2.2.2").await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn success_clears_the_account_and_a_withdrawn_attempt_counts_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let t = small(dir.path()).await;
        fail(&t, "a", "1.1.1.1").await.unwrap();
        fail(&t, "a", "1.1.1.1").await.unwrap();
        let a = t.admit("a", "1.1.1.1").await.unwrap().unwrap();
        t.succeed(a).await.unwrap();
        assert_eq!(fail(&t, "a", "1.1.1.1").await, Ok(None));
        assert_eq!(fail(&t, "a", "1.1.1.1").await, Ok(None));
        for _ in 0..10 {
            let a = t.admit("a", "1.1.1.1").await.unwrap().unwrap();
            t.withdraw(a).await.unwrap();
        }
        assert_eq!(fail(&t, "a", "1.1.1.1").await, Ok(Some(60)));
    }

    #[tokio::test]
    async fn counts_outlive_the_process_that_made_them() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..3 {
            let t = small(dir.path()).await;
            fail(&t, "a", "1.1.1.1").await.unwrap();
        }
        let t = small(dir.path()).await;
        assert!(t.admit("a", "1.1.1.1").await.unwrap().is_err());
    }

    #[test]
    fn keys_are_hashes_of_what_they_count() {
        let k = key("address", "203.0.113.9");
        assert_eq!(k.len(), 64);
        assert!(!k.contains("203"));
        assert_ne!(k, key("account", "203.0.113.9"));
    }
}
