//! Scan key rotation (`xiaoban keys rotate`): records sealed under key A are re-sealed under a
//! new key B, A stops opening them, an interrupted rotation resumes, a running server follows
//! the key file without a restart, and keys from the environment rotate by the documented
//! steps. On SQLite and (when configured) PostgreSQL.

use crate::common;

use chrono::NaiveDate;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use xiaoban::account::{Accounts, Principal, Role};
use xiaoban::config::ScanCipher;
use xiaoban::desk::{DocumentReader, ReadError, aad};
use xiaoban::store::Store;
use xiaoban::store::seal::{KeyId, Keyring, ScanKey, Sealer, key_path};
use xiaoban::verify::Report;

const PASSWORD: &str = "rotation password";

/// Verifies `n` uploads through the desk with its scans and report sealed under `key` with
/// `cipher` (every other one with a back image); returns the job ids and the front images.
async fn store_jobs(
    store: &Store,
    key: &ScanKey,
    cipher: ScanCipher,
    n: usize,
) -> Vec<(String, Vec<u8>)> {
    let config = xiaoban::config::ScansConfig {
        cipher,
        ..Default::default()
    };
    let reader: Arc<dyn DocumentReader> = Arc::new(ScriptedReader);
    let available = xiaoban::desk::Availability {
        available: true,
        hint: None,
    };
    let desk = xiaoban::desk::Desk::new(store.clone(), key, config, (Some(reader), available));
    let clerk = Principal {
        user: "clerk-rotation".into(),
        role: Role::Clerk,
    };
    let mut out = Vec::new();
    for i in 0..n {
        let front = png(&format!("front image {i} {}", uuid::Uuid::new_v4()));
        let back = (i % 2 == 0).then(|| png(&format!("back image {i}")));
        let (id, _) = desk.verify(&clerk, front.clone(), back).await.unwrap();
        out.push((id, front));
    }
    out
}

/// The key ids of a job's sealed parts.
async fn key_ids(store: &Store, id: &str) -> Vec<Option<KeyId>> {
    let s = store.job_sealed(id).await.unwrap().unwrap();
    [s.scan_front, s.scan_back, s.report]
        .into_iter()
        .flatten()
        .map(|b| Sealer::key_id_of(&b))
        .collect()
}

async fn opens_all(store: &Store, sealer: &Sealer, jobs: &[(String, Vec<u8>)]) -> bool {
    for (id, front) in jobs {
        let s = store.job_sealed(id).await.unwrap().unwrap();
        match sealer.open(&aad(id, "front"), &s.scan_front.unwrap()) {
            Ok(plain) if &plain == front => {}
            _ => return false,
        }
        if sealer.open(&aad(id, "report"), &s.report.unwrap()).is_err() {
            return false;
        }
        if let Some(b) = s.scan_back
            && sealer.open(&aad(id, "back"), &b).is_err()
        {
            return false;
        }
    }
    true
}

fn no_wait(limit: Option<usize>) -> xiaoban::keys::Options {
    xiaoban::keys::Options {
        limit,
        settle: Duration::ZERO,
    }
}

fn database_url(data: &Path, db: &Option<String>) -> String {
    db.clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data.join("xiaoban.db").display()))
}

#[tokio::test]
async fn scans_sealed_under_one_key_are_read_back_under_the_next_and_the_old_key_is_dropped() {
    for db in common::databases() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::connect(&database_url(data.path(), &db))
            .await
            .unwrap();
        let a = Keyring::load_or_create(data.path()).unwrap();
        let only_a = Sealer::new(&a.current, ScanCipher::Aes256Gcm);
        let mut jobs = store_jobs(&store, &a.current, ScanCipher::Aes256Gcm, 3).await;
        // SM4 records keep their cipher through the rotation.
        jobs.extend(store_jobs(&store, &a.current, ScanCipher::Sm4Gcm, 2).await);

        let report = xiaoban::keys::rotate(&store, data.path(), &no_wait(None))
            .await
            .unwrap();
        assert!(report.started && report.finished, "{report:?}");
        assert!(report.resealed_jobs >= jobs.len(), "{report:?}");
        assert!(!report.retire_by_hand);

        let b = Keyring::load_or_create(data.path()).unwrap();
        assert_ne!(b.current.id(), a.current.id());
        assert!(
            b.retired.is_empty(),
            "the old key is gone from the key file"
        );
        assert_eq!(report.key, b.current.id().to_string());
        let file = std::fs::read_to_string(key_path(data.path())).unwrap();
        assert!(!file.contains(&a.current.to_base64()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(data.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let only_b = Sealer::new(&b.current, ScanCipher::Aes256Gcm);
        assert!(opens_all(&store, &only_b, &jobs).await, "B reads them all");
        for (id, _) in &jobs {
            assert!(
                key_ids(&store, id)
                    .await
                    .iter()
                    .all(|k| *k == Some(b.current.id()))
            );
            let s = store.job_sealed(id).await.unwrap().unwrap();
            assert!(
                only_a
                    .open(&aad(id, "front"), &s.scan_front.unwrap())
                    .is_err()
            );
            assert!(only_a.open(&aad(id, "report"), &s.report.unwrap()).is_err());
        }
        let sm4 = store.job_sealed(&jobs[4].0).await.unwrap().unwrap();
        assert_eq!(
            Sealer::cipher_of(&sm4.scan_front.unwrap()),
            Some(ScanCipher::Sm4Gcm)
        );
        assert_eq!(
            store
                .count_jobs_not_sealed_under(b.current.id())
                .await
                .unwrap(),
            report.unreadable_jobs.len() as i64,
            "only what no key opens (other deployments' jobs in a shared database) is left"
        );
        for (id, _) in &jobs {
            assert!(!report.unreadable_jobs.contains(id));
        }
    }
}

#[tokio::test]
async fn an_interrupted_rotation_resumes_with_the_same_new_key() {
    for db in common::databases() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::connect(&database_url(data.path(), &db))
            .await
            .unwrap();
        let a = Keyring::load_or_create(data.path()).unwrap();
        let jobs = store_jobs(&store, &a.current, ScanCipher::Aes256Gcm, 6).await;

        // Cut short after two jobs, as a crash would leave it.
        let first = xiaoban::keys::rotate(&store, data.path(), &no_wait(Some(2)))
            .await
            .unwrap();
        assert!(first.started && !first.finished, "{first:?}");
        assert_eq!(first.resealed_jobs, 2);
        assert!(first.remaining_jobs >= 4, "{first:?}");
        let mid = Keyring::load_or_create(data.path()).unwrap();
        assert_eq!(mid.current.id().to_string(), first.key);
        assert_eq!(mid.retired.len(), 1);
        assert_eq!(mid.retired[0].id(), a.current.id());
        // Half-way, the keyring opens everything: old records and re-sealed ones.
        assert!(
            opens_all(
                &store,
                &Sealer::new(mid.clone(), ScanCipher::Aes256Gcm),
                &jobs
            )
            .await
        );
        let mut under = std::collections::HashMap::new();
        for (id, _) in &jobs {
            for k in key_ids(&store, id).await {
                *under.entry(k).or_insert(0) += 1;
            }
        }
        assert!(under.contains_key(&Some(a.current.id())), "{under:?}");
        assert!(under.contains_key(&Some(mid.current.id())), "{under:?}");

        // A server that had not yet re-read the key file seals two more uploads under A.
        let mut jobs = jobs;
        jobs.extend(store_jobs(&store, &a.current, ScanCipher::Aes256Gcm, 2).await);

        // Running it again finishes the same rotation instead of starting another.
        let second = xiaoban::keys::rotate(&store, data.path(), &no_wait(None))
            .await
            .unwrap();
        assert!(!second.started && second.finished, "{second:?}");
        assert_eq!(second.key, first.key);
        let done = Keyring::load_or_create(data.path()).unwrap();
        assert_eq!(done.current.id(), mid.current.id());
        assert!(done.retired.is_empty());
        assert!(
            opens_all(
                &store,
                &Sealer::new(&done.current, ScanCipher::Aes256Gcm),
                &jobs
            )
            .await
        );
        assert!(
            !opens_all(
                &store,
                &Sealer::new(&a.current, ScanCipher::Aes256Gcm),
                &jobs[..1]
            )
            .await
        );

        // A third run is a new rotation.
        let third = xiaoban::keys::rotate(&store, data.path(), &no_wait(None))
            .await
            .unwrap();
        assert!(third.started && third.finished);
        assert_ne!(third.key, second.key);
    }
}

/// Reads every image as the same document (the OCR pipeline has tests of its own).
struct ScriptedReader;

impl DocumentReader for ScriptedReader {
    fn read(&self, _: &[u8], _: Option<&[u8]>, _: NaiveDate) -> Result<Report, ReadError> {
        Ok(report(
            json!({"document_type": "id_card_front", "fields": {}, "checks": [],
                  "warnings": [], "verdict": "review", "reasons": [], "prefill": {}}),
        ))
    }
}

fn png(marker: &str) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(marker.as_bytes());
    v
}

#[tokio::test]
async fn a_running_server_follows_the_rotation_without_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let config = common::config(data.path(), None, None);
    let server = common::start_with_reader(config, data, Some(Arc::new(ScriptedReader) as _)).await;
    let store = Store::connect(&server.config.database_url()).await.unwrap();
    Accounts::new(store.clone())
        .add_user("clerk-r", Role::Clerk, PASSWORD)
        .await
        .unwrap();
    let http = common::client();
    let token = common::api_token(&http, &server.base, "clerk-r", PASSWORD).await;
    let upload = |marker: &'static str| {
        let http = http.clone();
        let url = server.url("/api/v1/verify");
        let token = token.clone();
        async move {
            let form = Form::new().part("image", Part::bytes(png(marker)).file_name("a.png"));
            let r = http
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let body: Value = r.json().await.unwrap();
            body["job_id"].as_str().unwrap().to_string()
        }
    };
    let scan = |id: String| {
        let http = http.clone();
        let url = server.url(&format!("/api/v1/verify/{id}/scan"));
        let token = token.clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status(), r.bytes().await.unwrap().to_vec())
        }
    };
    let before = upload("before rotation").await;
    let a = Keyring::load_or_create(server.data.path()).unwrap();
    assert_eq!(key_ids(&store, &before).await[0], Some(a.current.id()));

    // The server re-reads the key file every 2 s; the rotation waits longer than that.
    let opts = xiaoban::keys::Options {
        limit: None,
        settle: xiaoban::store::seal::RELOAD_EVERY + Duration::from_millis(500),
    };
    let report = xiaoban::keys::rotate(&store, server.data.path(), &opts)
        .await
        .unwrap();
    assert!(report.finished, "{report:?}");
    let b = Keyring::load_or_create(server.data.path()).unwrap();

    assert_eq!(
        scan(before.clone()).await,
        (StatusCode::OK, png("before rotation")),
        "the re-sealed scan opens on the running server"
    );
    let after = upload("after rotation").await;
    assert_eq!(
        key_ids(&store, &after).await[0],
        Some(b.current.id()),
        "new uploads are sealed under the new key"
    );
    assert_eq!(scan(after).await, (StatusCode::OK, png("after rotation")));
    server.stop().await;
}

fn xiaoban(data: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xiaoban"));
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("XIAOBAN_SCAN_KEY")
        .env_remove("XIAOBAN_SCAN_KEY_RETIRED")
        .env("XIAOBAN_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("xiaoban runs")
}

#[tokio::test]
async fn keys_from_the_environment_rotate_by_the_documented_steps() {
    let data = tempfile::tempdir().unwrap();
    let store = Store::connect(&database_url(data.path(), &None))
        .await
        .unwrap();
    let old = ScanKey::generate();
    let jobs = store_jobs(&store, &old, ScanCipher::Aes256Gcm, 3).await;
    let old_b64 = old.to_base64();

    // Only the old key in the environment: nothing to write the new key to; the steps.
    let out = xiaoban(
        data.path(),
        &[("XIAOBAN_SCAN_KEY", &old_b64)],
        &["keys", "rotate", "--settle", "0"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("XIAOBAN_SCAN_KEY_RETIRED") && err.contains("keys generate"),
        "{err}"
    );
    assert!(!key_path(data.path()).exists(), "no key file written");

    // The operator's new key, with the old one retired.
    let out = xiaoban(data.path(), &[], &["keys", "generate"]);
    assert!(out.status.success());
    let new_b64 = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let new = ScanKey::from_base64(&new_b64).unwrap();
    let env = [
        ("XIAOBAN_SCAN_KEY", new_b64.as_str()),
        ("XIAOBAN_SCAN_KEY_RETIRED", old_b64.as_str()),
    ];
    let out = xiaoban(data.path(), &env, &["keys", "status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["current"], new.id().to_string());
    assert_eq!(status["retired"], json!([old.id().to_string()]));
    assert_eq!(status["jobs_not_under_current"], 3);

    let out = xiaoban(
        data.path(),
        &env,
        &["keys", "rotate", "--json", "--settle", "0"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["finished"], true);
    assert_eq!(r["retire_by_hand"], true);
    assert_eq!(r["resealed_jobs"], 3);
    assert!(opens_all(&store, &Sealer::new(&new, ScanCipher::Aes256Gcm), &jobs).await);
    assert!(
        !opens_all(
            &store,
            &Sealer::new(&old, ScanCipher::Aes256Gcm),
            &jobs[..1]
        )
        .await
    );
}

#[tokio::test]
async fn two_rotations_at_once_cannot_both_write_a_key() {
    let data = tempfile::tempdir().unwrap();
    let store = Store::connect(&database_url(data.path(), &None))
        .await
        .unwrap();
    let a = Keyring::load_or_create(data.path()).unwrap();
    let jobs = store_jobs(&store, &a.current, ScanCipher::Aes256Gcm, 2).await;
    let opts = xiaoban::keys::Options {
        limit: None,
        settle: Duration::from_millis(800),
    };
    let (first, second) = tokio::join!(xiaoban::keys::rotate(&store, data.path(), &opts), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        xiaoban::keys::rotate(&store, data.path(), &opts).await
    });
    let report = first.expect("the first rotation runs");
    assert!(report.finished);
    let err = second.expect_err("the second is refused while the first holds the lock");
    assert!(format!("{err:#}").contains("正在运行"), "{err:#}");
    let b = Keyring::load_or_create(data.path()).unwrap();
    assert_eq!(b.current.id().to_string(), report.key);
    assert!(
        opens_all(
            &store,
            &Sealer::new(&b.current, ScanCipher::Aes256Gcm),
            &jobs
        )
        .await
    );
}

/// A scripted reader's report, from the JSON a stored report has.
fn report(v: Value) -> Report {
    serde_json::from_value(v).expect("a report")
}
