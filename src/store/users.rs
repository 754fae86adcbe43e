//! Staff accounts and their sign-in sessions. Passwords arrive here already hashed (argon2id,
//! see `crate::account`); session tokens only as their SHA-256.

use super::{Store, now};
use anyhow::Result;
use sqlx::Row;

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        disabled BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id)",
];

/// A user as stored.
#[derive(Clone)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Adds a user; `false` if the name is taken.
    pub async fn insert_user(&self, name: &str, role: &str, password_hash: &str) -> Result<bool> {
        if self.user_by_name(name).await?.is_some() {
            return Ok(false);
        }
        let t = now();
        let done = sqlx::query(
            "INSERT INTO users (id, name, role, password_hash, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(name)
        .bind(role)
        .bind(password_hash)
        .bind(t)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            // Lost a race for the same name.
            Err(_) if self.user_by_name(name).await?.is_some() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT id, name, role, password_hash, disabled FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(UserRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                role: r.try_get("role")?,
                password_hash: r.try_get("password_hash")?,
                disabled: r.try_get::<i64, _>("disabled")? != 0,
            })
        })
        .transpose()
    }

    /// Replaces a user's password hash, enables the account and ends its sessions; `false`
    /// if there is no such user.
    pub async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        let Some(user) = self.user_by_name(name).await? else {
            return Ok(false);
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, disabled = 0, updated_at = $2 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(now())
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Disables a user and ends its sessions; `false` if there is no such user.
    pub async fn disable_user(&self, name: &str) -> Result<bool> {
        let Some(user) = self.user_by_name(name).await? else {
            return Ok(false);
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET disabled = 1, updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&user.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The name and role behind a live session of an enabled user.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("name")?, r.try_get("role")?)))
            .transpose()
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions.
    pub async fn purge_sessions(&self) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
