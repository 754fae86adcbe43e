//! The log of a full run holds no personal data, and every line is JSON tied to its request.
//!
//! The real binary runs `serve` as a child process at debug level with JSON logs on stderr,
//! which this test captures whole. A citizen's session (questions with a name, an identity
//! number and a mobile number, by API, stream and widget, feedback with a number in it),
//! a failed and a successful sign-in, the verification of a rendered identity card (real OCR
//! when the models are in `models/`; otherwise the refusal is exercised and the test says so),
//! reading the job masked and revealed, the scan, on the clerk page one field revealed, two
//! corrections (the number and the name, which run the checks again), a refused one and a
//! supervisor's confirmation, the access log, a request with personal
//! data in its path and query and in its `X-Request-Id`, and sign-out. Then none of the
//! personal values (the identity number whole, spaced or in part, the mobile number, the
//! name, the address, the passwords, the bearer token, the conversation id) may appear in the
//! captured log, every line must parse as JSON, and every request must have exactly one
//! `http request` line with its id, route template, status and latency.

use crate::common;
use crate::common_nodes;

use common_nodes::{PASSWORD, add_user, render_card, serve_logging, xiaoban};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::collections::HashMap;

const NAME: &str = "欧阳明月";
const ADDRESS: &str = "北京市东城区景山前街4号";
const MOBILE: &str = "13912837465";
const WRONG_PASSWORD: &str = "not-the-right-one";
/// The name a clerk types over the one read.
const CORRECTED_NAME: &str = "欧阳明日";

fn id_number() -> String {
    with_check("11010519900307123")
}

fn with_check(first17: &str) -> String {
    let check = xiaoban::ident::id_check_character(first17).expect("17 digits");
    format!("{first17}{check}")
}

/// A specimen identity card front (样本) at 10 px/mm, as PNG bytes.
fn card_png(number: &str) -> Vec<u8> {
    render_card(&[
        (format!("姓名{NAME}"), 60.0, 90.0),
        ("性别女".into(), 60.0, 160.0),
        ("民族汉".into(), 300.0, 160.0),
        ("出生1990年3月7日".into(), 60.0, 230.0),
        (format!("住址{ADDRESS}"), 60.0, 300.0),
        ("样本".into(), 640.0, 90.0),
        (format!("公民身份号码{number}"), 60.0, 470.0),
    ])
}

/// Every response's status and request id, in order.
#[derive(Default)]
struct Seen(Vec<(String, u16, String)>);

impl Seen {
    async fn note(&mut self, what: &str, r: reqwest::Response) -> (StatusCode, Vec<u8>) {
        let status = r.status();
        let id = r
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("{what}: no X-Request-Id"))
            .to_str()
            .unwrap()
            .to_string();
        let body = r.bytes().await.unwrap().to_vec();
        self.0.push((what.to_string(), status.as_u16(), id));
        (status, body)
    }
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(body));
    })
}

#[tokio::test]
async fn a_full_run_logs_json_lines_with_request_ids_and_no_personal_data() {
    let data = tempfile::tempdir().unwrap();
    let (clerk, supervisor) = ("clerk-logs", "supervisor-logs");
    add_user(data.path(), &[], clerk, "clerk");
    add_user(data.path(), &[], supervisor, "supervisor");
    let server = serve_logging(data.path(), &[], "debug");
    let url = |p: &str| format!("{}{p}", server.base);
    let http = common::client();
    let mut seen = Seen::default();
    let id = id_number();
    let spaced = format!("{} {} {}", &id[..6], &id[6..14], &id[14..]);
    // The number a clerk types over the one read (an even sequence: the card prints 女).
    let corrected = with_check("11010519900307246");

    // The container health check.
    let out = xiaoban(data.path(), &[])
        .args(["healthcheck", "--url", &url("/healthz")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = seen
        .note("healthz", http.get(url("/healthz")).send().await.unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let ocr = json_of(&body)["verification"]["available"] == true;

    // A citizen asks, by the API, the stream and the widget.
    let question =
        format!("我叫{NAME}，身份证号{id}，手机{MOBILE}，住{ADDRESS}，申领居住证需带哪些证件？");
    let (status, body) = seen
        .note(
            "chat",
            http.post(url("/api/v1/chat"))
                .json(&json!({"question": question}))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let chat = json_of(&body);
    let session = chat["session_id"].as_str().unwrap().to_string();
    let reply_id = chat["reply_id"].as_str().unwrap().to_string();
    let (status, _) = seen
        .note(
            "chat again",
            http.post(url("/api/v1/chat"))
                .json(&json!({"question": format!("本人证件 {spaced} 有效期满了怎么换"), "session_id": session}))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = seen
        .note(
            "stream",
            http.post(url("/api/v1/chat/stream"))
                .json(&json!({"question": format!("{NAME}的手机{MOBILE}能收到办理进度短信吗"), "session_id": session}))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("event: done"));
    let (status, _) = seen
        .note(
            "feedback",
            http.post(url("/api/v1/feedback"))
                .json(&json!({"reply_id": reply_id, "helpful": false, "comment": format!("请打{MOBILE}联系{NAME}")}))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = seen
        .note(
            "widget post",
            http.post(url("/widget"))
                .form(&[("question", question.as_str()), ("s", session.as_str())])
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert!(status.is_redirection(), "{status}");
    let (status, _) = seen
        .note(
            "widget get with the question in the query",
            http.get(url("/widget"))
                .query(&[("q", question.as_str()), ("s", session.as_str())])
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    // Personal data in the path, the query and the request id header.
    let (status, body) = seen
        .note(
            "personal data in the path",
            http.get(url(&format!("/kb/{id}?phone={MOBILE}")))
                .header("X-Request-Id", format!("req-{MOBILE}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let problem = json_of(&body);
    assert_eq!(
        Some(problem["request_id"].as_str().unwrap()),
        seen.0.last().map(|s| s.2.as_str()),
        "problem reports carry the request id"
    );
    assert!(
        !seen.0.last().unwrap().2.contains(MOBILE),
        "the header was replaced"
    );
    let (_, _) = seen
        .note(
            "a caller's own request id",
            http.get(url("/healthz"))
                .header("X-Request-Id", "platform-7f3a.42")
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(seen.0.last().unwrap().2, "platform-7f3a.42");

    // Staff: a failed and a successful sign-in.
    let (status, _) = seen
        .note(
            "failed login",
            http.post(url("/api/v1/auth/login"))
                .json(&json!({"username": clerk, "password": WRONG_PASSWORD}))
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut tokens = HashMap::new();
    for user in [clerk, supervisor] {
        let (status, body) = seen
            .note(
                "login",
                http.post(url("/api/v1/auth/login"))
                    .json(&json!({"username": user, "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        tokens.insert(user, json_of(&body)["token"].as_str().unwrap().to_string());
    }
    let token = tokens[clerk].clone();

    // The verification of a specimen card.
    let form = Form::new().part("image", Part::bytes(card_png(&id)).file_name("card.png"));
    let (status, body) = seen
        .note(
            "verify",
            http.post(url("/api/v1/verify"))
                .bearer_auth(&token)
                .multipart(form)
                .send()
                .await
                .unwrap(),
        )
        .await;
    if ocr {
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let report = json_of(&body);
        assert_eq!(
            report["fields"]["id_number"]["value"],
            id.as_str(),
            "{report:#}"
        );
        let job = report["job_id"].as_str().unwrap().to_string();
        for (what, path) in [
            ("job", format!("/api/v1/verify/{job}")),
            ("job revealed", format!("/api/v1/verify/{job}?reveal=true")),
            ("scan", format!("/api/v1/verify/{job}/scan")),
        ] {
            let (status, _) = seen
                .note(
                    what,
                    http.get(url(&path))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{what}");
        }

        // The clerk page, with the API's tokens as session cookies: one field revealed, the
        // number and the name corrected (the checks run again), a refused correction, and a
        // supervisor's confirmation.
        let page_post = |user: &str, path: String, form: Vec<(&'static str, String)>| {
            let cookie = format!("xiaoban_session={}", tokens[user]);
            let mut form = form;
            form.push(("csrf", xiaoban::web::session::csrf_token(&tokens[user])));
            http.post(url(&path)).header("cookie", cookie).form(&form)
        };
        let page_steps = [
            (
                "reveal one field",
                clerk,
                "reveal",
                vec![("field", "id_number".to_string())],
            ),
            (
                "correct the number",
                clerk,
                "fields",
                vec![
                    ("field", "id_number".to_string()),
                    ("value", corrected.clone()),
                ],
            ),
            (
                "correct the name",
                clerk,
                "fields",
                vec![
                    ("field", "name".to_string()),
                    ("value", CORRECTED_NAME.to_string()),
                ],
            ),
            (
                "refused correction",
                clerk,
                "fields",
                vec![
                    ("field", "address".to_string()),
                    ("value", format!("{ADDRESS}\u{7}")),
                ],
            ),
            (
                "confirm",
                supervisor,
                "confirm",
                vec![("edits", "2".to_string())],
            ),
        ];
        for (what, user, action, form) in page_steps {
            let (status, _) = seen
                .note(
                    what,
                    page_post(user, format!("/clerk/jobs/{job}/{action}"), form)
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
            match what {
                "reveal one field" => assert_eq!(status, StatusCode::OK),
                "refused correction" => assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY),
                // Confirmed, or refused when the corrected card still fails a check.
                "confirm" => assert!(
                    status.is_redirection() || status == StatusCode::CONFLICT,
                    "{status}"
                ),
                _ => assert!(status.is_redirection(), "{what}: {status}"),
            }
        }
    } else {
        eprintln!(
            "NOTE: the OCR models are not in models/ (`xiaoban models fetch pp-ocrv6 && xiaoban models fetch onnxruntime`): the upload was refused and no document was read in this run"
        );
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let (status, _) = seen
        .note(
            "access log",
            http.get(url("/api/v1/access-log"))
                .bearer_auth(&tokens[supervisor])
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = seen
        .note(
            "logout",
            http.post(url("/api/v1/auth/logout"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert!(status.is_success(), "{status}");

    let lines = server.stop();
    let log = lines.join("\n");
    assert!(
        lines.iter().any(|l| l.contains("\"DEBUG\"")),
        "debug lines were captured"
    );

    // No personal value, whole or in part.
    let mut forbidden: Vec<(String, &str)> = vec![
        (id.clone(), "identity number"),
        (spaced.clone(), "spaced identity number"),
        (NAME.into(), "name"),
        (ADDRESS.into(), "address"),
        ("景山前街".into(), "part of the address"),
        (PASSWORD.into(), "password"),
        (WRONG_PASSWORD.into(), "wrong password"),
        (session.clone(), "conversation id"),
        (MOBILE.into(), "mobile number"),
        (corrected.clone(), "corrected identity number"),
        (CORRECTED_NAME.into(), "corrected name"),
    ];
    for t in tokens.values() {
        forbidden.push((t.clone(), "bearer token"));
    }
    for number in [&id, &corrected] {
        let digits: Vec<char> = number.chars().collect();
        for w in digits.windows(8) {
            forbidden.push((w.iter().collect(), "8 digits of an identity number"));
        }
    }
    let phone: Vec<char> = MOBILE.chars().collect();
    for w in phone.windows(7) {
        forbidden.push((w.iter().collect(), "7 digits of the mobile number"));
    }
    for (value, what) in &forbidden {
        if let Some(line) = lines.iter().find(|l| l.contains(value.as_str())) {
            panic!("the {what} ({value}) is in the log: {line}");
        }
    }

    // Every line is a JSON object; every request has exactly one line of its own.
    let parsed: Vec<Value> = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
            v
        })
        .collect();
    let requests: Vec<&Value> = parsed
        .iter()
        .filter(|v| v["message"] == "http request")
        .collect();
    for (what, status, rid) in &seen.0 {
        let mine: Vec<&&Value> = requests
            .iter()
            .filter(|v| v["span"]["request_id"] == rid.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{what}: one request line for {rid}");
        let line = mine[0];
        assert_eq!(line["status"], *status, "{what}: {line}");
        assert!(line["latency_ms"].is_number(), "{line}");
        assert!(line["span"]["method"].is_string(), "{line}");
        let route = line["span"]["route"].as_str().unwrap();
        assert!(
            route.starts_with('/') && !route.contains('?'),
            "{what}: route {route}"
        );
    }
    let by_what = |what: &str| {
        let rid = &seen.0.iter().find(|s| s.0 == what).unwrap().2;
        requests
            .iter()
            .find(|v| v["span"]["request_id"] == rid.as_str())
            .unwrap()["span"]["route"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(by_what("personal data in the path"), "/kb/{doc_id}");
    if ocr {
        assert_eq!(by_what("job"), "/api/v1/verify/{job_id}");
    }
    // Lines logged while handling a request carry its id.
    let ids: Vec<&str> = seen.0.iter().map(|s| s.2.as_str()).collect();
    for message in ["reply", "signed in", "sign-in refused", "document verified"] {
        let found: Vec<&Value> = parsed.iter().filter(|v| v["message"] == message).collect();
        if message != "document verified" || ocr {
            assert!(!found.is_empty(), "no `{message}` line in the log");
        }
        for v in found {
            let rid = v["span"]["request_id"].as_str().unwrap_or_default();
            assert!(
                ids.contains(&rid),
                "`{message}` without its request id: {v}"
            );
        }
    }
    assert!(log.contains("\"route\":\"/api/v1/chat/stream\""));
    eprintln!(
        "log scanned: {} lines ({} at DEBUG), {} requests, {} forbidden values, OCR {}",
        parsed.len(),
        parsed.iter().filter(|v| v["level"] == "DEBUG").count(),
        seen.0.len(),
        forbidden.len(),
        if ocr { "read the card" } else { "absent" }
    );
}
