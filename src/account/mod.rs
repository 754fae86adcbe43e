//! Staff accounts: clerks, supervisors, administrators, auditors and service-centre agents. Passwords are hashed with
//! argon2id; a sign-in hands out a random opaque token that is stored only as its SHA-256,
//! with an expiry. Sign-in attempts are counted per account and per address before the
//! password is checked (`throttle`), at most `Limits::concurrent_checks` passwords are
//! checked at once on a node (each argon2id check takes 19 MiB), and an unknown name, a wrong
//! password and a disabled account get the same answer.
//!
//! **Invariant:** nothing here knows about HTTP; `web::auth_api` turns these into requests.

pub mod throttle;

use crate::store::Store;
use anyhow::{Context, Result};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
pub use throttle::{Limits, Throttle};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Window clerk: verifies documents, sees their own jobs.
    Clerk,
    /// Sees every clerk's jobs and the access log.
    Supervisor,
    /// Runs the system (command line); no access to citizens' documents.
    Admin,
    /// Reads the access log only.
    Auditor,
    /// Service-centre agent: takes over conversations handed off by the assistant and works
    /// through callback tickets.
    Agent,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Clerk,
        Role::Supervisor,
        Role::Admin,
        Role::Auditor,
        Role::Agent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("角色应为 clerk、supervisor、admin、auditor 或 agent，而不是“{s}”")
            })
    }
}

/// The signed-in user behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
}

/// A token as handed to the client once; only its hash is stored.
pub struct Token {
    pub secret: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub role: Role,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(…, expires_at: {})", self.expires_at)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or disabled account: deliberately one answer.
    #[error("用户名或密码不正确。")]
    Invalid,
    #[error("登录失败次数过多，请 {} 分钟后再试。", .0.div_ceil(60))]
    Throttled(u64),
    /// Every password check slot stayed taken: nothing was counted against the account.
    #[error("登录的人太多，请 {0} 秒后再试。")]
    Busy(u64),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("用户名应为 1–64 个字符，不含空白")]
    BadName,
    #[error("密码至少 8 个字符")]
    WeakPassword,
    #[error("用户 {0} 已存在")]
    Exists(String),
    #[error("没有用户 {0}")]
    NoSuchUser(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl LoginError {
    /// Seconds to send as `Retry-After`, for the refusals that pass with time.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            LoginError::Throttled(s) | LoginError::Busy(s) => Some(*s),
            _ => None,
        }
    }
}

/// How long a sign-in waits for a free password check before it is refused as busy.
const CHECK_WAIT: Duration = Duration::from_secs(5);
/// Sign-ins waiting for a password check on a node; more are refused at once.
const MAX_WAITING_CHECKS: usize = 64;

/// How long a sign-in lasts: one working day.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("密码散列失败：{e}"))?
        .to_string())
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let n = name.chars().count();
    if n == 0 || n > 64 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AccountError::BadName);
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < 8 {
        return Err(AccountError::WeakPassword);
    }
    Ok(())
}

/// Accounts and sign-ins over the store.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    throttle: Arc<Throttle>,
    /// Verified against when the user does not exist, so both cases take as long.
    dummy_hash: Arc<String>,
    /// One permit per password check running on this node.
    checks: Arc<tokio::sync::Semaphore>,
    /// Sign-ins waiting for a permit.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    /// Counts every password checked (`xiaoban_password_checks_total`).
    checked: Option<prometheus_client::metrics::counter::Counter>,
}

impl Accounts {
    pub fn new(store: Store) -> Accounts {
        Accounts::with_limits(store, Limits::default())
    }

    pub fn with_limits(store: Store, limits: Limits) -> Accounts {
        Accounts {
            checks: Arc::new(tokio::sync::Semaphore::new(limits.concurrent_checks.max(1))),
            waiting: Arc::default(),
            throttle: Arc::new(Throttle::new(store.clone(), limits)),
            store,
            dummy_hash: Arc::new(hash_password("not a password of anyone").expect("argon2 hashes")),
            checked: None,
        }
    }

    /// Counts the passwords it checks in `metrics`.
    pub fn counting_in(mut self, metrics: &crate::metrics::Metrics) -> Accounts {
        self.checked = Some(metrics.password_checks.clone());
        self
    }

    /// Forgets sign-in attempts that neither lock nor count any more.
    pub async fn purge_attempts(&self) -> Result<u64> {
        self.throttle.purge().await
    }

    /// A password check slot, waiting at most [`CHECK_WAIT`]; `None` when none came free.
    async fn check_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        if let Ok(p) = self.checks.clone().try_acquire_owned() {
            return Some(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_CHECKS {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let permit = tokio::time::timeout(CHECK_WAIT, self.checks.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.ok()?.ok()
    }

    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<(), AccountError> {
        check_name(name)?;
        check_password(password)?;
        let hash = blocking_hash(password).await?;
        if !self.store.insert_user(name, role.as_str(), &hash).await? {
            return Err(AccountError::Exists(name.to_string()));
        }
        tracing::info!(user = name, role = role.as_str(), "user added");
        Ok(())
    }

    /// Sets a new password, enables the account and signs it out everywhere.
    pub async fn reset_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        check_password(password)?;
        let hash = blocking_hash(password).await?;
        if !self.store.set_user_password(name, &hash).await? {
            return Err(AccountError::NoSuchUser(name.to_string()));
        }
        tracing::info!(user = name, "password reset");
        Ok(())
    }

    /// Disables the account and signs it out everywhere.
    pub async fn disable(&self, name: &str) -> Result<(), AccountError> {
        if !self.store.disable_user(name).await? {
            return Err(AccountError::NoSuchUser(name.to_string()));
        }
        tracing::info!(user = name, "user disabled");
        Ok(())
    }

    /// Checks the password and hands out a token; `address` is the client's IP address.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        address: &str,
    ) -> Result<Token, LoginError> {
        // Counted before the password is checked: attempts under way count too.
        let attempt = match self.throttle.admit(name, address).await? {
            Ok(a) => a,
            Err(wait) => return Err(LoginError::Throttled(wait)),
        };
        let Some(slot) = self.check_slot().await else {
            self.throttle.withdraw(attempt).await?;
            tracing::warn!("sign-in refused: every password check slot is taken");
            return Err(LoginError::Busy(CHECK_WAIT.as_secs()));
        };
        let user = self.store.user_by_name(name).await?;
        let hash = user.as_ref().map_or_else(
            || self.dummy_hash.as_str().to_string(),
            |u| u.password_hash.clone(),
        );
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
            .await
            .context("password check")?;
        drop(slot);
        if let Some(c) = &self.checked {
            c.inc();
        }
        let user = match user {
            Some(u) if matches && !u.disabled => u,
            _ => {
                tracing::info!(addr = address, "sign-in refused");
                return Err(match self.throttle.fail(attempt).await? {
                    Some(wait) => LoginError::Throttled(wait),
                    None => LoginError::Invalid,
                });
            }
        };
        let role: Role = user.role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        self.throttle.succeed(attempt).await?;
        let secret = new_token();
        let expires_at = chrono::Utc::now().timestamp() + SESSION_TTL.as_secs() as i64;
        self.store
            .insert_session(&token_hash(&secret), &user.id, expires_at)
            .await?;
        tracing::info!(user = %user.name, role = role.as_str(), "signed in");
        Ok(Token {
            secret,
            expires_at,
            role,
        })
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        self.store.delete_session(&token_hash(token)).await
    }

    /// The user a token belongs to, if it is live and the account enabled.
    pub async fn principal(&self, token: &str) -> Result<Option<Principal>> {
        let Some((user, role)) = self.store.session_user(&token_hash(token)).await? else {
            return Ok(None);
        };
        let role = role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        Ok(Some(Principal { user, role }))
    }
}

async fn blocking_hash(password: &str) -> Result<String, AccountError> {
    let password = password.to_string();
    Ok(
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .context("password hashing")??,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_a_salt() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify_password(&a, "correct horse"));
        assert!(!verify_password(&a, "correct horsf"));
        assert!(!verify_password("garbage", "correct horse"));
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, new_token());
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("wang.li").is_ok());
        assert!(check_name("王丽").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
    }
}
