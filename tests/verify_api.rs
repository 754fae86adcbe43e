//! Accounts, document verification jobs, encryption at rest and the access log, end to end
//! over HTTP against the real server, on SQLite and (when configured) PostgreSQL. The
//! document reader is scripted here; the OCR pipeline has tests of its own.

mod common;

use chrono::NaiveDate;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use xiaoban::account::{Accounts, Role};
use xiaoban::desk::{DocumentReader, ReadError};
use xiaoban::store::Store;
use xiaoban::verify::Report;

/// A valid identity number (GB 11643 check character) that the scripted reader "reads".
const ID: &str = "11010519491231002X";
const NAME: &str = "张三丰";
const PASSWORD: &str = "correct horse battery";

/// PNG signature and some bytes: the server checks the signature; the reader is scripted.
fn png(marker: &str) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(format!("scan-bytes:{marker}:{ID}").as_bytes());
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads every image as the same identity card; images containing `UNREADABLE` are not
/// documents (with an error message that quotes the number, to test redaction); `FAIL`
/// breaks the reader; `SLOW` takes a while.
struct ScriptedReader;

impl DocumentReader for ScriptedReader {
    fn read(
        &self,
        front: &[u8],
        _back: Option<&[u8]>,
        _today: NaiveDate,
    ) -> Result<Report, ReadError> {
        if contains(front, b"UNREADABLE") {
            return Err(ReadError::Unreadable(format!(
                "没有找到证件边框（号码 {ID} 看不清）"
            )));
        }
        if contains(front, b"FAIL") {
            return Err(ReadError::Failed(format!("model exploded on {ID}")));
        }
        if contains(front, b"SLOW") {
            std::thread::sleep(Duration::from_millis(300));
        }
        let quad = json!([[10.0, 10.0], [200.0, 10.0], [200.0, 40.0], [10.0, 40.0]]);
        Ok(report(json!({
            "document_type": "id_card_front",
            "fields": {
                "name": {"value": NAME, "confidence": 0.97, "box": quad},
                "sex": {"value": "男", "confidence": 0.99, "box": quad},
                "id_number": {"value": ID, "confidence": 0.99, "box": quad},
                "address": {"value": "北京市东城区景山前街4号", "confidence": 0.9, "box": quad}
            },
            "checks": [{"rule": "id_check_character", "passed": true, "detail": format!("{ID} 校验码正确")}],
            "warnings": [{"code": "glare", "detail": "右上角反光"}],
            "verdict": "pass",
            "reasons": [],
            "prefill": {"social-security-card": {"姓名": NAME, "公民身份号码": ID}}
        })))
    }
}

/// Every log line of this test binary.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buf = buf.clone();
            move || LogWriter(buf.clone())
        };
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "xiaoban=trace,sqlx=trace,axum=trace,tower_http=trace",
            ))
            .with_writer(writer)
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Desk {
    server: common::TestServer,
    store: Store,
    http: reqwest::Client,
    /// Name suffix, so runs sharing one PostgreSQL database do not collide.
    tag: String,
}

async fn start(
    db: Option<String>,
    reader: bool,
    tune: impl FnOnce(&mut xiaoban::config::Config),
) -> Desk {
    captured_logs();
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(data.path(), None, db);
    tune(&mut config);
    let reader: Option<Arc<dyn DocumentReader>> = reader.then(|| Arc::new(ScriptedReader) as _);
    let server = common::start_with_reader(config, data, reader).await;
    let store = Store::connect(&server.config.database_url())
        .await
        .expect("store");
    Desk {
        server,
        store,
        http: common::client(),
        tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
    }
}

impl Desk {
    fn user(&self, base: &str) -> String {
        format!("{base}-{}", self.tag)
    }

    async fn add(&self, base: &str, role: Role) -> String {
        let name = self.user(base);
        Accounts::new(self.store.clone())
            .add_user(&name, role, PASSWORD)
            .await
            .expect("user added");
        name
    }

    async fn login(&self, name: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.server.url("/api/v1/auth/login"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    async fn token(&self, base: &str, role: Role) -> String {
        let name = self.add(base, role).await;
        let r = self.login(&name, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["role"], role.as_str());
        body["token"].as_str().unwrap().to_string()
    }

    async fn verify_multipart(
        &self,
        token: &str,
        front: Vec<u8>,
        back: Option<Vec<u8>>,
    ) -> reqwest::Response {
        let mut form = Form::new().part("image", Part::bytes(front).file_name("front.png"));
        if let Some(b) = back {
            form = form.part("image_back", Part::bytes(b).file_name("back.png"));
        }
        self.http
            .post(self.server.url("/api/v1/verify"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    async fn verify_json(&self, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.server.url("/api/v1/verify"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn new_job(&self, token: &str) -> String {
        let r = self
            .verify_multipart(token, png("front"), Some(png("back")))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["job_id"].as_str().unwrap().to_string()
    }

    /// `POST /api/v1/verify/{job}/corrections` with one field's new value.
    async fn correct(&self, token: &str, job: &str, field: &str, value: &str) -> reqwest::Response {
        self.http
            .post(
                self.server
                    .url(&format!("/api/v1/verify/{job}/corrections")),
            )
            .bearer_auth(token)
            .json(&json!({"field": field, "value": value}))
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/v1/verify/{job}/confirm` counting `seen` corrections.
    async fn confirm(&self, token: &str, job: &str, seen: usize) -> reqwest::Response {
        self.http
            .post(self.server.url(&format!("/api/v1/verify/{job}/confirm")))
            .bearer_auth(token)
            .json(&json!({"corrections": seen}))
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let mut r = self.http.get(self.server.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    async fn batch(&self, token: &str, images: Vec<Vec<u8>>) -> reqwest::Response {
        let mut form = Form::new();
        for (i, img) in images.into_iter().enumerate() {
            form = form.part("images", Part::bytes(img).file_name(format!("{i}.png")));
        }
        self.http
            .post(self.server.url("/api/v1/verify/batch"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    async fn wait_batch(&self, token: &str, id: &str) -> Value {
        for _ in 0..200 {
            let v: Value = self
                .get(Some(token), &format!("/api/v1/verify/batch/{id}"))
                .await
                .json()
                .await
                .unwrap();
            if v["done"] == v["total"] {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("batch did not finish");
    }
}

async fn problem(r: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_TYPE],
        "application/problem+json"
    );
    r.json().await.unwrap()
}

/// The roles allowed on each protected route. A route of the API that is neither here nor in
/// `PUBLIC` fails `every_route_has_a_rule`.
const TABLE: &[(&str, &str, &[Role])] = &[
    ("POST", "/api/v1/verify", &[Role::Clerk, Role::Supervisor]),
    (
        "GET",
        "/api/v1/verify/{job_id}",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/api/v1/verify/{job_id}/scan",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/api/v1/verify/{job_id}/prefill",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/api/v1/verify/{job_id}/corrections",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "POST",
        "/api/v1/verify/{job_id}/corrections",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "POST",
        "/api/v1/verify/{job_id}/confirm",
        &[Role::Supervisor],
    ),
    (
        "POST",
        "/api/v1/verify/batch",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/api/v1/verify/batch/{batch_id}",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/api/v1/access-log",
        &[Role::Supervisor, Role::Auditor],
    ),
    (
        "POST",
        "/api/v1/auth/logout",
        &[Role::Clerk, Role::Supervisor, Role::Admin, Role::Auditor],
    ),
];

/// Routes anyone may call.
const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/v1/chat"),
    ("POST", "/api/v1/chat/stream"),
    ("POST", "/api/v1/feedback"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/healthz"),
    // Behind `metrics.token` or on `metrics.listen`, not a role (tests/hardening.rs).
    ("GET", "/metrics"),
    // The citizen's side of a live handoff: the conversation id is the secret, as for chat.
    ("GET", "/api/v1/chat/{session_id}/messages"),
    ("GET", "/api/v1/chat/{session_id}/events"),
    ("POST", "/api/v1/chat/{session_id}/callback"),
    ("POST", "/api/v1/chat/{session_id}/leave"),
];

#[tokio::test]
async fn every_route_has_a_rule() {
    let desk = start(None, true, |_| {}).await;
    let doc: Value = desk
        .get(None, "/api/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut seen = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = method.to_uppercase();
            // The agents' routes have their own rules, tested role by role in
            // tests/handoff.rs.
            let known = TABLE.iter().any(|(tm, tp, _)| *tm == m && tp == path)
                || PUBLIC.iter().any(|(pm, pp)| *pm == m && pp == path)
                || xiaoban::web::handoff_api::RULES
                    .iter()
                    .any(|(hm, hp, _)| *hm == m && hp == path);
            assert!(known, "{m} {path} has no access rule in this test's table");
            seen.push((m, path.clone()));
        }
    }
    for (m, p, roles) in TABLE {
        assert!(
            seen.iter().any(|(sm, sp)| sm == m && sp == p),
            "{m} {p} is in the table but not in the API document"
        );
        if let Some((_, _, rule)) = xiaoban::web::verify_api::RULES
            .iter()
            .find(|(rm, rp, _)| rm == m && rp == p)
        {
            assert_eq!(
                rule, roles,
                "{m} {p}: the code's rule differs from the table"
            );
        }
    }
    for (m, p, _) in xiaoban::web::verify_api::RULES {
        assert!(
            TABLE.iter().any(|(tm, tp, _)| tm == m && tp == p),
            "{m} {p} has a rule in code but none in the test table"
        );
    }
    desk.server.stop().await;
}

#[tokio::test]
async fn every_route_answers_each_role_as_its_rule_says() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let mut tokens = Vec::new();
        for role in Role::ALL {
            tokens.push((Some(role), desk.token(role.as_str(), role).await));
        }
        let clerk = tokens[0].1.clone();
        let job = desk.new_job(&clerk).await;
        let batch: Value = desk
            .batch(&clerk, vec![png("b1")])
            .await
            .json()
            .await
            .unwrap();
        let batch = batch["batch_id"].as_str().unwrap().to_string();
        // A job the clerk corrected, for the supervisor to confirm (the supervisor corrects
        // the other job below, which would make confirming it their own correction).
        let corrected = desk.new_job(&clerk).await;
        let r = desk.correct(&clerk, &corrected, "sex", "女").await;
        assert_eq!(r.status(), StatusCode::OK);

        // Each caller: every role (the clerk owns the job and the batch), a stranger with no
        // token and one with a made-up token.
        let mut callers: Vec<(Option<Role>, Option<String>)> =
            tokens.iter().map(|(r, t)| (*r, Some(t.clone()))).collect();
        callers.push((None, None));
        callers.push((None, Some("made-up-token".into())));
        for (method, path, allowed) in TABLE {
            if *path == "/api/v1/auth/logout" {
                continue; // below: signing out ends the token the other rows need
            }
            let job = if path.ends_with("/confirm") {
                &corrected
            } else {
                &job
            };
            let url = path.replace("{job_id}", job).replace("{batch_id}", &batch);
            for (role, token) in &callers {
                let mut req = match *method {
                    "GET" => desk.http.get(desk.server.url(&url)),
                    _ => desk.http.post(desk.server.url(&url)),
                };
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                req = if url.ends_with("/batch") {
                    req.multipart(
                        Form::new().part("images", Part::bytes(png("x")).file_name("x.png")),
                    )
                } else if url.ends_with("/corrections") && *method == "POST" {
                    req.json(&json!({"field": "sex", "value": "女"}))
                } else if url.ends_with("/confirm") {
                    req.json(&json!({"corrections": 1}))
                } else if *method == "POST" {
                    req.json(&json!({"image": base64_png()}))
                } else {
                    req
                };
                let r = req.send().await.unwrap();
                let status = r.status();
                let expected = match role {
                    Some(role) if allowed.contains(role) => {
                        assert!(
                            status.is_success(),
                            "{method} {path} as {role}: {status} {}",
                            r.text().await.unwrap_or_default()
                        );
                        continue;
                    }
                    Some(_) => StatusCode::FORBIDDEN,
                    None => StatusCode::UNAUTHORIZED,
                };
                assert_eq!(status, expected, "{method} {path} as {role:?}");
                if status == StatusCode::UNAUTHORIZED {
                    assert_eq!(r.headers()[reqwest::header::WWW_AUTHENTICATE], "Bearer");
                }
                let p = problem(r, expected).await;
                assert!(!p["detail"].as_str().unwrap().is_empty());
            }
        }
        // Signing out: every role may; the token stops working at once.
        for (role, token) in &tokens {
            let out = desk
                .http
                .post(desk.server.url("/api/v1/auth/logout"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(out.status(), StatusCode::NO_CONTENT, "{role:?}");
            let again = desk.get(Some(token), "/api/v1/access-log").await;
            assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        }
        let anon = desk
            .http
            .post(desk.server.url("/api/v1/auth/logout"))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
        desk.server.stop().await;
    }
}

fn base64_png() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(png("json"))
}

#[tokio::test]
async fn clerks_see_only_their_own_jobs_and_supervisors_all() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let a = desk.token("clerk-a", Role::Clerk).await;
        let b = desk.token("clerk-b", Role::Clerk).await;
        let sup = desk.token("sup", Role::Supervisor).await;
        let job = desk.new_job(&a).await;
        let batch: Value = desk.batch(&a, vec![png("one")]).await.json().await.unwrap();
        let batch = batch["batch_id"].as_str().unwrap();
        for path in [
            format!("/api/v1/verify/{job}"),
            format!("/api/v1/verify/{job}?reveal=true"),
            format!("/api/v1/verify/{job}/scan"),
            format!("/api/v1/verify/batch/{batch}"),
        ] {
            let p = problem(desk.get(Some(&b), &path).await, StatusCode::NOT_FOUND).await;
            assert_eq!(p["type"], "/problems/unknown-job", "{path}");
            assert_eq!(
                desk.get(Some(&a), &path).await.status(),
                StatusCode::OK,
                "{path}"
            );
            assert_eq!(
                desk.get(Some(&sup), &path).await.status(),
                StatusCode::OK,
                "{path}"
            );
        }
        let unknown = problem(
            desk.get(Some(&a), "/api/v1/verify/0123456789abcdef0123456789abcdef")
                .await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert!(
            unknown["detail"]
                .as_str()
                .unwrap()
                .contains("没有这个核验任务")
        );
        // Nothing was logged for the refused attempts.
        let aud = desk.token("aud", Role::Auditor).await;
        let log: Value = desk
            .get(Some(&aud), &format!("/api/v1/access-log?job_id={job}"))
            .await
            .json()
            .await
            .unwrap();
        let actors: Vec<&str> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["actor"].as_str().unwrap())
            .collect();
        assert!(
            !actors.contains(&desk.user("clerk-b").as_str()),
            "{actors:?}"
        );
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn a_verification_returns_the_report_then_shows_it_masked_and_logs_each_look() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let clerk = desk.token("clerk", Role::Clerk).await;
        let r = desk
            .verify_multipart(&clerk, png("front"), Some(png("back")))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let report: Value = r.json().await.unwrap();
        let job = report["job_id"].as_str().unwrap().to_string();
        assert_eq!(job.len(), 32);
        assert_eq!(report["document_type"], "id_card_front");
        assert_eq!(report["verdict"], "pass");
        assert_eq!(
            report["fields"]["id_number"]["value"], ID,
            "the uploader sees the full result"
        );
        assert_eq!(report["fields"]["name"]["confidence"], 0.97);
        assert_eq!(report["fields"]["name"]["box"][1][0], 200.0);
        assert_eq!(report["checks"][0]["passed"], true);
        assert_eq!(report["warnings"][0]["code"], "glare");
        assert_eq!(report["prefill"]["social-security-card"]["姓名"], NAME);

        // JSON with base64 works the same.
        let r = desk
            .verify_json(&clerk, json!({"image": base64_png(), "image_back": null}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["document_type"], "id_card_front");

        // Later looks are masked unless revealed.
        let shown: Value = desk
            .get(Some(&clerk), &format!("/api/v1/verify/{job}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown["masked"], true);
        assert_eq!(shown["status"], "done");
        assert_eq!(shown["has_back"], true);
        assert_eq!(shown["verdict"], "pass");
        assert_eq!(
            shown["report"]["fields"]["id_number"]["value"],
            "1101**********002X"
        );
        assert_eq!(shown["report"]["fields"]["name"]["value"], "张**");
        // A card's sex is personal data: masked like every personal field until revealed.
        assert_eq!(shown["report"]["fields"]["sex"]["value"], "*");
        assert!(!shown.to_string().contains(ID));
        let revealed: Value = desk
            .get(Some(&clerk), &format!("/api/v1/verify/{job}?reveal=true"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(revealed["masked"], false);
        assert_eq!(revealed["report"]["fields"]["id_number"]["value"], ID);

        // The scans come back decrypted, not cacheable.
        for (side, marker) in [("", "front"), ("?side=back", "back")] {
            let r = desk
                .get(Some(&clerk), &format!("/api/v1/verify/{job}/scan{side}"))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()[reqwest::header::CONTENT_TYPE], "image/png");
            assert_eq!(r.headers()[reqwest::header::CACHE_CONTROL], "no-store");
            assert_eq!(r.bytes().await.unwrap().to_vec(), png(marker));
        }
        let bad_reveal = desk
            .get(Some(&clerk), &format!("/api/v1/verify/{job}?reveal=maybe"))
            .await;
        let p = problem(bad_reveal, StatusCode::BAD_REQUEST).await;
        assert!(
            p["detail"].as_str().unwrap().contains("查询参数有误"),
            "{p}"
        );
        let bad_side = desk
            .get(
                Some(&clerk),
                &format!("/api/v1/verify/{job}/scan?side=left"),
            )
            .await;
        problem(bad_side, StatusCode::UNPROCESSABLE_ENTITY).await;

        // The access log: who did what to which job, newest first.
        let aud = desk.token("aud", Role::Auditor).await;
        let log: Value = desk
            .get(Some(&aud), &format!("/api/v1/access-log?job_id={job}"))
            .await
            .json()
            .await
            .unwrap();
        let mut actions: Vec<&str> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["actor"], desk.user("clerk"));
                assert_eq!(e["role"], "clerk");
                assert_eq!(e["job_id"], job);
                assert!(e["at"].as_i64().unwrap() > 1_700_000_000);
                // `?reveal=true` shows every field: no one field is named (the clerk page's
                // one-field reveals are, in tests/clerk_page.rs).
                assert!(e["field"].is_null(), "{e}");
                e["action"].as_str().unwrap()
            })
            .collect();
        actions.sort();
        assert_eq!(
            actions,
            ["create", "reveal_field", "view_scan", "view_scan"]
        );
        let by_actor: Value = desk
            .get(
                Some(&aud),
                &format!("/api/v1/access-log?actor={}&limit=2", desk.user("clerk")),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(by_actor["entries"].as_array().unwrap().len(), 2);
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn bad_uploads_get_specific_problems() {
    for db in common::databases() {
        let desk = start(db, true, |c| c.scans.max_upload_bytes = 2000).await;
        let clerk = desk.token("clerk", Role::Clerk).await;
        let cases: Vec<(reqwest::Response, StatusCode, &str)> = vec![
            (
                desk.verify_multipart(&clerk, b"%PDF-1.7 not an image".to_vec(), None)
                    .await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "不是图片",
            ),
            (
                desk.verify_multipart(&clerk, Vec::new(), None).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "空的",
            ),
            (
                desk.verify_multipart(&clerk, png(&"x".repeat(3000)), None)
                    .await,
                StatusCode::PAYLOAD_TOO_LARGE,
                "太大",
            ),
            (
                desk.verify_multipart(&clerk, png(&"x".repeat(100_000)), None)
                    .await,
                StatusCode::PAYLOAD_TOO_LARGE,
                "太大",
            ),
            (
                desk.verify_json(&clerk, json!({"image": "A".repeat(100_000)}))
                    .await,
                StatusCode::PAYLOAD_TOO_LARGE,
                "太大",
            ),
            (
                desk.verify_multipart(&clerk, png("front"), Some(b"GIF89a".to_vec()))
                    .await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "不支持 GIF 格式",
            ),
            (
                desk.verify_json(&clerk, json!({"image": "@@not base64@@"}))
                    .await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "base64",
            ),
            (
                desk.verify_json(&clerk, json!({"picture": base64_png()}))
                    .await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "multipart/form-data",
            ),
            (
                desk.verify_json(&clerk, json!({"image": ""})).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "空的",
            ),
            (
                desk.http
                    .post(desk.server.url("/api/v1/verify"))
                    .bearer_auth(&clerk)
                    .multipart(Form::new().part("other", Part::bytes(png("f")).file_name("f.png")))
                    .send()
                    .await
                    .unwrap(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "缺少图片",
            ),
            (
                desk.verify_multipart(&clerk, png("UNREADABLE"), None).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "无法识别证件",
            ),
            (
                desk.verify_multipart(&clerk, png("FAIL"), None).await,
                StatusCode::INTERNAL_SERVER_ERROR,
                "稍后再试",
            ),
            (
                desk.batch(&clerk, vec![png("ok"); xiaoban::desk::MAX_BATCH + 1])
                    .await,
                StatusCode::PAYLOAD_TOO_LARGE,
                "最多",
            ),
            (
                desk.batch(&clerk, vec![png("ok"), b"plain text".to_vec()])
                    .await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "不是图片",
            ),
            (
                desk.batch(&clerk, vec![]).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "空的",
            ),
        ];
        for (i, (r, status, needle)) in cases.into_iter().enumerate() {
            assert_eq!(r.status(), status, "case {i}");
            let p = problem(r, status).await;
            let detail = p["detail"].as_str().unwrap();
            assert!(detail.contains(needle), "case {i}: {detail}");
            assert!(!p.to_string().contains(ID), "case {i}: {p}");
        }
        desk.server.stop().await;
    }
}

/// A TIFF (little-endian header, one empty directory): a real image format, not one intake
/// decodes.
fn tiff() -> Vec<u8> {
    let mut v = b"II*\0".to_vec();
    v.extend_from_slice(&8u32.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    v
}

#[tokio::test]
async fn a_tiff_gets_the_same_answer_at_upload_as_at_intake() {
    use base64::Engine as _;
    // Intake, which reads every stored job, refuses a TIFF by name.
    let at_intake =
        xiaoban::photo::intake(&tiff(), &xiaoban::photo::IntakeLimits::default()).unwrap_err();
    assert_eq!(
        at_intake,
        xiaoban::photo::IntakeError::UnsupportedFormat {
            format: "TIFF".into()
        }
    );
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let clerk = desk.token("clerk", Role::Clerk).await;
        // So does the upload, alone, as a back image and in a batch: the same words, before
        // anything is stored.
        for r in [
            desk.verify_multipart(&clerk, tiff(), None).await,
            desk.verify_multipart(&clerk, png("front"), Some(tiff()))
                .await,
            desk.verify_json(
                &clerk,
                json!({"image": base64::engine::general_purpose::STANDARD.encode(tiff())}),
            )
            .await,
            desk.batch(&clerk, vec![png("ok"), tiff()]).await,
        ] {
            let p = problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
            assert_eq!(p["type"], "/problems/unsupported-image-format", "{p}");
            assert_eq!(p["detail"], at_intake.to_string(), "{p}");
        }
        // No job was sealed: nothing queued, and the access log has no upload.
        assert_eq!(desk.store.claimable_jobs().await.unwrap(), 0);
        let aud = desk.token("auditor", Role::Auditor).await;
        let log: Value = desk
            .get(
                Some(&aud),
                &format!("/api/v1/access-log?actor={}", desk.user("clerk")),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(log["entries"], json!([]), "{log}");
        // An image intake decodes is taken, and its scan is served with its own type.
        let job = desk.new_job(&clerk).await;
        let scan = desk
            .get(Some(&clerk), &format!("/api/v1/verify/{job}/scan"))
            .await;
        assert_eq!(scan.status(), StatusCode::OK);
        assert_eq!(scan.headers()[reqwest::header::CONTENT_TYPE], "image/png");
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn without_the_ocr_models_verification_says_how_to_get_them() {
    let desk = start(None, false, |_| {}).await;
    let health: Value = desk.get(None, "/healthz").await.json().await.unwrap();
    assert_eq!(health["verification"]["available"], false);
    let hint = health["verification"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("xiaoban models fetch pp-ocrv6 && xiaoban models fetch onnxruntime"),
        "{hint}"
    );
    let clerk = desk.token("clerk", Role::Clerk).await;
    let r = desk.verify_multipart(&clerk, png("f"), None).await;
    assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
    let p = problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(p["type"], "/problems/verification-unavailable");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("xiaoban models fetch pp-ocrv6 && xiaoban models fetch onnxruntime")
    );
    let p = problem(
        desk.batch(&clerk, vec![png("f")]).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("pp-ocrv6"));
    // Roles are still checked first.
    let aud = desk.token("aud", Role::Auditor).await;
    problem(
        desk.verify_multipart(&aud, png("f"), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    desk.server.stop().await;
}

#[tokio::test]
async fn sign_in_is_throttled_and_does_not_tell_which_part_was_wrong() {
    for db in common::databases() {
        // The shipped address limit on SQLite, whose database is this test's own. (The test
        // configuration raises it: on PostgreSQL every test shares the database and signs in
        // from 127.0.0.1; tests/hardening.rs checks the address limit there behind a proxy.)
        let own_database = db.is_none();
        let desk = start(db, true, |c| {
            if own_database {
                c.limits.sign_in_attempts_per_address = 20;
            }
        })
        .await;
        let name = desk.add("clerk", Role::Clerk).await;
        let wrong_password = desk.login(&name, "wrong password").await;
        let unknown_user = desk.login(&desk.user("nobody"), PASSWORD).await;
        // Every problem names its own request; the rest of the answer must be the same.
        let answer = |mut p: Value| {
            p.as_object_mut().unwrap().remove("request_id");
            p
        };
        let a = answer(problem(wrong_password, StatusCode::UNAUTHORIZED).await);
        let b = answer(problem(unknown_user, StatusCode::UNAUTHORIZED).await);
        assert_eq!(
            a, b,
            "the same answer for a wrong password and an unknown user"
        );
        // A disabled account answers the same too.
        let off = desk.add("off", Role::Clerk).await;
        Accounts::new(desk.store.clone())
            .disable(&off)
            .await
            .unwrap();
        assert_eq!(
            answer(problem(desk.login(&off, PASSWORD).await, StatusCode::UNAUTHORIZED).await),
            a
        );

        // Five failures lock the account, even for the right password.
        for _ in 0..3 {
            problem(
                desk.login(&name, "still wrong").await,
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }
        let r = desk.login(&name, "fifth wrong").await;
        assert!(r.headers().contains_key(reqwest::header::RETRY_AFTER));
        let p = problem(r, StatusCode::TOO_MANY_REQUESTS).await;
        assert!(p["detail"].as_str().unwrap().contains("分钟后再试"));
        problem(
            desk.login(&name, PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
        // An unknown name locks the same way, so locking does not reveal who exists.
        for _ in 0..4 {
            desk.login(&desk.user("ghost"), "x").await;
        }
        problem(
            desk.login(&desk.user("ghost"), "x").await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
        // Other accounts still sign in from this address until it has 20 failures.
        let other = desk.add("other", Role::Supervisor).await;
        assert_eq!(desk.login(&other, PASSWORD).await.status(), StatusCode::OK);
        if !own_database {
            desk.server.stop().await;
            continue;
        }
        for i in 0..10 {
            desk.login(&desk.user(&format!("spray{i}")), "x").await;
        }
        problem(
            desk.login(&other, PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn a_disabled_or_reset_account_loses_its_tokens() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let accounts = Accounts::new(desk.store.clone());
        let name = desk.add("clerk", Role::Clerk).await;
        let token = |r: Value| r["token"].as_str().unwrap().to_string();
        let t1 = token(desk.login(&name, PASSWORD).await.json().await.unwrap());
        assert_eq!(
            desk.get(Some(&t1), "/api/v1/verify/batch/none")
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        accounts
            .reset_password(&name, "a new password")
            .await
            .unwrap();
        assert_eq!(
            desk.get(Some(&t1), "/api/v1/verify/batch/none")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        problem(desk.login(&name, PASSWORD).await, StatusCode::UNAUTHORIZED).await;
        let t2 = token(
            desk.login(&name, "a new password")
                .await
                .json()
                .await
                .unwrap(),
        );
        accounts.disable(&name).await.unwrap();
        assert_eq!(
            desk.get(Some(&t2), "/api/v1/verify/batch/none")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn a_batch_is_read_in_the_background_and_reports_progress() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let clerk = desk.token("clerk", Role::Clerk).await;
        let r = desk
            .batch(
                &clerk,
                vec![png("SLOW-1"), png("UNREADABLE"), png("SLOW-2")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let started: Value = r.json().await.unwrap();
        assert_eq!(started["total"], 3);
        let id = started["batch_id"].as_str().unwrap().to_string();
        let first: Value = desk
            .get(Some(&clerk), &format!("/api/v1/verify/batch/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(first["total"], 3);
        assert!(
            first["done"].as_u64().unwrap() < 3,
            "the reading is not done before the answer"
        );
        let done = desk.wait_batch(&clerk, &id).await;
        let jobs = done["jobs"].as_array().unwrap();
        assert_eq!(jobs.len(), 3);
        let statuses: Vec<&str> = jobs.iter().map(|j| j["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["done", "failed", "done"]);
        assert_eq!(jobs[0]["verdict"], "pass");
        assert_eq!(
            jobs[0]["report"]["fields"]["id_number"]["value"],
            "1101**********002X"
        );
        let error = jobs[1]["error"].as_str().unwrap();
        assert!(error.contains("没有找到证件边框"), "{error}");
        assert!(!done.to_string().contains(ID), "{done}");
        // Each job of the batch is a job like any other.
        let job = jobs[2]["job_id"].as_str().unwrap();
        let scan = desk
            .get(Some(&clerk), &format!("/api/v1/verify/{job}/scan"))
            .await;
        assert_eq!(scan.bytes().await.unwrap().to_vec(), png("SLOW-2"));
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn identity_numbers_stay_out_of_logs_problems_and_the_stored_records() {
    for db in common::databases() {
        let sqlite = db.is_none();
        let desk = start(db, true, |_| {}).await;
        let clerk = desk.token("clerk", Role::Clerk).await;
        let other = desk.token("other", Role::Clerk).await;
        let job = desk.new_job(&clerk).await;
        desk.get(Some(&clerk), &format!("/api/v1/verify/{job}?reveal=true"))
            .await;
        desk.get(Some(&clerk), &format!("/api/v1/verify/{job}/scan"))
            .await;
        let mut problems = Vec::new();
        for r in [
            desk.verify_multipart(&clerk, png("UNREADABLE"), None).await,
            desk.verify_multipart(&clerk, png("FAIL"), None).await,
            desk.get(Some(&other), &format!("/api/v1/verify/{job}?reveal=true"))
                .await,
            desk.get(Some(&other), &format!("/api/v1/verify/{job}/scan"))
                .await,
        ] {
            assert!(!r.status().is_success());
            problems.push(r.text().await.unwrap());
        }
        for p in &problems {
            assert!(!p.contains(ID) && !p.contains(NAME), "{p}");
        }
        let batch: Value = desk
            .batch(&clerk, vec![png("UNREADABLE"), png("b")])
            .await
            .json()
            .await
            .unwrap();
        desk.wait_batch(&clerk, batch["batch_id"].as_str().unwrap())
            .await;

        // The stored records: sealed, the plaintext nowhere in them.
        let sealed = desk.store.job_sealed(&job).await.unwrap().unwrap();
        for blob in [
            sealed.report.unwrap(),
            sealed.scan_front.unwrap(),
            sealed.scan_back.unwrap(),
        ] {
            assert!(!contains(&blob, ID.as_bytes()));
            assert!(!contains(&blob, b"scan-bytes"));
            assert!(!contains(&blob, NAME.as_bytes()));
        }
        if sqlite {
            let data = desk.server.data.path().to_path_buf();
            tokio::time::sleep(Duration::from_millis(100)).await;
            for f in ["xiaoban.db", "xiaoban.db-wal"] {
                if let Ok(bytes) = std::fs::read(data.join(f)) {
                    assert!(
                        !contains(&bytes, ID.as_bytes()),
                        "{f} holds the identity number"
                    );
                    assert!(!contains(&bytes, NAME.as_bytes()), "{f} holds the name");
                }
            }
        }
        desk.server.stop().await;
    }
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).to_string();
    assert!(logs.contains("document verified"), "the logs were captured");
    assert!(!logs.contains(ID), "an identity number in the logs");
    assert!(!logs.contains(NAME), "a name in the logs");
}

#[tokio::test]
async fn after_the_retention_period_only_the_masked_outcome_remains() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let sup = desk.token("sup", Role::Supervisor).await;
        let job = desk.new_job(&sup).await;
        let fresh = desk.new_job(&sup).await;
        desk.store.backdate_job(&job, 31 * 86_400).await.unwrap();
        let key = xiaoban::store::seal::ScanKey::load_or_create(desk.server.data.path()).unwrap();
        let purger = xiaoban::desk::Desk::new(
            desk.store.clone(),
            &key,
            desk.server.config.scans.clone(),
            (
                None,
                xiaoban::desk::Availability {
                    available: false,
                    hint: None,
                },
            ),
        );
        assert!(purger.purge().await.unwrap() >= 1);
        let sealed = desk.store.job_sealed(&job).await.unwrap().unwrap();
        assert!(
            sealed.scan_front.is_none() && sealed.scan_back.is_none() && sealed.report.is_none()
        );
        let shown: Value = desk
            .get(Some(&sup), &format!("/api/v1/verify/{job}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown["purged"], true);
        assert_eq!(shown["verdict"], "pass");
        assert_eq!(shown["document_type"], "id_card_front");
        assert_eq!(
            shown["report"]["fields"]["id_number"]["value"],
            "1101**********002X"
        );
        for path in [
            format!("/api/v1/verify/{job}/scan"),
            format!("/api/v1/verify/{job}?reveal=true"),
        ] {
            let p = problem(desk.get(Some(&sup), &path).await, StatusCode::GONE).await;
            assert!(p["detail"].as_str().unwrap().contains("保存期限"), "{p}");
        }
        // The job uploaded today keeps its scans.
        let r = desk
            .get(Some(&sup), &format!("/api/v1/verify/{fresh}/scan"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        // The access log outlives the scans.
        let log: Value = desk
            .get(Some(&sup), &format!("/api/v1/access-log?job_id={job}"))
            .await
            .json()
            .await
            .unwrap();
        assert!(!log["entries"].as_array().unwrap().is_empty());
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn scans_are_sealed_with_the_configured_cipher_under_a_0600_key_file() {
    let desk = start(None, true, |c| {
        c.scans.cipher = xiaoban::config::ScanCipher::Sm4Gcm;
    })
    .await;
    let clerk = desk.token("clerk", Role::Clerk).await;
    let job = desk.new_job(&clerk).await;
    let sealed = desk.store.job_sealed(&job).await.unwrap().unwrap();
    let front = sealed.scan_front.unwrap();
    assert_eq!(
        xiaoban::store::seal::Sealer::cipher_of(&front),
        Some(xiaoban::config::ScanCipher::Sm4Gcm)
    );
    let key_file = xiaoban::store::seal::key_path(desk.server.data.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let r = desk
        .get(Some(&clerk), &format!("/api/v1/verify/{job}/scan"))
        .await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), png("front"));

    // A server with another key (its own data folder, the same database) cannot open what
    // this one sealed, and says so.
    let other_data = tempfile::tempdir().unwrap();
    let mut config = common::config(other_data.path(), None, None);
    config.database_url = desk.server.config.database_url();
    let other = common::start_with_reader(config, other_data, Some(Arc::new(ScriptedReader))).await;
    let http = common::client();
    let login: Value = http
        .post(other.url("/api/v1/auth/login"))
        .json(&json!({"username": desk.user("clerk"), "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    for path in [
        format!("/api/v1/verify/{job}/scan"),
        format!("/api/v1/verify/{job}?reveal=true"),
    ] {
        let r = http
            .get(other.url(&path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let p = problem(r, StatusCode::INTERNAL_SERVER_ERROR).await;
        assert_eq!(p["type"], "/problems/scan-key-mismatch");
        assert!(p["detail"].as_str().unwrap().contains("密钥"), "{p}");
    }
    other.stop().await;
    desk.server.stop().await;
}

#[tokio::test]
async fn the_user_command_adds_resets_and_disables_accounts() {
    for db in common::databases() {
        let data = tempfile::tempdir().unwrap();
        let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let name = format!("cli-{tag}");
        let run = |args: &[&str], stdin: &str| {
            use std::io::Write;
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xiaoban"));
            cmd.arg("--data-dir").arg(data.path());
            if let Some(url) = &db {
                cmd.arg("--database-url").arg(url);
            }
            let mut child = cmd
                .args(args)
                .env("XIAOBAN_LOG", "warn")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(stdin.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let (ok, out) = run(
            &["user", "add", &name, "--role", "clerk"],
            "first password\n",
        );
        assert!(ok, "{out}");
        assert!(out.contains("已添加用户"), "{out}");
        let (ok, out) = run(
            &["user", "add", &name, "--role", "clerk"],
            "first password\n",
        );
        assert!(!ok && out.contains("已存在"), "{out}");
        let (ok, _) = run(
            &["user", "add", &format!("x-{tag}"), "--role", "root"],
            "first password\n",
        );
        assert!(!ok, "an unknown role is refused");
        let (ok, out) = run(
            &["user", "add", &format!("y-{tag}"), "--role", "auditor"],
            "short\n",
        );
        assert!(!ok && out.contains("至少 8 个字符"), "{out}");

        let config = common::config(data.path(), None, db.clone());
        let server = common::start_with_reader(config, tempfile::tempdir().unwrap(), None).await;
        let http = common::client();
        let login = |password: &'static str| {
            let http = http.clone();
            let url = server.url("/api/v1/auth/login");
            let name = name.clone();
            async move {
                http.post(url)
                    .json(&json!({"username": name, "password": password}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(login("first password").await, StatusCode::OK);
        let (ok, out) = run(&["user", "reset", &name], "second password\r\n");
        assert!(ok, "{out}");
        assert_eq!(login("first password").await, StatusCode::UNAUTHORIZED);
        assert_eq!(login("second password").await, StatusCode::OK);
        let (ok, out) = run(&["user", "disable", &name], "");
        assert!(ok, "{out}");
        assert_eq!(login("second password").await, StatusCode::UNAUTHORIZED);
        let (ok, out) = run(&["user", "disable", &format!("nobody-{tag}")], "");
        assert!(!ok && out.contains("没有用户"), "{out}");
        server.stop().await;
    }
}

/// Blocks every read until released, then fails it: a reader that never finishes in time.
struct GatedReader;

static GATE: (Mutex<bool>, std::sync::Condvar) = (Mutex::new(false), std::sync::Condvar::new());

impl DocumentReader for GatedReader {
    fn read(&self, _: &[u8], _: Option<&[u8]>, _: NaiveDate) -> Result<Report, ReadError> {
        let (lock, cvar) = &GATE;
        let open = lock.lock().unwrap();
        let _open = cvar
            .wait_timeout_while(open, Duration::from_secs(30), |open| !*open)
            .unwrap();
        Err(ReadError::Unreadable("released".into()))
    }
}

#[tokio::test]
async fn jobs_a_restart_left_pending_are_read_on_the_next_start() {
    captured_logs();
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(data.path(), None, None);
    // The first server cannot finish its reading: on stop it waits this long, then gives
    // the jobs back to the queue.
    config.shutdown_deadline_secs = 1;
    let first = common::start_with_reader(config.clone(), data, Some(Arc::new(GatedReader))).await;
    let desk = Desk {
        store: Store::connect(&first.config.database_url()).await.unwrap(),
        server: first,
        http: common::client(),
        tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
    };
    let clerk = desk.token("clerk", Role::Clerk).await;
    let started: Value = desk
        .batch(&clerk, vec![png("a"), png("b")])
        .await
        .json()
        .await
        .unwrap();
    let batch = started["batch_id"].as_str().unwrap().to_string();
    let progress: Value = desk
        .get(Some(&clerk), &format!("/api/v1/verify/batch/{batch}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(progress["done"], 0);

    let Desk {
        server: mut first,
        http,
        ..
    } = desk;
    // The data folder outlives the first server (stop drops the server's copy).
    let data = std::mem::replace(&mut first.data, tempfile::tempdir().unwrap());
    first.stop().await;
    // A second server on the same data folder and database, with a working reader.
    let second = common::start_with_reader(config, data, Some(Arc::new(ScriptedReader))).await;
    let mut finished = Value::Null;
    for _ in 0..200 {
        let v: Value = http
            .get(second.url(&format!("/api/v1/verify/batch/{batch}")))
            .bearer_auth(&clerk)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["done"] == 2 {
            finished = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        finished["done"], 2,
        "the pending jobs were read: {finished}"
    );
    for job in finished["jobs"].as_array().unwrap() {
        assert_eq!(job["verdict"], "pass");
    }
    *GATE.0.lock().unwrap() = true;
    GATE.1.notify_all();
    second.stop().await;
}

/// Corrections over the API, as a service platform's own clerk screen makes them: the checks
/// and the verdict run again (a corrected document is `review` at best), a second person
/// confirms (four eyes), each step is refused to whom it should be, and the access log names
/// the field, never its value.
#[tokio::test]
async fn corrections_over_the_api_are_checked_again_and_confirmed_by_a_second_person() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let clerk = desk.token("clerk", Role::Clerk).await;
        let other = desk.token("other", Role::Clerk).await;
        let sup = desk.token("sup", Role::Supervisor).await;
        let aud = desk.token("aud", Role::Auditor).await;
        let r = desk.verify_multipart(&clerk, png("front"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let job = r.json::<Value>().await.unwrap()["job_id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/api/v1/verify/{job}/corrections");

        let before: Value = desk.get(Some(&clerk), &path).await.json().await.unwrap();
        assert_eq!(before["corrections"], json!([]));
        assert_eq!(before["job"]["job_id"], job.as_str());

        // Refused values, each with its own problem.
        let p = problem(
            desk.correct(&clerk, &job, "nickname", "小张").await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(p["type"], "/problems/unknown-field");
        let p = problem(
            desk.correct(&clerk, &job, "birth_date", "1949年12月31日")
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains("YYYY-MM-DD"), "{p}");
        // Control characters are refused wherever they stand, as the OpenAPI document's
        // pattern says: a line break at the end too, which trimming would have hidden.
        for value in ["张\u{7}三", "张三\n", "\t张三", "张三\u{85}"] {
            let p = problem(
                desk.correct(&clerk, &job, "name", value).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            assert_eq!(p["type"], "/problems/invalid-field-value", "{value:?}");
            assert!(p["detail"].as_str().unwrap().contains("控制字符"), "{p}");
        }
        problem(
            desk.correct(&clerk, &job, "name", &"张".repeat(2001)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let not_json = desk
            .http
            .post(desk.server.url(&path))
            .bearer_auth(&clerk)
            .body("field=sex&value=女")
            .send()
            .await
            .unwrap();
        problem(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        let broken = desk
            .http
            .post(desk.server.url(&path))
            .bearer_auth(&clerk)
            .header("content-type", "application/json")
            .body("{\"field\": ")
            .send()
            .await
            .unwrap();
        problem(broken, StatusCode::BAD_REQUEST).await;
        // Not theirs, not their role, not signed in.
        problem(
            desk.correct(&other, &job, "sex", "女").await,
            StatusCode::NOT_FOUND,
        )
        .await;
        problem(desk.get(Some(&other), &path).await, StatusCode::NOT_FOUND).await;
        problem(
            desk.correct(&aud, &job, "sex", "女").await,
            StatusCode::FORBIDDEN,
        )
        .await;
        let none: Value = desk.get(Some(&clerk), &path).await.json().await.unwrap();
        assert_eq!(
            none["corrections"],
            json!([]),
            "refused corrections left no trace"
        );

        // The scripted card reads 男 for a number whose sequence code is even (GB 11643
        // §4.3: female): the reading's verdict stands until the clerk corrects the sex.
        let r = desk.correct(&clerk, &job, "sex", "女").await;
        assert_eq!(r.status(), StatusCode::OK);
        let after: Value = r.json().await.unwrap();
        let edits = after["corrections"].as_array().unwrap();
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0]["field"], "sex");
        assert_eq!(edits[0]["actor"], desk.user("clerk"));
        assert_eq!(after["job"]["masked"], true);
        // A corrected document is review at best (verify::recheck, point 1).
        assert_eq!(after["job"]["verdict"], "review", "{after}");
        let sex_check = after["job"]["report"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["rule"] == "id_card.sex_matches_number")
            .cloned();
        assert_eq!(sex_check.map(|c| c["passed"].clone()), Some(json!(true)));
        let full: Value = desk
            .get(Some(&clerk), &format!("/api/v1/verify/{job}?reveal=true"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(full["report"]["fields"]["sex"]["value"], "女");
        assert_eq!(full["report"]["fields"]["sex"]["edited"], true);

        // Four eyes: not the clerk (not a supervisor), not a stale count, then the
        // supervisor; a supervisor's own correction is confirmed by someone else.
        problem(desk.confirm(&clerk, &job, 1).await, StatusCode::FORBIDDEN).await;
        let p = problem(desk.confirm(&sup, &job, 0).await, StatusCode::CONFLICT).await;
        assert_eq!(p["type"], "/problems/corrections-changed");
        // The count is a JSON number without a fraction, however written: 1.5 is refused,
        // 1.0 is 1 (the document's `integer` takes both spellings).
        let confirm_raw = |count: &'static str| {
            desk.http
                .post(desk.server.url(&format!("/api/v1/verify/{job}/confirm")))
                .bearer_auth(&sup)
                .header("content-type", "application/json")
                .body(format!("{{\"corrections\": {count}}}"))
                .send()
        };
        let p = problem(
            confirm_raw("1.5").await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(p["type"], "/problems/invalid-body");
        let p = problem(confirm_raw("1e30").await.unwrap(), StatusCode::CONFLICT).await;
        assert_eq!(p["type"], "/problems/corrections-changed");
        let r = confirm_raw("1.0").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let confirmed: Value = r.json().await.unwrap();
        assert_ne!(confirmed["job"]["verdict"], "fail", "{confirmed}");
        let full: Value = desk
            .get(Some(&sup), &format!("/api/v1/verify/{job}?reveal=true"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(full["report"]["confirmed"]["by"], desk.user("sup"));
        let r = desk.correct(&sup, &job, "name", "张三").await;
        assert_eq!(r.status(), StatusCode::OK);
        let again: Value = r.json().await.unwrap();
        assert_eq!(
            again["job"]["verdict"], "review",
            "a new correction undoes the confirmation"
        );
        let p = problem(desk.confirm(&sup, &job, 2).await, StatusCode::FORBIDDEN).await;
        assert_eq!(p["type"], "/problems/own-correction");

        // The access log names each corrected field and the confirmation, never a value.
        let log: Value = desk
            .get(Some(&aud), &format!("/api/v1/access-log?job_id={job}"))
            .await
            .json()
            .await
            .unwrap();
        let entries = log["entries"].as_array().unwrap();
        let edits: Vec<_> = entries
            .iter()
            .filter(|e| e["action"] == "edit_field")
            .map(|e| (e["actor"].as_str().unwrap(), e["field"].as_str().unwrap()))
            .collect();
        let (c, s) = (desk.user("clerk"), desk.user("sup"));
        assert_eq!(edits, [(s.as_str(), "name"), (c.as_str(), "sex")]);
        assert!(
            entries
                .iter()
                .any(|e| e["action"] == "confirm_edits" && e["actor"] == s.as_str())
        );
        let text = log.to_string();
        assert!(!text.contains("张三\"") && !text.contains("女"), "{text}");
        desk.server.stop().await;
    }
}

/// A scripted reader's report, from the JSON a stored report has.
fn report(v: Value) -> Report {
    serde_json::from_value(v).expect("a report")
}
