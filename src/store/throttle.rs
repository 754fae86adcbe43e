//! Sign-in attempts counted per key (an account or a client address), in the database so
//! every node sees the same counts and a restart forgets nothing. Times are Unix seconds.

use super::{Store, now};
use anyhow::Result;
use sqlx::Row;

pub(super) const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS sign_in_attempts (
        subject TEXT PRIMARY KEY,
        attempts BIGINT NOT NULL,
        first_at BIGINT NOT NULL,
        locked_until BIGINT NOT NULL)"];

/// What counting one more attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The attempt is the `n`th in the window.
    Attempt(u32),
    /// The key is locked for this many more seconds; nothing was counted.
    Locked(u64),
}

impl Store {
    /// Counts one attempt against `key`. Attempts older than `window` seconds are forgotten,
    /// and so are those before a lock that has run out. One statement, so concurrent
    /// attempts on any node each get their own number.
    pub async fn count_attempt(&self, key: &str, window: i64) -> Result<Counted> {
        let t = now();
        let row = sqlx::query(
            "INSERT INTO sign_in_attempts (subject, attempts, first_at, locked_until) VALUES ($1, 1, $2, 0)
             ON CONFLICT (subject) DO UPDATE SET
               attempts = CASE
                 WHEN sign_in_attempts.locked_until > $2 THEN sign_in_attempts.attempts
                 WHEN sign_in_attempts.locked_until > 0 OR sign_in_attempts.first_at <= $3 THEN 1
                 ELSE sign_in_attempts.attempts + 1 END,
               first_at = CASE
                 WHEN sign_in_attempts.locked_until > $2 THEN sign_in_attempts.first_at
                 WHEN sign_in_attempts.locked_until > 0 OR sign_in_attempts.first_at <= $3 THEN $2
                 ELSE sign_in_attempts.first_at END,
               locked_until = CASE
                 WHEN sign_in_attempts.locked_until > $2 THEN sign_in_attempts.locked_until
                 ELSE 0 END
             RETURNING attempts, locked_until",
        )
        .bind(key)
        .bind(t)
        .bind(t - window)
        .fetch_one(&self.pool)
        .await?;
        let locked_until: i64 = row.try_get("locked_until")?;
        if locked_until > t {
            return Ok(Counted::Locked((locked_until - t) as u64));
        }
        let attempts: i64 = row.try_get("attempts")?;
        Ok(Counted::Attempt(
            u32::try_from(attempts).unwrap_or(u32::MAX),
        ))
    }

    /// Locks `key` for `lock` seconds if it has `limit` attempts or more and is not locked
    /// already; whether it is locked now.
    pub async fn lock_attempts(&self, key: &str, limit: u32, lock: i64) -> Result<bool> {
        let t = now();
        sqlx::query(
            "UPDATE sign_in_attempts SET locked_until = $2
             WHERE subject = $1 AND attempts >= $3 AND locked_until <= $4",
        )
        .bind(key)
        .bind(t + lock)
        .bind(i64::from(limit))
        .bind(t)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT locked_until FROM sign_in_attempts WHERE subject = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("locked_until")? > t,
            None => false,
        })
    }

    /// Takes back one attempt counted against `key` (it was not a failure after all).
    pub async fn uncount_attempt(&self, key: &str) -> Result<()> {
        sqlx::query(
            "UPDATE sign_in_attempts SET attempts = attempts - 1 WHERE subject = $1 AND attempts > 0",
        )
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets every attempt against `key`.
    pub async fn clear_attempts(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_attempts WHERE subject = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes keys neither locked nor counting within `window` seconds.
    pub async fn purge_attempts(&self, window: i64) -> Result<u64> {
        let t = now();
        Ok(
            sqlx::query("DELETE FROM sign_in_attempts WHERE locked_until <= $1 AND first_at <= $2")
                .bind(t)
                .bind(t - window)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
