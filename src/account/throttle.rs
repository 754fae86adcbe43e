//! Failed sign-ins counted per account and per client address: past the limit within the
//! window, further attempts are refused for a while, whether the password is right or not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
            lock: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Throttle {
    limits: Limits,
    seen: Mutex<HashMap<String, Failures>>,
}

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            limits,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, address: &str) -> [String; 2] {
        [format!("u:{account}"), format!("a:{address}")]
    }

    /// Seconds to wait if the account or the address is locked now.
    pub fn locked(&self, account: &str, address: &str) -> Option<u64> {
        let now = Instant::now();
        let seen = self.seen.lock().expect("throttle lock");
        Self::keys(account, address)
            .iter()
            .filter_map(|k| seen.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| (until - now).as_secs().max(1))
            .max()
    }

    /// Counts a failure against both; returns the wait if this locked either.
    pub fn fail(&self, account: &str, address: &str) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().expect("throttle lock");
        if seen.len() >= SWEEP_AT {
            let l = self.limits;
            seen.retain(|_, f| f.locked_until.is_some_and(|u| u > now) || now - f.first < l.window);
        }
        let [ka, kb] = Self::keys(account, address);
        let mut wait = None;
        for (key, limit) in [(ka, self.limits.per_account), (kb, self.limits.per_address)] {
            let f = seen.entry(key).or_insert(Failures {
                count: 0,
                first: now,
                locked_until: None,
            });
            let expired = f.locked_until.is_some_and(|u| u <= now)
                || (f.locked_until.is_none() && now - f.first >= self.limits.window);
            if expired {
                *f = Failures {
                    count: 0,
                    first: now,
                    locked_until: None,
                };
            }
            f.count += 1;
            if f.count >= limit {
                f.locked_until = Some(now + self.limits.lock);
                wait = Some(self.limits.lock.as_secs());
            }
        }
        wait
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub fn succeed(&self, account: &str) {
        self.seen
            .lock()
            .expect("throttle lock")
            .remove(&format!("u:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Throttle {
        Throttle::new(Limits {
            per_account: 3,
            per_address: 5,
            window: Duration::from_secs(60),
            lock: Duration::from_secs(60),
        })
    }

    #[test]
    fn an_account_locks_after_its_limit_of_failures() {
        let t = small();
        assert_eq!(t.fail("a", "1.1.1.1"), None);
        assert_eq!(t.fail("a", "1.1.1.2"), None);
        assert!(t.locked("a", "9.9.9.9").is_none());
        assert_eq!(t.fail("a", "1.1.1.3"), Some(60));
        assert!(t.locked("a", "9.9.9.9").is_some(), "from any address");
        assert!(
            t.locked("b", "9.9.9.9").is_none(),
            "other accounts are free"
        );
    }

    #[test]
    fn an_address_locks_after_its_limit_across_accounts() {
        let t = small();
        for name in ["a", "b", "c", "d"] {
            assert_eq!(t.fail(name, "1.1.1.1"), None);
        }
        assert!(t.fail("e", "1.1.1.1").is_some());
        assert!(t.locked("zzz", "1.1.1.1").is_some());
        assert!(t.locked("zzz", "2.2.2.2").is_none());
    }

    #[test]
    fn success_clears_the_account() {
        let t = small();
        t.fail("a", "1.1.1.1");
        t.fail("a", "1.1.1.1");
        t.succeed("a");
        assert_eq!(t.fail("a", "1.1.1.1"), None);
    }
}
