//! Verification jobs survive the server stopping: killed with SIGKILL in the middle of a batch
//! (every acknowledged job completes after the restart, the one being read is taken up again
//! when its lease runs out), stopped with SIGTERM (the request under way finishes, jobs not
//! finished by the deadline go back to the queue at once), and a job that keeps interrupting
//! its readers ends as failed with a reason the clerk sees. Real processes, the real OCR
//! models (fetched into `models/` when missing) and SQLite; `tests/two_nodes.rs` runs two
//! nodes on PostgreSQL.

use crate::common;
use crate::common_nodes;

use chrono::NaiveDate;
use common_nodes::{Node, card_png, client, fetch_models, serve, settle};
use serde_json::{Value, json};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use xiaoban::account::{Accounts, Role};
use xiaoban::desk::{DocumentReader, ReadError, aad};
use xiaoban::store::Store;
use xiaoban::store::seal::{Keyring, Sealer};
use xiaoban::verify::Report;

fn sqlite(data: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data.join("xiaoban.db").display())
}

fn env(lease_secs: u64, deadline_secs: u64) -> Vec<(&'static str, String)> {
    vec![
        ("XIAOBAN_SCANS__LEASE_SECS", lease_secs.to_string()),
        ("XIAOBAN_SCANS__WORKERS", "1".into()),
        ("XIAOBAN_SHUTDOWN_DEADLINE_SECS", deadline_secs.to_string()),
    ]
}

async fn clerk(node: &Node, data: &std::path::Path, env: &[(&str, String)]) -> String {
    common_nodes::add_user(data, env, "clerk-recovery", "clerk");
    common_nodes::token(&client(), node, "clerk-recovery").await
}

#[tokio::test]
async fn sigkill_in_the_middle_of_a_batch_loses_no_acknowledged_job() {
    fetch_models().await;
    let data = tempfile::tempdir().unwrap();
    let env = env(3, 10);
    let first = serve(data.path(), &env);
    let token = clerk(&first, data.path(), &env).await;
    let http = client();
    let (batch, jobs) =
        common_nodes::batch(&http, &first, &token, (0..6).map(card_png).collect()).await;
    let store = Store::connect(&sqlite(data.path())).await.unwrap();
    // Kill once the first job is done and the next is being read.
    let started = Instant::now();
    loop {
        let progress = common_nodes::get(
            &http,
            &first,
            &token,
            &format!("/api/v1/verify/batch/{batch}"),
        )
        .await;
        if progress["done"].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{progress}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut in_flight = Vec::new();
    for _ in 0..100 {
        for id in &jobs {
            if let Some(c) = store.job_claim(id).await.unwrap()
                && c.finished_at.is_none()
            {
                in_flight.push(id.clone());
            }
        }
        if !in_flight.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill();
    assert_eq!(in_flight.len(), 1, "one worker reads one job at a time");
    let mut settled_before = 0;
    for id in &jobs {
        if store.job(id).await.unwrap().unwrap().status != xiaoban::store::jobs::JobStatus::Pending
        {
            settled_before += 1;
        }
    }
    assert!(settled_before < jobs.len(), "the kill came too late");

    let restarted = Instant::now();
    let second = serve(data.path(), &env);
    let views = settle(&http, &second, &token, &jobs, Duration::from_secs(120)).await;
    let recovery = restarted.elapsed();
    for v in &views {
        assert_eq!(v["status"], "done", "the clerk sees each job's result: {v}");
        assert!(v["verdict"].is_string(), "{v}");
    }
    for id in &jobs {
        let claim = store.job_claim(id).await.unwrap().expect("claimed");
        assert!(claim.finished_at.is_some());
        let expected = if in_flight.contains(id) { 2 } else { 1 };
        assert_eq!(
            claim.attempts, expected,
            "job {id}: read once, or twice if the kill cut its first reading short"
        );
    }
    assert_eq!(
        second.logged("taking up a job another reader left").len(),
        1,
        "the interrupted job was taken up again after its lease"
    );
    println!(
        "recovery after SIGKILL: {} of {} jobs were left, all settled {:.1} s after the restart (lease 3 s)",
        jobs.len() - settled_before,
        jobs.len(),
        recovery.as_secs_f64()
    );
    second.stop();
}

#[tokio::test]
async fn sigterm_finishes_the_request_under_way_and_gives_unfinished_jobs_back() {
    fetch_models().await;
    let data = tempfile::tempdir().unwrap();
    // A lease far longer than the test waits: jobs must come back by release, not expiry.
    let env = env(600, 10);
    let node = serve(data.path(), &env);
    let token = clerk(&node, data.path(), &env).await;
    let http = client();
    let (_, queued) =
        common_nodes::batch(&http, &node, &token, (10..16).map(card_png).collect()).await;
    let store = Store::connect(&sqlite(data.path())).await.unwrap();

    // One document verified at once, in flight when SIGTERM arrives.
    let request = tokio::spawn({
        let (http, url, token) = (http.clone(), node.url("/api/v1/verify"), token.clone());
        async move {
            let form = reqwest::multipart::Form::new().part(
                "image",
                reqwest::multipart::Part::bytes(card_png(99)).file_name("card.png"),
            );
            let r = http
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .expect("the request under way is answered, not cut");
            (r.status(), r.json::<Value>().await.unwrap())
        }
    });
    // Wait until its job is stored and claimed: the request is being read.
    let started = Instant::now();
    loop {
        let total = store
            .access_log(&xiaoban::store::access_log::AccessQuery {
                job_id: None,
                actor: Some("clerk-recovery".into()),
                since: None,
                limit: 100,
            })
            .await
            .unwrap()
            .len();
        if total > queued.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "request not stored"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.terminate();
    let (status, report) = request.await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert!(report["job_id"].is_string(), "{report}");
    let (exit, took, lines) = node.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "graceful exit: {exit:?}");
    assert!(
        lines.iter().any(|l| l.contains("shutting down")),
        "{lines:?}"
    );
    println!(
        "SIGTERM: exited in {:.2} s (deadline 10 s) after answering the request under way",
        took.as_secs_f64()
    );
    // Nothing stays held by the stopped node: every unfinished job is claimable now.
    let mut unfinished = 0;
    for id in &queued {
        let job = store.job(id).await.unwrap().unwrap();
        if job.status == xiaoban::store::jobs::JobStatus::Pending {
            unfinished += 1;
            if let Some(c) = store.job_claim(id).await.unwrap() {
                assert!(
                    c.lease_until <= chrono::Utc::now().timestamp_millis(),
                    "job {id} still leased by a stopped node"
                );
            }
        }
    }
    assert_eq!(store.claimable_jobs().await.unwrap(), unfinished);

    let restarted = Instant::now();
    let again = serve(data.path(), &env);
    // Far under the 600 s lease: the jobs came back at once.
    let views = settle(&http, &again, &token, &queued, Duration::from_secs(120)).await;
    for v in &views {
        assert_eq!(v["status"], "done", "{v}");
    }
    println!(
        "after SIGTERM: {unfinished} unfinished jobs settled {:.1} s after the restart",
        restarted.elapsed().as_secs_f64()
    );
    again.stop();
}

/// Reports every image as the same front of an identity card.
struct QuickReader;

impl DocumentReader for QuickReader {
    fn read(&self, _: &[u8], _: Option<&[u8]>, _: NaiveDate) -> Result<Report, ReadError> {
        Ok(report(json!({
            "document_type": "id_card_front",
            "fields": {},
            "checks": [],
            "warnings": [],
            "verdict": "pass",
            "reasons": [],
            "prefill": {}
        })))
    }
}

async fn sign_in(server: &common::TestServer, store: &Store, name: &str) -> String {
    Accounts::new(store.clone())
        .add_user(name, Role::Clerk, common_nodes::PASSWORD)
        .await
        .unwrap();
    common::api_token(
        &common::client(),
        &server.base,
        name,
        common_nodes::PASSWORD,
    )
    .await
}

/// `xiaoban_verify_jobs_recovered_total` by outcome, from the server's /metrics.
async fn recovered(server: &common::TestServer) -> (u64, u64) {
    let text = common::metrics(&common::client(), &server.url("/metrics")).await;
    let count = |outcome: &str| {
        let series = format!("xiaoban_verify_jobs_recovered_total{{outcome=\"{outcome}\"}}");
        common::metric(&text, &series) as u64
    };
    (count("retried"), count("failed"))
}

async fn job_view(server: &common::TestServer, token: &str, id: &str) -> Value {
    common::client()
        .get(server.url(&format!("/api/v1/verify/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_job_that_keeps_interrupting_its_readers_ends_failed_with_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let mut config = common::config(data.path(), None, None);
    config.scans.max_attempts = 2;
    let store = Store::connect(&config.database_url()).await.unwrap();
    let sealer = Sealer::new(
        Keyring::load_or_create(data.path()).unwrap(),
        config.scans.cipher,
    );
    let png = b"\x89PNG\r\n\x1a\nscan".to_vec();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = uuid::Uuid::new_v4().simple().to_string();
        store
            .insert_job(
                &id,
                "clerk-crashes",
                None,
                sealer.seal(&aad(&id, "front"), &png),
                None,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    // Readers that died: the first job was taken up twice, the second once, and neither
    // finished (their leases ran out at once).
    for expected in [(0, 1), (0, 2), (1, 1)] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let skip: Vec<String> = if expected.0 == 1 {
            vec![ids[0].clone()]
        } else {
            Vec::new()
        };
        let claim = store
            .claim_next_job("crashed-node", 0, &skip)
            .await
            .unwrap()
            .expect("a job to claim");
        assert_eq!(claim.job_id, ids[expected.0]);
        assert_eq!(claim.attempts, expected.1);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let server = common::start_with_reader(config, data, Some(Arc::new(QuickReader))).await;
    let token = sign_in(&server, &store, "clerk-crashes").await;
    let mut views = Vec::new();
    for _ in 0..200 {
        views.clear();
        for id in &ids {
            views.push(job_view(&server, &token, id).await);
        }
        if views.iter().all(|v| v["status"] != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(views[0]["status"], "failed", "{}", views[0]);
    assert_eq!(views[0]["error"], xiaoban::desk::GAVE_UP);
    assert_eq!(views[1]["status"], "done", "{}", views[1]);
    assert_eq!(store.job_claim(&ids[0]).await.unwrap().unwrap().attempts, 3);
    assert_eq!(store.job_claim(&ids[1]).await.unwrap().unwrap().attempts, 2);
    assert_eq!(
        recovered(&server).await,
        (1, 1),
        "one job retried after its lease ran out, one given up: counted for operators"
    );
    server.stop().await;
}

/// Blocks every read until the test opens the gate.
struct GatedReader(Arc<(Mutex<bool>, Condvar)>);

impl DocumentReader for GatedReader {
    fn read(&self, f: &[u8], b: Option<&[u8]>, today: NaiveDate) -> Result<Report, ReadError> {
        let (lock, cvar) = &*self.0;
        let open = lock.lock().unwrap();
        let _open = cvar
            .wait_timeout_while(open, Duration::from_secs(60), |open| !*open)
            .unwrap();
        QuickReader.read(f, b, today)
    }
}

#[tokio::test]
async fn a_shutdown_deadline_gives_the_jobs_being_read_back_to_the_queue() {
    let data = tempfile::tempdir().unwrap();
    let mut config = common::config(data.path(), None, None);
    config.shutdown_deadline_secs = 1;
    config.scans.lease_secs = 600;
    let store = Store::connect(&config.database_url()).await.unwrap();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let mut first = common::start_with_reader(
        config.clone(),
        data,
        Some(Arc::new(GatedReader(gate.clone()))),
    )
    .await;
    let token = sign_in(&first, &store, "clerk-deadline").await;
    let mut form_png = reqwest::multipart::Form::new();
    for i in 0..2u8 {
        let mut img = b"\x89PNG\r\n\x1a\n".to_vec();
        img.push(i);
        form_png = form_png.part(
            "images",
            reqwest::multipart::Part::bytes(img).file_name("x.png"),
        );
    }
    let r = common::client()
        .post(first.url("/api/v1/verify/batch"))
        .bearer_auth(&token)
        .multipart(form_png)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let batch: Value = r.json().await.unwrap();
    let batch = batch["batch_id"].as_str().unwrap().to_string();
    let progress: Value = common::client()
        .get(first.url(&format!("/api/v1/verify/batch/{batch}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = progress["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect();
    // The worker holds the first job.
    for _ in 0..200 {
        if store.job_claim(&ids[0]).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The data folder outlives the first server (stop drops the server's copy).
    let data = std::mem::replace(&mut first.data, tempfile::tempdir().unwrap());
    let stopping = Instant::now();
    first.stop().await;
    let took = stopping.elapsed();
    assert!(took >= Duration::from_secs(1), "waited for the deadline");
    let held = store.job_claim(&ids[0]).await.unwrap().expect("claimed");
    assert_eq!(
        held.lease_until, 0,
        "given back, not left to its 600 s lease"
    );
    assert_eq!(
        held.attempts, 0,
        "an orderly stop does not count as an attempt"
    );
    assert!(store.job_claim(&ids[1]).await.unwrap().is_none());

    let second = common::start_with_reader(config, data, Some(Arc::new(QuickReader))).await;
    let mut views = Vec::new();
    for _ in 0..200 {
        views = vec![
            job_view(&second, &token, &ids[0]).await,
            job_view(&second, &token, &ids[1]).await,
        ];
        if views.iter().all(|v| v["status"] == "done") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        views.iter().all(|v| v["status"] == "done"),
        "taken up at once by the next start: {views:?}"
    );
    for id in &ids {
        assert_eq!(store.job_claim(id).await.unwrap().unwrap().attempts, 1);
    }
    assert_eq!(
        recovered(&second).await,
        (0, 0),
        "a job given back at shutdown is not a recovery"
    );
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    second.stop().await;
}

/// A scripted reader's report, from the JSON a stored report has.
fn report(v: Value) -> Report {
    serde_json::from_value(v).expect("a report")
}
