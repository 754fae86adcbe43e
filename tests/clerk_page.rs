//! The clerk page (`/clerk`) end to end over HTTP, as a browser without JavaScript uses it:
//! cookie sign-in, CSRF on every form, upload by a plain multipart form, the masked result,
//! reveals (with the field's name) and corrections recorded, corrections checked again and
//! confirmed by a second person, pre-fill downloads, who sees which job, and the route × role
//! table. The document reader is scripted (the OCR pipeline has tests of its own;
//! tests/browser runs the page on the real models); `AnalysingReader` scripts only the OCR
//! lines and runs the real analysis on them.

use crate::common;

use chrono::NaiveDate;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use xiaoban::account::{Accounts, Role};
use xiaoban::desk::{DocumentReader, ReadError};
use xiaoban::store::Store;
use xiaoban::verify::Report;

const ID: &str = "11010519491231002X";
const NAME: &str = "张三丰";
const ADDRESS: &str = "示例市和平区解放路88号";
const PASSWORD: &str = "correct horse battery";

fn png(marker: &str) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(format!("scan-bytes:{marker}").as_bytes());
    v
}

/// Reads every image as the front and back of one identity card, in the shape of
/// `verify::Report` (frames included, pre-fill records as the forms/ mappings make them).
struct ScriptedReader;

impl DocumentReader for ScriptedReader {
    fn read(&self, _: &[u8], _: Option<&[u8]>, _: NaiveDate) -> Result<Report, ReadError> {
        let q =
            |x: f32, y: f32| json!([[x, y], [x + 300.0, y], [x + 300.0, y + 30.0], [x, y + 30.0]]);
        Ok(report(json!({
            "document_type": "id_card_front",
            "fields": {
                "name": {"value": NAME, "confidence": 0.97, "box": q(120.0, 50.0)},
                "sex": {"value": "男", "confidence": 0.99, "box": q(120.0, 110.0)},
                "birth_date": {"value": "1949-12-31", "confidence": 0.96, "box": q(120.0, 170.0)},
                "address": {"value": ADDRESS, "confidence": 0.62, "box": q(120.0, 230.0)},
                "id_number": {"value": ID, "confidence": 0.99, "box": q(260.0, 420.0)},
                "valid_to": {"value": "长期", "confidence": 0.95, "box": q(150.0, 440.0)}
            },
            "checks": [
                {"rule": "gb11643.check_character", "passed": true, "detail": "公民身份号码校验码正确（GB 11643）"},
                {"rule": "id_card.birth_date_matches", "passed": false, "detail": "印制的出生日期与号码中的不一致（GB 11643）"}
            ],
            "warnings": [
                {"code": "glare", "detail": "右上角反光，遮挡了文字"},
                {"code": "not_checked", "detail": "未检查是否为复印件或翻拍"}
            ],
            "verdict": "fail",
            "reasons": ["出生日期与公民身份号码不一致"],
            "prefill": {
                "social-security-card": {"姓名": NAME, "公民身份号码": ID, "户籍地址": ADDRESS, "出生日期": "19491231", "性别": "1-男"}
            },
            "frames": [
                {"image": "front", "document_type": "id_card_front", "width": 856, "height": 540, "photo": [1712, 1080],
                 "corners": [[0.0, 0.0], [1712.0, 0.0], [1712.0, 1080.0], [0.0, 1080.0]]},
                {"image": "back", "document_type": "id_card_back", "width": 856, "height": 540, "photo": [856, 540],
                 "corners": [[0.0, 0.0], [856.0, 0.0], [856.0, 540.0], [0.0, 540.0]]}
            ]
        })))
    }
}

/// Runs the real analysis (`verify::analyse`: fields, checks, verdict, pre-fill) on the OCR
/// lines of a card whose front prints the identity number the front image's bytes carry
/// (`png("number=…")`), as a man born 1990-03-07, issued 2016 for 20 years: only the OCR is
/// scripted.
struct AnalysingReader;

impl DocumentReader for AnalysingReader {
    fn read(&self, front: &[u8], _: Option<&[u8]>, today: NaiveDate) -> Result<Report, ReadError> {
        use xiaoban::verify::page::{line_at, page_of};
        use xiaoban::verify::{Forms, Settings, Side, analyse};
        let marker = String::from_utf8_lossy(front);
        let number = marker
            .split_once("number=")
            .map(|(_, n)| n.to_string())
            .ok_or_else(|| ReadError::Unreadable("no card".into()))?;
        let front = page_of(
            856,
            540,
            vec![
                line_at("姓名张三丰", 0.98, 60.0, 50.0, 125.0, 24.0),
                line_at("性别男民族汉", 0.97, 60.0, 110.0, 200.0, 24.0),
                line_at("出生1990年3月7日", 0.96, 60.0, 170.0, 250.0, 24.0),
                line_at("住址示例市和平区解放路88号", 0.95, 60.0, 230.0, 300.0, 24.0),
                line_at("公民身份号码", 0.99, 60.0, 420.0, 150.0, 24.0),
                line_at(&number, 0.99, 260.0, 418.0, 400.0, 30.0),
            ],
        );
        let back = page_of(
            856,
            540,
            vec![
                line_at("中华人民共和国", 0.99, 250.0, 60.0, 400.0, 40.0),
                line_at("居民身份证", 0.99, 250.0, 120.0, 400.0, 50.0),
                line_at("签发机关示例市公安局", 0.97, 150.0, 380.0, 300.0, 24.0),
                line_at(
                    "有效期限2016.05.01-2036.05.01",
                    0.96,
                    150.0,
                    440.0,
                    400.0,
                    24.0,
                ),
            ],
        );
        let side = |page| Side {
            page,
            image: None,
            document: None,
        };
        let forms = Forms::load(&common::repo().join("forms")).expect("forms");
        let report = analyse(
            side(&front),
            Some(side(&back)),
            today,
            &forms,
            &Settings::default(),
        );
        Ok(report)
    }
}

/// An identity number with its GB 11643 check character.
fn id_number(body: &str) -> String {
    format!(
        "{body}{}",
        xiaoban::ident::id_check_character(body).expect("17 digits")
    )
}

struct Desk {
    server: common::TestServer,
    store: Store,
    tag: String,
}

async fn start(
    db: Option<String>,
    reader: bool,
    tune: impl FnOnce(&mut xiaoban::config::Config),
) -> Desk {
    let reader: Option<Arc<dyn DocumentReader>> = reader.then(|| Arc::new(ScriptedReader) as _);
    start_reading(db, reader, tune).await
}

async fn start_reading(
    db: Option<String>,
    reader: Option<Arc<dyn DocumentReader>>,
    tune: impl FnOnce(&mut xiaoban::config::Config),
) -> Desk {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(data.path(), None, db);
    tune(&mut config);
    let server = common::start_with_reader(config, data, reader).await;
    let store = Store::connect(&server.config.database_url())
        .await
        .expect("store");
    Desk {
        server,
        store,
        tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
    }
}

impl Desk {
    async fn add(&self, base: &str, role: Role) -> String {
        let name = format!("{base}-{}", self.tag);
        Accounts::new(self.store.clone())
            .add_user(&name, role, PASSWORD)
            .await
            .expect("user added");
        name
    }

    fn browser(&self) -> Browser {
        Browser {
            http: common::client(),
            base: self.server.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    /// A browser signed in as a new user with `role`.
    async fn signed_in(&self, base: &str, role: Role) -> (Browser, String) {
        let name = self.add(base, role).await;
        let mut b = self.browser();
        let r = b.sign_in(&name, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        (b, name)
    }

    /// A job's access-log entries, as the store lists them.
    async fn entries(&self, job: &str) -> Vec<xiaoban::store::access_log::AccessEntry> {
        let q = xiaoban::store::access_log::AccessQuery {
            job_id: Some(job.to_string()),
            limit: 100,
            ..Default::default()
        };
        self.store.access_log(&q).await.unwrap()
    }

    async fn access_log(&self, job: &str) -> Vec<(String, String)> {
        self.entries(job)
            .await
            .into_iter()
            .map(|e| (e.actor, e.action))
            .collect()
    }

    /// A job's reveals and corrections: (action, field name).
    async fn field_accesses(&self, job: &str) -> Vec<(String, Option<String>)> {
        self.entries(job)
            .await
            .into_iter()
            .filter(|e| e.action == "reveal_field" || e.action == "edit_field")
            .map(|e| (e.action, e.field))
            .collect()
    }
}

/// A client that keeps cookies as a browser does (by name; the page sets few).
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header(COOKIE, self.cookie_header())
        };
        let r = req.send().await.expect("request");
        self.keep(&r);
        r
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn page(&mut self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().await.unwrap()
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn post_owned(&mut self, path: &str, form: Vec<(String, String)>) -> reqwest::Response {
        let req = self.http.post(format!("{}{path}", self.base)).form(&form);
        self.send(req).await
    }

    async fn post_multipart(&mut self, path: &str, form: Form) -> reqwest::Response {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .multipart(form);
        self.send(req).await
    }

    async fn sign_in(&mut self, name: &str, password: &str) -> reqwest::Response {
        let html = self.page("/clerk").await;
        let csrf = csrf_of(&html);
        self.post(
            "/clerk/login",
            &[("username", name), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// The CSRF token the desk's forms carry.
    async fn csrf(&mut self) -> String {
        csrf_of(&self.page("/clerk").await)
    }

    async fn upload(&mut self, csrf: &str, back: bool) -> reqwest::Response {
        let mut form = Form::new().text("csrf", csrf.to_string()).part(
            "image",
            Part::bytes(png("front"))
                .file_name("front.png")
                .mime_str("image/png")
                .unwrap(),
        );
        // A browser sends an empty part for a file input left empty.
        form = form.part(
            "image_back",
            if back {
                Part::bytes(png("back")).file_name("back.png")
            } else {
                Part::bytes(Vec::new()).file_name("")
            },
        );
        self.post_multipart("/clerk/upload", form).await
    }

    /// Uploads a card whose front image is `front` (and a back) and returns its job id.
    async fn upload_card(&mut self, front: Vec<u8>) -> String {
        let csrf = self.csrf().await;
        let form = Form::new()
            .text("csrf", csrf)
            .part("image", Part::bytes(front).file_name("front.png"))
            .part("image_back", Part::bytes(png("back")).file_name("back.png"));
        let r = self.post_multipart("/clerk/upload", form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        to.strip_prefix("/clerk/jobs/").unwrap().to_string()
    }

    /// Uploads a card and returns its job id (from the redirect to its page).
    async fn new_job(&mut self) -> String {
        let csrf = self.csrf().await;
        let r = self.upload(&csrf, true).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let to = r.headers()[LOCATION].to_str().unwrap().to_string();
        to.strip_prefix("/clerk/jobs/")
            .expect("redirect to the job page")
            .to_string()
    }
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("xiaoban_session="))
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_says_what_went_wrong() {
    let desk = start(None, true, |_| {}).await;
    let name = desk.add("clerk", Role::Clerk).await;
    let mut b = desk.browser();
    let html = b.page("/clerk").await;
    assert!(html.contains("工作人员登录") && html.contains(r#"type="password""#));
    assert!(
        b.cookies.contains_key("xiaoban_login"),
        "the sign-in form's token cookie"
    );

    let r = b.sign_in(&name, "wrong password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&r).is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("用户名或密码不正确。"), "{html}");
    assert!(
        html.contains(&format!(r#"value="{name}""#)),
        "the name is kept"
    );

    let r = b.sign_in(&name, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/clerk");
    let c = session_cookie(&r).expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/clerk", "Max-Age=43"] {
        assert!(c.contains(attr), "{attr} in {c}");
    }
    assert!(
        !c.contains("Secure"),
        "plain HTTP without a trusted proxy: {c}"
    );
    let html = b.page("/clerk").await;
    assert!(html.contains("退出登录") && html.contains(r#"action="/clerk/upload""#));
    assert!(html.contains(&name));

    // The cookie is not a bearer token for the API, and the API's token is not a cookie.
    let api = common::client()
        .get(desk.server.url("/api/v1/access-log"))
        .header(COOKIE, b.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // Signing out ends the session on the server, not only in the browser.
    let old = b.cookie_header();
    let csrf = b.csrf().await;
    let r = b.post("/clerk/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&r).unwrap().contains("Max-Age=0"));
    let again = common::client()
        .get(desk.server.url("/clerk/jobs/x"))
        .header(COOKIE, old)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );

    // Five failures lock the account, with a message saying how long.
    let mut b = desk.browser();
    for _ in 0..5 {
        b.sign_in(&name, "wrong password").await;
    }
    let r = b.sign_in(&name, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("登录失败次数过多，请 15 分钟后再试。")
    );
    desk.server.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_only_when_a_trusted_proxy_says_https() {
    for trusted in [false, true] {
        let desk = start(None, true, |c| {
            if trusted {
                c.limits.trusted_proxies = vec!["127.0.0.0/8".into()];
            }
        })
        .await;
        let name = desk.add("clerk", Role::Clerk).await;
        let mut b = desk.browser();
        let csrf = csrf_of(&b.page("/clerk").await);
        let req = b
            .http
            .post(desk.server.url("/clerk/login"))
            .header("x-forwarded-proto", "https")
            .form(&[
                ("username", name.as_str()),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ]);
        let r = b.send(req).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let c = session_cookie(&r).unwrap();
        assert_eq!(c.ends_with("; Secure"), trusted, "{c}");
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_wrong_csrf_token() {
    let desk = start(None, true, |_| {}).await;
    let (mut b, name) = desk.signed_in("clerk", Role::Clerk).await;
    let job = b.new_job().await;
    let forged = xiaoban::web::session::csrf_token("someone else's session");
    for csrf in ["", forged.as_str()] {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v: Vec<(&str, &str)> = extra.to_vec();
            if !csrf.is_empty() {
                v.push(("csrf", csrf));
            }
            v
        };
        let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/clerk/logout".into(), with(&[])),
            (
                format!("/clerk/jobs/{job}/reveal"),
                with(&[("field", "name")]),
            ),
            (format!("/clerk/jobs/{job}/reveal"), with(&[("field", "")])),
            (
                format!("/clerk/jobs/{job}/fields"),
                with(&[("field", "name"), ("value", "李四")]),
            ),
            (format!("/clerk/jobs/{job}/confirm"), with(&[])),
        ];
        for (path, form) in posts {
            let r = b.post(&path, &form).await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "POST {path} with {csrf:?}"
            );
            let html = r.text().await.unwrap();
            assert!(html.contains("CSRF 校验未通过"), "{html}");
            assert!(!html.contains(NAME), "nothing revealed");
        }
        let r = b.upload(csrf, false).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "upload with {csrf:?}");
        let form = Form::new()
            .text("csrf", csrf.to_string())
            .part("images", Part::bytes(png("b")).file_name("b.png"));
        let r = b.post_multipart("/clerk/batch", form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "batch with {csrf:?}");
    }
    // Nothing happened: still signed in, one upload, no reveal, no edit.
    let log = desk.access_log(&job).await;
    assert_eq!(log, vec![(name.clone(), "create".to_string())]);
    let home = b.page("/clerk").await;
    assert_eq!(home.matches("/clerk/jobs/").count(), 1, "one job only");
    assert!(desk.store.field_edits(&job).await.unwrap().is_empty());

    // The sign-in form: its token must match its cookie.
    let other = desk.add("other", Role::Clerk).await;
    let mut fresh = desk.browser();
    fresh.page("/clerk").await;
    let r = fresh
        .post(
            "/clerk/login",
            &[
                ("username", other.as_str()),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&r).is_none());
    let mut cookieless = desk.browser();
    let r = cookieless
        .post(
            "/clerk/login",
            &[
                ("username", other.as_str()),
                ("password", PASSWORD),
                ("csrf", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    desk.server.stop().await;
}

#[tokio::test]
async fn an_upload_without_javascript_shows_the_result_masked_until_revealed() {
    for db in common::databases() {
        let desk = start(db, true, |_| {}).await;
        let (mut b, name) = desk.signed_in("clerk", Role::Clerk).await;
        let job = b.new_job().await;
        let html = b.page(&format!("/clerk/jobs/{job}")).await;
        // Masked, with reveal buttons; the verdict, its reason, checks and warnings in Chinese.
        assert!(
            !html.contains(NAME) && !html.contains(ID) && !html.contains(ADDRESS),
            "{html}"
        );
        assert!(html.contains("张**") && html.contains("1101**********002X"));
        assert!(html.contains("结论：不通过") && html.contains("出生日期与公民身份号码不一致"));
        assert!(html.contains("公民身份号码校验码正确（GB 11643）"));
        assert!(html.contains("右上角反光") && html.contains("未检查的项目"));
        assert!(html.contains("识别置信度 62%，偏低"));
        assert!(html.contains("社会保障卡申领登记表"), "the form's title");
        assert!(html.contains("prefill?form=social-security-card&amp;format=csv"));
        // Field boxes drawn in the photo's pixels (front: a 2× photo of the page), the scan
        // itself not loaded until revealed.
        assert!(
            html.contains(r#"viewBox="0 0 1712 1080""#)
                && html.contains(r#"viewBox="0 0 856 540""#)
        );
        assert!(
            html.contains(r#"points="240.0,100.0 840.0,100.0 840.0,160.0 240.0,160.0""#),
            "{html}"
        );
        assert!(!html.contains("/scan?side="));
        assert_eq!(
            desk.access_log(&job).await.len(),
            1,
            "looking at the masked page is not logged"
        );

        // One field revealed: that one in full, in an edit box; the others stay masked.
        let csrf = csrf_of(&html);
        let r = b
            .post(
                &format!("/clerk/jobs/{job}/reveal"),
                &[("csrf", &csrf), ("field", "name")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"id="v-name" name="value" value="{NAME}""#)),
            "{html}"
        );
        assert!(!html.contains(ID) && !html.contains(ADDRESS));
        assert!(html.contains("此次查看已记入访问日志"));
        let log = desk.access_log(&job).await;
        assert!(
            log.contains(&(name.clone(), "reveal_field".into())),
            "{log:?}"
        );
        assert_eq!(
            desk.field_accesses(&job).await,
            [("reveal_field".to_string(), Some("name".to_string()))],
            "the field's name is logged"
        );
        // A name the report does not have: refused, nothing shown, nothing logged.
        let r = b
            .post(
                &format!("/clerk/jobs/{job}/reveal"),
                &[("csrf", &csrf), ("field", "salary")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(!r.text().await.unwrap().contains(NAME));
        assert_eq!(desk.field_accesses(&job).await.len(), 1);

        // Everything: values, pre-fill records and the scans, whose views are logged.
        let r = b
            .post(
                &format!("/clerk/jobs/{job}/reveal"),
                &[("csrf", &csrf), ("field", "")],
            )
            .await;
        let html = r.text().await.unwrap();
        assert!(html.contains(ID) && html.contains(ADDRESS) && html.contains("<dd>1-男</dd>"));
        assert!(html.contains(&format!(r#"href="/clerk/jobs/{job}/scan?side=front""#)));
        assert!(html.contains(&format!(r#"href="/clerk/jobs/{job}/scan?side=back""#)));
        let r = b.get(&format!("/clerk/jobs/{job}/scan?side=back")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(r.bytes().await.unwrap().as_ref(), png("back").as_slice());
        let log = desk.access_log(&job).await;
        assert_eq!(log.iter().filter(|(_, a)| a == "reveal_field").count(), 2);
        assert_eq!(log.iter().filter(|(_, a)| a == "view_scan").count(), 1);
        let reveals = desk.field_accesses(&job).await;
        assert_eq!(reveals.len(), 2);
        assert!(
            reveals.contains(&("reveal_field".to_string(), None)),
            "everything revealed: no one field"
        );

        // The access log names the field revealed (never its value), on the page and in the
        // API, for supervisors.
        let (mut sup, sup_name) = desk.signed_in("supervisor", Role::Supervisor).await;
        let page = sup.page(&format!("/clerk/access-log?job_id={job}")).await;
        assert!(page.contains(r#"<th scope="col">字段</th>"#), "{page}");
        assert!(
            page.contains("<td>显示个人信息</td><td>姓名/名称</td>")
                && page.contains("<td>显示个人信息</td><td>全部字段</td>"),
            "{page}"
        );
        assert!(!page.contains(NAME) && !page.contains(ID) && !page.contains(ADDRESS));
        let token = api_token(&desk, &sup_name).await;
        let api = api_get(&desk, &token, &format!("/api/v1/access-log?job_id={job}")).await;
        let reveals: Vec<&Value> = api["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "reveal_field")
            .collect();
        assert_eq!(reveals.len(), 2);
        assert!(reveals.iter().any(|e| e["field"] == "name"));
        assert!(reveals.iter().any(|e| e["field"].is_null()));
        assert!(!api.to_string().contains(NAME));

        // The desk lists the job with its verdict.
        let home = b.page("/clerk").await;
        assert!(home.contains(&format!("/clerk/jobs/{job}")) && home.contains("不通过"));
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn corrections_are_sealed_and_recorded_and_exports_carry_them() {
    let desk = start(None, true, |_| {}).await;
    let (mut b, name) = desk.signed_in("clerk", Role::Clerk).await;
    let job = b.new_job().await;
    let csrf = b.csrf().await;
    const CORRECTED: &str = "张三峰";
    let r = b
        .post(
            &format!("/clerk/jobs/{job}/fields"),
            &[("csrf", &csrf), ("field", "name"), ("value", CORRECTED)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        format!("/clerk/jobs/{job}?saved=name#f-name")
    );
    let html = b.page(&format!("/clerk/jobs/{job}?saved=name")).await;
    assert!(html.contains("已保存对“姓名”的修改"));
    assert!(html.contains("修改记录") && html.contains(&format!("{name} 修改了“姓名”")));
    assert!(html.contains("已人工修改"));
    assert!(
        !html.contains(CORRECTED),
        "the corrected value is masked too"
    );

    // Recorded as who, when, which field; the value only in the sealed report.
    let edits = desk.store.field_edits(&job).await.unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(
        (edits[0].actor.as_str(), edits[0].field.as_str()),
        (name.as_str(), "name")
    );
    let record = desk.store.job(&job).await.unwrap().unwrap();
    assert!(!record.outcome.as_deref().unwrap().contains(CORRECTED));
    let sealed = desk
        .store
        .job_sealed(&job)
        .await
        .unwrap()
        .unwrap()
        .report
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(CORRECTED));
    assert!(
        desk.access_log(&job)
            .await
            .contains(&(name.clone(), "edit_field".into()))
    );
    assert_eq!(
        desk.field_accesses(&job).await,
        [("edit_field".to_string(), Some("name".to_string()))]
    );

    // Exports follow the correction: JSON and CSV, page and API alike, each logged.
    let r = b
        .get(&format!(
            "/clerk/jobs/{job}/prefill?form=social-security-card&format=json"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".json")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["job_id"], job.as_str());
    let rec = &v["records"][0];
    assert_eq!(rec["form"], "social-security-card");
    assert_eq!(rec["title"], "社会保障卡申领登记表");
    assert_eq!(rec["fields"]["姓名"], CORRECTED);
    assert_eq!(rec["fields"]["公民身份号码"], ID);
    assert_eq!(rec["fields"]["出生日期"], "19491231");
    assert_eq!(rec["fields"]["证件有效期截止"], "长期");

    let token = api_token(&desk, &name).await;
    let r = common::client()
        .get(desk.server.url(&format!(
            "/api/v1/verify/{job}/prefill?form=social-security-card&format=csv"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "表单,字段,值");
    assert!(
        lines.contains(&format!("social-security-card,姓名,{CORRECTED}").as_str()),
        "{csv}"
    );
    assert!(lines.contains(&format!("social-security-card,公民身份号码,{ID}").as_str()));
    let r = common::client()
        .get(
            desk.server
                .url(&format!("/api/v1/verify/{job}/prefill?form=no-such-form")),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = common::client()
        .get(
            desk.server
                .url(&format!("/api/v1/verify/{job}/prefill?format=xml")),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let exports = desk
        .access_log(&job)
        .await
        .iter()
        .filter(|(_, a)| a == "export")
        .count();
    assert_eq!(exports, 2);

    // Bad corrections: an unknown field, a control character.
    let r = b
        .post(
            &format!("/clerk/jobs/{job}/fields"),
            &[("csrf", &csrf), ("field", "salary"), ("value", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("这个证件没有该字段"));
    let r = b
        .post(
            &format!("/clerk/jobs/{job}/fields"),
            &[("csrf", &csrf), ("field", "name"), ("value", "a\u{7}b")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A date typed another way would skip the checks that need it: refused, said how.
    let r = b
        .post(
            &format!("/clerk/jobs/{job}/fields"),
            &[
                ("csrf", &csrf),
                ("field", "birth_date"),
                ("value", "1949年12月31日"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("修改未保存") && html.contains("“出生日期”请按 YYYY-MM-DD 填写"),
        "{html}"
    );
    assert!(!html.contains("1949年12月31日"), "the value is not echoed");
    assert_eq!(desk.store.field_edits(&job).await.unwrap().len(), 1);
    desk.server.stop().await;
}

/// A bearer token for the API, signed in as `name`.
async fn api_token(desk: &Desk, name: &str) -> String {
    common::api_token(&common::client(), &desk.server.base, name, PASSWORD).await
}

async fn api_get(desk: &Desk, token: &str, path: &str) -> Value {
    let r = common::client()
        .get(desk.server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

/// Corrects one field by the page's form.
async fn correct(b: &mut Browser, job: &str, csrf: &str, field: &str, value: &str) {
    let r = b
        .post(
            &format!("/clerk/jobs/{job}/fields"),
            &[("csrf", csrf), ("field", field), ("value", value)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "correcting {field}");
}

/// The verdict section of a job page: its heading and reasons.
fn verdict_box(html: &str) -> &str {
    let at = html
        .find(r#"<section class="verdict-box"#)
        .expect("a verdict");
    let end = html[at..].find("</section>").unwrap();
    &html[at..at + end]
}

// GB 11643 (check character, birth date, sex parity) run again on corrected fields; the
// verdict and the pre-fill records follow, over the page's forms and the JSON API.
#[tokio::test]
async fn a_correction_runs_the_checks_again_and_the_verdict_follows() {
    for db in common::databases() {
        let desk = start_reading(db, Some(Arc::new(AnalysingReader)), |_| {}).await;
        let (mut b, name) = desk.signed_in("clerk", Role::Clerk).await;
        let token = api_token(&desk, &name).await;
        let good = id_number("11010519900307003");
        // OCR-B 5 read as 6: the check character fails, one look-alike explains it.
        let misread: String = good
            .char_indices()
            .map(|(i, c)| if i == 5 { '6' } else { c })
            .collect();
        let job = b.upload_card(png(&format!("number={misread}"))).await;
        let html = b.page(&format!("/clerk/jobs/{job}")).await;
        let v = verdict_box(&html);
        assert!(
            v.contains("结论：需人工复核") && v.contains("需人工核对：校验码不符"),
            "{v}"
        );
        assert!(!v.contains("识别时的结论"));
        let api = api_get(&desk, &token, &format!("/api/v1/verify/{job}")).await;
        assert_eq!(api["verdict"], "review");

        // The clerk types the number from the card: every check passes, yet a value no
        // machine read is review at best, with the corrected field named.
        let csrf = csrf_of(&html);
        correct(&mut b, &job, &csrf, "id_number", &good).await;
        let html = b.page(&format!("/clerk/jobs/{job}")).await;
        let v = verdict_box(&html);
        assert!(v.contains("结论：需人工复核"), "{v}");
        assert!(v.contains("识别时的结论为“需人工复核”"));
        assert!(v.contains("“公民身份号码”经人工更正"), "{v}");
        assert!(!v.contains("校验码不符"), "the check ran again: {v}");
        assert!(!html.contains("未通过"), "every check passes");
        assert!(html.contains("校验码正确") && html.contains("印刷的性别与号码第17位的奇偶一致"));
        assert!(!html.contains(&good), "still masked");
        let api = api_get(&desk, &token, &format!("/api/v1/verify/{job}")).await;
        assert_eq!(api["verdict"], "review");
        assert_eq!(api["report"]["verdict"], "review");
        assert!(!api.to_string().contains(&good));
        let full = api_get(&desk, &token, &format!("/api/v1/verify/{job}?reveal=true")).await;
        let report = &full["report"];
        assert_eq!(report["fields"]["id_number"]["value"], good.as_str());
        assert_eq!(report["fields"]["id_number"]["edited"], true);
        assert_eq!(report["verdict_as_read"], "review");
        assert!(
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["passed"] == true),
            "{report}"
        );
        let export = api_get(
            &desk,
            &token,
            &format!("/api/v1/verify/{job}/prefill?form=social-security-card"),
        )
        .await;
        assert_eq!(
            export["records"][0]["fields"]["公民身份号码"],
            good.as_str()
        );

        // A number whose sequence is even is a woman's: on a card printed 男 that breaks a
        // rule, and the document fails with the rule's reason.
        let female = id_number("11010519900307004");
        correct(&mut b, &job, &csrf, "id_number", &female).await;
        let html = b.page(&format!("/clerk/jobs/{job}")).await;
        let v = verdict_box(&html);
        assert!(v.contains("结论：不通过"), "{v}");
        assert!(
            v.contains("未通过核对：印刷的性别与号码第17位的奇偶（奇数为男，偶数为女）不一致"),
            "{v}"
        );
        assert!(v.contains("“公民身份号码”经人工更正"));
        assert!(!html.contains(&female));
        let api = api_get(&desk, &token, &format!("/api/v1/verify/{job}")).await;
        assert_eq!(api["verdict"], "fail");
        assert!(
            b.page("/clerk").await.contains("不通过"),
            "the desk's list follows"
        );
        let export = api_get(
            &desk,
            &token,
            &format!("/api/v1/verify/{job}/prefill?form=social-security-card"),
        )
        .await;
        assert_eq!(
            export["records"][0]["fields"]["公民身份号码"],
            female.as_str()
        );

        // The sex corrected too: the rule holds again; review, both corrections named.
        correct(&mut b, &job, &csrf, "sex", "女").await;
        let html = b.page(&format!("/clerk/jobs/{job}")).await;
        let v = verdict_box(&html);
        assert!(v.contains("结论：需人工复核"), "{v}");
        assert!(v.contains("“公民身份号码”、“性别”经人工更正"), "{v}");
        assert!(!html.contains("未通过"));
        let api = api_get(&desk, &token, &format!("/api/v1/verify/{job}")).await;
        assert_eq!(api["verdict"], "review");
        let export = api_get(
            &desk,
            &token,
            &format!("/api/v1/verify/{job}/prefill?form=social-security-card"),
        )
        .await;
        assert_eq!(export["records"][0]["fields"]["性别"], "2-女");
        let edits = desk.store.field_edits(&job).await.unwrap();
        let fields: Vec<&str> = edits.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["id_number", "id_number", "sex"]);
        let record = desk.store.job(&job).await.unwrap().unwrap();
        assert_eq!(record.verdict.as_deref(), Some("review"));
        let outcome = record.outcome.unwrap();
        assert!(!outcome.contains(&female) && !outcome.contains(&good));

        // Four eyes: the clerk cannot confirm their own corrections; a supervisor who made
        // none does, and only then does the document pass.
        assert!(!html.contains("/confirm"), "no confirm form for the clerk");
        let r = b
            .post(&format!("/clerk/jobs/{job}/confirm"), &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let (mut sup, sup_name) = desk.signed_in("supervisor", Role::Supervisor).await;
        let html = sup.page(&format!("/clerk/jobs/{job}")).await;
        assert!(html.contains(&format!(r#"action="/clerk/jobs/{job}/confirm""#)));
        let sup_csrf = csrf_of(&html);
        assert!(
            html.contains(r#"name="edits" value="3""#),
            "the corrections shown"
        );
        let confirm = |csrf: &str, edits: &str| {
            vec![
                ("csrf".to_string(), csrf.to_string()),
                ("edits".to_string(), edits.to_string()),
            ]
        };
        let r = sup
            .post_owned(
                &format!("/clerk/jobs/{job}/confirm"),
                confirm("forged", "3"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "CSRF first");
        // A page opened before the last correction: that one was not looked at.
        let r = sup
            .post_owned(
                &format!("/clerk/jobs/{job}/confirm"),
                confirm(&sup_csrf, "2"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("打开页面后又有新的更正"));
        let r = sup
            .post_owned(
                &format!("/clerk/jobs/{job}/confirm"),
                confirm(&sup_csrf, "3"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let html = sup.page(&format!("/clerk/jobs/{job}?confirmed=1")).await;
        let v = verdict_box(&html);
        assert!(v.contains("结论：通过"), "{v}");
        assert!(v.contains(&format!("人工更正已由 {sup_name} 于")), "{v}");
        assert!(v.contains("更正已经主管对照原件复核确认"));
        assert!(!v.contains(r#"/confirm""#), "confirmed once");
        let api = api_get(&desk, &token, &format!("/api/v1/verify/{job}")).await;
        assert_eq!(api["verdict"], "pass");
        assert!(
            desk.access_log(&job)
                .await
                .contains(&(sup_name.clone(), "confirm_edits".into()))
        );
        // A new correction undoes the confirmation; its author cannot confirm it.
        correct(&mut sup, &job, &sup_csrf, "name", "张三丰").await;
        let api = api_get(&desk, &token, &format!("/api/v1/verify/{job}")).await;
        assert_eq!(api["verdict"], "review");
        let r = sup
            .post_owned(
                &format!("/clerk/jobs/{job}/confirm"),
                confirm(&sup_csrf, "4"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.text().await.unwrap().contains("不能确认自己参与的更正"));
        // A failing correction cannot be confirmed by anyone.
        correct(&mut b, &job, &csrf, "sex", "男").await;
        let (mut sup2, _) = desk.signed_in("supervisor-2", Role::Supervisor).await;
        let sup2_csrf = sup2.csrf().await;
        let r = sup2
            .post_owned(
                &format!("/clerk/jobs/{job}/confirm"),
                confirm(&sup2_csrf, "5"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("核对仍未通过，不能确认"));
        let api = api_get(&desk, &token, &format!("/api/v1/verify/{job}")).await;
        assert_eq!(api["verdict"], "fail");
        desk.server.stop().await;
    }
}

#[tokio::test]
async fn clerks_see_their_own_jobs_supervisors_all_and_others_none() {
    let desk = start(None, true, |_| {}).await;
    let (mut a, _) = desk.signed_in("clerk-a", Role::Clerk).await;
    let (mut b, _) = desk.signed_in("clerk-b", Role::Clerk).await;
    let (mut sup, sup_name) = desk.signed_in("supervisor", Role::Supervisor).await;
    let (mut admin, _) = desk.signed_in("admin", Role::Admin).await;
    let (mut auditor, _) = desk.signed_in("auditor", Role::Auditor).await;
    let job = a.new_job().await;

    for path in [
        format!("/clerk/jobs/{job}"),
        format!("/clerk/jobs/{job}/scan"),
        format!("/clerk/jobs/{job}/prefill?form=social-security-card"),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "clerk B: {path}");
        assert!(!r.text().await.unwrap().contains(NAME));
    }
    let csrf = b.csrf().await;
    let r = b
        .post(
            &format!("/clerk/jobs/{job}/reveal"),
            &[("csrf", &csrf), ("field", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!b.page("/clerk").await.contains(&job));

    assert!(
        sup.page(&format!("/clerk/jobs/{job}"))
            .await
            .contains("结论：不通过")
    );
    let home = sup.page("/clerk").await;
    assert!(home.contains(&job) && home.contains("全部工作人员"));
    let csrf = sup.csrf().await;
    let r = sup
        .post(
            &format!("/clerk/jobs/{job}/reveal"),
            &[("csrf", &csrf), ("field", "id_number")],
        )
        .await;
    assert!(r.text().await.unwrap().contains(ID));
    assert!(
        desk.access_log(&job)
            .await
            .contains(&(sup_name, "reveal_field".into()))
    );

    // Administrators and auditors cannot upload or open jobs.
    let csrf = admin.csrf().await;
    let r = admin.upload(&csrf, false).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("您的角色（admin）无权使用此功能")
    );
    let home = admin.page("/clerk").await;
    assert!(home.contains("不能核验证件") && !home.contains(r#"action="/clerk/upload""#));
    assert_eq!(
        admin.get(&format!("/clerk/jobs/{job}")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        auditor.get(&format!("/clerk/jobs/{job}")).await.status(),
        StatusCode::FORBIDDEN
    );

    // The access log: supervisors and auditors, not clerks or administrators.
    assert_eq!(
        a.get("/clerk/access-log").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.get("/clerk/access-log").await.status(),
        StatusCode::FORBIDDEN
    );
    let log = auditor
        .page(&format!("/clerk/access-log?job_id={job}"))
        .await;
    assert!(
        log.contains("上传核验") && log.contains("显示个人信息"),
        "{log}"
    );
    assert!(
        auditor
            .page("/clerk")
            .await
            .contains(r#"href="/clerk/access-log""#)
    );
    desk.server.stop().await;
}

// Every state-changing form of a job checks the role and the job's owner after its CSRF
// token (`every_form_refuses_a_missing_or_wrong_csrf_token`): another clerk's job answers 404
// as if it did not exist, an auditor or administrator gets 403, and nothing changes.
#[tokio::test]
async fn corrections_and_reveals_are_refused_to_other_clerks_and_read_only_roles() {
    let desk = start(None, true, |_| {}).await;
    let (mut a, a_name) = desk.signed_in("clerk-a", Role::Clerk).await;
    let (mut other, other_name) = desk.signed_in("clerk-b", Role::Clerk).await;
    let (mut auditor, auditor_name) = desk.signed_in("auditor", Role::Auditor).await;
    let (mut admin, admin_name) = desk.signed_in("admin", Role::Admin).await;
    let job = a.new_job().await;
    let before = desk.store.job_sealed(&job).await.unwrap().unwrap().report;

    let csrf = other.csrf().await;
    for form in [
        vec![
            ("csrf", csrf.as_str()),
            ("field", "name"),
            ("value", "李四"),
        ],
        vec![("csrf", csrf.as_str()), ("field", "id_number")],
    ] {
        let path = if form.len() == 3 { "fields" } else { "reveal" };
        let r = other
            .post(&format!("/clerk/jobs/{job}/{path}"), &form)
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "clerk B: {path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("没有这个核验任务，或您无权查看"), "{html}");
        assert!(!html.contains(NAME) && !html.contains(ID));
    }
    for (b, role) in [(&mut auditor, "auditor"), (&mut admin, "admin")] {
        let csrf = b.csrf().await;
        for (path, form) in [
            (
                "fields",
                vec![
                    ("csrf", csrf.as_str()),
                    ("field", "name"),
                    ("value", "李四"),
                ],
            ),
            ("reveal", vec![("csrf", csrf.as_str()), ("field", "name")]),
        ] {
            let r = b.post(&format!("/clerk/jobs/{job}/{path}"), &form).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role}: {path}");
            let html = r.text().await.unwrap();
            assert!(
                html.contains(&format!("您的角色（{role}）无权使用此功能")),
                "{html}"
            );
            assert!(!html.contains(NAME));
        }
    }
    // Nothing changed and nobody but the uploader is in the job's log.
    assert!(desk.store.field_edits(&job).await.unwrap().is_empty());
    let after = desk.store.job_sealed(&job).await.unwrap().unwrap().report;
    assert_eq!(before, after, "the sealed report is untouched");
    let log = desk.access_log(&job).await;
    assert_eq!(log, [(a_name.clone(), "create".to_string())]);
    for refused in [&other_name, &auditor_name, &admin_name] {
        assert!(!log.iter().any(|(who, _)| who == refused));
    }

    // A supervisor may correct a clerk's job; the edit is theirs. Nothing to confirm before.
    let (mut sup, sup_name) = desk.signed_in("supervisor", Role::Supervisor).await;
    let csrf = sup.csrf().await;
    let r = sup
        .post(&format!("/clerk/jobs/{job}/confirm"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("没有人工更正，无需确认"));
    correct(&mut sup, &job, &csrf, "name", "张三峰").await;
    let edits = desk.store.field_edits(&job).await.unwrap();
    assert_eq!(
        (edits[0].actor.as_str(), edits[0].role.as_str()),
        (sup_name.as_str(), "supervisor")
    );
    desk.server.stop().await;
}

#[tokio::test]
async fn a_batch_shows_its_progress_and_each_outcome() {
    let desk = start(None, true, |_| {}).await;
    let (mut b, _) = desk.signed_in("clerk", Role::Clerk).await;
    let csrf = b.csrf().await;
    let mut form = Form::new().text("csrf", csrf);
    for i in 0..3 {
        form = form.part(
            "images",
            Part::bytes(png(&format!("b{i}"))).file_name(format!("{i}.png")),
        );
    }
    let r = b.post_multipart("/clerk/batch", form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(to.starts_with("/clerk/batches/"));
    let mut html = String::new();
    for _ in 0..100 {
        html = b.page(&to).await;
        if html.contains("已完成 3 / 3 份") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(html.contains("已完成 3 / 3 份"), "{html}");
    assert_eq!(html.matches("不通过").count(), 3);
    assert_eq!(html.matches(r#"<a href="/clerk/jobs/"#).count(), 3);
    desk.server.stop().await;
}

#[tokio::test]
async fn without_the_ocr_models_the_page_says_how_to_get_them() {
    let desk = start(None, false, |_| {}).await;
    let (mut b, _) = desk.signed_in("clerk", Role::Clerk).await;
    let home = b.page("/clerk").await;
    assert!(
        home.contains("证件识别暂不可用") && home.contains("xiaoban models fetch"),
        "{home}"
    );
    assert!(!home.contains(r#"action="/clerk/upload""#));
    let csrf = csrf_of(&home);
    let r = b.upload(&csrf, false).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("xiaoban models fetch"));
    desk.server.stop().await;
}

/// The roles allowed on each route of the page (the same as `web::clerk::RULES`, which the
/// test below holds to this table).
const TABLE: &[(&str, &str, &[Role])] = &[
    ("POST", "/clerk/logout", &Role::ALL),
    ("POST", "/clerk/upload", &[Role::Clerk, Role::Supervisor]),
    ("POST", "/clerk/batch", &[Role::Clerk, Role::Supervisor]),
    (
        "GET",
        "/clerk/batches/{batch_id}",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/clerk/jobs/{job_id}",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "POST",
        "/clerk/jobs/{job_id}/reveal",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "POST",
        "/clerk/jobs/{job_id}/fields",
        &[Role::Clerk, Role::Supervisor],
    ),
    ("POST", "/clerk/jobs/{job_id}/confirm", &[Role::Supervisor]),
    (
        "GET",
        "/clerk/jobs/{job_id}/scan",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/clerk/jobs/{job_id}/prefill",
        &[Role::Clerk, Role::Supervisor],
    ),
    (
        "GET",
        "/clerk/access-log",
        &[Role::Supervisor, Role::Auditor],
    ),
];

#[test]
fn every_route_of_the_page_has_a_rule() {
    use xiaoban::web::clerk::{PUBLIC, RULES};
    assert_eq!(RULES.len(), TABLE.len());
    for (m, p, roles) in TABLE {
        let rule = RULES.iter().find(|(rm, rp, _)| rm == m && rp == p);
        assert_eq!(rule.map(|r| r.2), Some(*roles), "{m} {p}");
    }
    // Every route the module registers goes through `ruled`, which refuses one without a rule.
    let src = std::fs::read_to_string(common::repo().join("src/web/clerk/mod.rs")).unwrap();
    let routes = src.matches(".route(").count();
    assert_eq!(
        routes,
        src.matches(".route(\n            ruled(").count() + src.matches(".route(ruled(").count()
    );
    assert_eq!(routes, RULES.len() + PUBLIC.len());
}

#[tokio::test]
async fn every_route_answers_each_role_as_its_rule_says() {
    let desk = start(None, true, |_| {}).await;
    let mut browsers = Vec::new();
    for role in Role::ALL {
        browsers.push((role, desk.signed_in(role.as_str(), role).await.0));
    }
    let job = browsers[0].1.new_job().await;
    let csrf = browsers[0].1.csrf().await;
    let form = Form::new()
        .text("csrf", csrf)
        .part("images", Part::bytes(png("b")).file_name("b.png"));
    let r = browsers[0].1.post_multipart("/clerk/batch", form).await;
    let batch = r.headers()[LOCATION]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    for (method, path, allowed) in TABLE {
        if *path == "/clerk/logout" {
            continue; // below: it ends the sessions the other rows need
        }
        let url = path.replace("{job_id}", &job).replace("{batch_id}", &batch);
        for (role, b) in browsers.iter_mut() {
            let csrf = b.csrf().await;
            let r = match *method {
                "GET" => b.get(&url).await,
                _ if url.ends_with("/upload") || url.ends_with("/batch") => {
                    let name = if url.ends_with("/batch") {
                        "images"
                    } else {
                        "image"
                    };
                    let form = Form::new()
                        .text("csrf", csrf)
                        .part(name, Part::bytes(png("r")).file_name("r.png"));
                    b.post_multipart(&url, form).await
                }
                _ => {
                    b.post(&url, &[("csrf", &csrf), ("field", "sex"), ("value", "男")])
                        .await
                }
            };
            let status = r.status();
            if path.ends_with("/confirm") && allowed.contains(role) {
                // The supervisor corrected this job in the row above: the desk refuses (four
                // eyes), but not for the role.
                let body = r.text().await.unwrap();
                assert_eq!(status, StatusCode::FORBIDDEN, "{path} as {role}");
                assert!(body.contains("不能确认自己参与的更正"), "{body}");
            } else if allowed.contains(role) {
                assert!(
                    status.is_success() || status.is_redirection(),
                    "{method} {path} as {role}: {status}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
            }
        }
        // Signed out: pages go to the sign-in form, forms are refused.
        let mut stranger = desk.browser();
        let r = match *method {
            "GET" => stranger.get(&url).await,
            _ => stranger.post(&url, &[("csrf", "x")]).await,
        };
        if *method == "GET" {
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path} signed out");
            assert_eq!(r.headers()[LOCATION], "/clerk");
        } else {
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::BAD_REQUEST].contains(&r.status()),
                "{path} signed out: {}",
                r.status()
            );
        }
    }
    for (role, b) in browsers.iter_mut() {
        let csrf = b.csrf().await;
        let r = b.post("/clerk/logout", &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{role}");
        assert!(b.page("/clerk").await.contains("工作人员登录"));
    }
    desk.server.stop().await;
}

/// A scripted reader's report, from the JSON a stored report has.
fn report(v: Value) -> Report {
    serde_json::from_value(v).expect("a report")
}

/// Sends an upload's head and the start of a 20 MB multipart body, then waits for an answer
/// without sending the rest: the status line, or `None` when the server waits for more.
async fn answer_before_the_body(base: &str, cookie: &str, first_part: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let boundary = "xiaobanboundary";
    let start = format!(
        "--{boundary}\r\n{first_part}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
    );
    let total = start.len() + 20 * 1024 * 1024;
    let head = format!(
        "POST /clerk/upload HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(start.as_bytes()).await.unwrap();
    stream.write_all(&vec![0u8; 64 * 1024]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            text.lines().next().map(str::to_string)
        }
        _ => None,
    }
}

// DOMAIN.md "Personal information and security": only a clerk's own session with its CSRF
// token may hand in a scan, and a refused upload is refused before its images are read (the
// server answers while 20 MB are still unsent).
#[tokio::test]
async fn an_upload_without_session_role_or_token_is_refused_before_its_images_are_read() {
    let desk = start(None, true, |_| {}).await;
    let base = desk.server.base.clone();
    let (clerk, _) = desk.signed_in("clerk", Role::Clerk).await;
    let (mut auditor, _) = desk.signed_in("auditor", Role::Auditor).await;
    let csrf_part =
        |token: &str| format!("Content-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}");
    let no_token = "Content-Disposition: form-data; name=\"note\"\r\n\r\nx".to_string();
    let forged = csrf_part(&xiaoban::web::session::csrf_token("someone else's session"));
    let auditor_token = csrf_part(&auditor.csrf().await);
    let cases = [
        ("signed out", String::new(), no_token.clone(), "401"),
        ("no token", clerk.cookie_header(), no_token, "403"),
        ("a forged token", clerk.cookie_header(), forged, "403"),
        ("an auditor", auditor.cookie_header(), auditor_token, "403"),
    ];
    for (what, cookie, first, status) in cases {
        let line = answer_before_the_body(&base, &cookie, &first)
            .await
            .unwrap_or_else(|| panic!("{what}: the server waited for the body"));
        assert!(line.contains(status), "{what}: {line}");
    }
    // Nothing was uploaded.
    assert!(desk.store.recent_jobs(None, 10).await.unwrap().is_empty());
}
