//! The storage side of a scan key rotation (`crate::keys`): finding the jobs whose sealed
//! parts are not under a given key, and replacing a job's parts with re-sealed ones, each
//! part only if it still holds what was read (a job finished or purged meanwhile is left for
//! the next pass).

use super::Store;
use super::seal::{KeyId, SealError};
use anyhow::Result;

/// A job's sealed parts: column, part name (as in the associated data).
const PARTS: [(&str, &str); 3] = [
    ("scan_front", "front"),
    ("scan_back", "back"),
    ("report", "report"),
];

/// Jobs with a part not under the key (records of the first format have no key id and
/// always count). Bytes 3–10 of a record hold its key id.
macro_rules! not_under {
    ($select:literal, $rest:literal) => {
        concat!(
            $select,
            " FROM verify_jobs WHERE id > $1 AND (
               (scan_front IS NOT NULL AND substr(scan_front, 3, 8) <> $2)
            OR (scan_back IS NOT NULL AND substr(scan_back, 3, 8) <> $2)
            OR (report IS NOT NULL AND substr(report, 3, 8) <> $2)) ",
            $rest
        )
    };
}

/// What re-sealing one job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Parts replaced.
    pub parts: usize,
    /// Parts that changed between reading and writing (left for another pass).
    pub changed_meanwhile: usize,
    /// Parts that no key opens.
    pub unreadable: usize,
}

impl Store {
    /// Ids of jobs after `after` (in id order) with a sealed part not under `key`.
    pub async fn jobs_not_sealed_under(
        &self,
        key: KeyId,
        after: &str,
        limit: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar::<_, String>(not_under!("SELECT id", "ORDER BY id LIMIT $3"))
            .bind(after)
            .bind(key.0.to_vec())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// How many jobs have a sealed part not under `key`.
    pub async fn count_jobs_not_sealed_under(&self, key: KeyId) -> Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>(not_under!("SELECT COUNT(*)", ""))
                .bind("")
                .bind(key.0.to_vec())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Re-seals a job's parts with `reseal(part, sealed)` (which returns `None` for a part
    /// already under the current key) and writes the new ones in one transaction, each only
    /// if the stored part is still the one read.
    pub async fn reseal_job(
        &self,
        id: &str,
        reseal: impl Fn(&str, &[u8]) -> Result<Option<Vec<u8>>, SealError>,
    ) -> Result<Resealed> {
        let mut done = Resealed::default();
        let Some(sealed) = self.job_sealed(id).await? else {
            return Ok(done);
        };
        let mut replacements = Vec::new();
        for ((column, part), old) in
            PARTS
                .iter()
                .zip([sealed.scan_front, sealed.scan_back, sealed.report])
        {
            let Some(old) = old else { continue };
            match reseal(part, &old) {
                Ok(Some(new)) => replacements.push((*column, old, new)),
                Ok(None) => {}
                Err(_) => done.unreadable += 1,
            }
        }
        if replacements.is_empty() {
            return Ok(done);
        }
        let mut tx = self.pool.begin().await?;
        for (column, old, new) in replacements {
            let sql = match column {
                "scan_front" => {
                    "UPDATE verify_jobs SET scan_front = $1 WHERE id = $2 AND scan_front = $3"
                }
                "scan_back" => {
                    "UPDATE verify_jobs SET scan_back = $1 WHERE id = $2 AND scan_back = $3"
                }
                _ => "UPDATE verify_jobs SET report = $1 WHERE id = $2 AND report = $3",
            };
            let n = sqlx::query(sql)
                .bind(new)
                .bind(id)
                .bind(old)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                done.parts += 1;
            } else {
                done.changed_meanwhile += 1;
            }
        }
        tx.commit().await?;
        Ok(done)
    }
}
