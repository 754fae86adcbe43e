//! The handoff as people use it without JavaScript: a citizen in the widget (forms that post
//! and redirect, a page that refreshes itself while waiting) and an agent in the console
//! `/agent` (sign-in cookie, CSRF on every form): queue, claim, messages both ways with a
//! knowledge-base link, close with `callback_needed`, the citizen's callback form, the
//! callback list with the number masked until revealed; and the console's rules per role.

use crate::common;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;
use xiaoban::account::{Accounts, Role};
use xiaoban::handoff::hours::Hours;
use xiaoban::store::Store;

const PASSWORD: &str = "correct horse battery";

struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            http: common::client(),
            base: base.to_string(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let req = if self.cookies.is_empty() {
            req
        } else {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req.header(COOKIE, header)
        };
        let r = req.send().await.expect("request");
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
}

fn csrf(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html).expect("a form with a CSRF token")[1].to_string()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_string()
}

async fn start() -> (common::TestServer, Store) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(data.path(), None, None);
    config.handoff.hours = Hours::Always;
    let server = common::start_with(config, data).await;
    let store = Store::connect(&server.config.database_url()).await.unwrap();
    (server, store)
}

async fn signed_in(server: &common::TestServer, name: &str) -> (Browser, String) {
    let mut b = Browser::new(&server.base);
    let form = b.page("/agent").await;
    assert!(form.contains("人工客服登录"), "{form}");
    let token = csrf(&form);
    let r = b
        .post(
            "/agent/login",
            &[("username", name), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {name}");
    let home = b.get("/agent").await;
    let status = home.status();
    let html = home.text().await.unwrap();
    let token = if status == StatusCode::OK {
        csrf(&html)
    } else {
        String::new()
    };
    (b, token)
}

#[tokio::test]
async fn a_citizen_in_the_widget_and_an_agent_in_the_console_talk_without_javascript() {
    let (server, store) = start().await;
    let accounts = Accounts::new(store.clone());
    accounts
        .add_user("agent-p", Role::Agent, PASSWORD)
        .await
        .unwrap();
    accounts
        .add_user("clerk-p", Role::Clerk, PASSWORD)
        .await
        .unwrap();

    // A sign-in without the form's token is refused.
    let mut stranger = Browser::new(&server.base);
    let r = stranger
        .post(
            "/agent/login",
            &[
                ("username", "agent-p"),
                ("password", PASSWORD),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (mut agent, token) = signed_in(&server, "agent-p").await;
    let home = agent.page("/agent").await;
    assert!(home.contains("现在没有人排队"), "{home}");
    assert!(home.contains("您现在<strong>在岗</strong>"), "{home}");

    // The citizen asks for a person in the widget (no JavaScript: the form posts).
    let mut citizen = Browser::new(&server.base);
    let r = citizen
        .post("/widget", &[("question", "转人工"), ("s", "")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page_url = location(&r);
    let session = page_url
        .split("s=")
        .nth(1)
        .unwrap()
        .split(['&', '#'])
        .next()
        .unwrap()
        .to_string();
    let page = citizen.page(&page_url).await;
    assert!(page.contains("前面还有0位"), "{page}");
    assert!(
        page.contains(r#"<noscript><meta http-equiv="refresh" content="10"></noscript>"#),
        "{page}"
    );
    assert!(page.contains("刷新，看工作人员的新消息"), "{page}");
    assert!(page.contains("不等了，离开排队"), "{page}");

    // The agent sees the citizen waiting and claims; a claim without the token is refused.
    let home = agent.page("/agent").await;
    assert!(home.contains("排队中的群众（1）"), "{home}");
    let id_re = regex::Regex::new(r#"/agent/handoffs/([0-9a-f]{32})/claim"#).unwrap();
    let id = id_re.captures(&home).expect("a claim form")[1].to_string();
    let r = agent
        .post(&format!("/agent/handoffs/{id}/claim"), &[("csrf", "wrong")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = agent
        .post(&format!("/agent/handoffs/{id}/claim"), &[("csrf", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let conv = agent.page(&format!("/agent/handoffs/{id}")).await;
    assert!(conv.contains("转人工"), "{conv}");
    assert!(conv.contains("接待中"), "{conv}");

    // The agent answers with a link to a knowledge-base document.
    let doc_re = regex::Regex::new(r#"<option value="([a-z0-9-]+)">([^<]+)</option>"#).unwrap();
    let caps = doc_re.captures(&conv).expect("documents to link");
    let (doc, title) = (caps[1].to_string(), caps[2].to_string());
    let r = agent
        .post(
            &format!("/agent/handoffs/{id}/messages"),
            &[
                ("csrf", &token),
                ("text", "您好，我是值班客服，请看这份指南。"),
                ("doc", &doc),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = citizen.page(&page_url).await;
    assert!(page.contains("工作人员 agent-p"), "{page}");
    assert!(page.contains("您好，我是值班客服"), "{page}");
    assert!(
        page.contains(&format!("参考：《{title}》 /kb/{doc}")),
        "{page}"
    );
    assert!(
        !page.contains("<noscript><meta"),
        "no self-refresh once an agent answers"
    );

    // The citizen answers through the same form; it goes to the agent.
    let r = citizen
        .post(
            "/widget",
            &[("question", "谢谢，我的电话13812345678"), ("s", &session)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let conv = agent.page(&format!("/agent/handoffs/{id}")).await;
    assert!(conv.contains("谢谢，我的电话138****5678"), "{conv}");
    assert!(!conv.contains("13812345678"));

    // Someone else's role may not use the console.
    let (mut clerk, _) = signed_in(&server, "clerk-p").await;
    assert_eq!(clerk.get("/agent").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        clerk.get(&format!("/agent/handoffs/{id}")).await.status(),
        StatusCode::FORBIDDEN
    );

    // Closed as needing a callback: the widget offers the callback form.
    let r = agent
        .post(
            &format!("/agent/handoffs/{id}/close"),
            &[("csrf", &token), ("resolution", "callback_needed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = citizen.page(&page_url).await;
    assert!(page.contains("请工作人员回电"), "{page}");
    let r = citizen
        .post(
            "/widget/callback",
            &[("s", &session), ("phone", "123"), ("message", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("请填写正确的电话号码"), "{refused}");
    assert!(refused.contains("回电没有登记"), "{refused}");
    let r = citizen
        .post(
            "/widget/callback",
            &[
                ("s", &session),
                ("phone", "13912345678"),
                ("message", "社保卡的事"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = citizen.page(&page_url).await;
    assert!(page.contains("已为您登记回电"), "{page}");

    // The callback list shows the number masked, and the whole number only on purpose.
    let list = agent.page("/agent/callbacks").await;
    assert!(list.contains("139****5678"), "{list}");
    assert!(!list.contains("13912345678"));
    let cb_re = regex::Regex::new(r#"/agent/callbacks/([0-9a-f]{32})/reveal"#).unwrap();
    let cb = cb_re.captures(&list).expect("a reveal form")[1].to_string();
    let r = agent
        .post(
            &format!("/agent/callbacks/{cb}/reveal"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("13912345678"));
    let r = agent
        .post(
            &format!("/agent/callbacks/{cb}/status"),
            &[("csrf", &token), ("status", "contacted")],
        )
        .await;
    assert_eq!(location(&r), "/agent/callbacks?status=contacted");
    let list = agent.page("/agent/callbacks?status=contacted").await;
    assert!(
        list.contains("139****5678") && list.contains("agent-p"),
        "{list}"
    );

    // Away, then signed out: nobody on duty, so the next citizen is offered a callback.
    let r = agent
        .post("/agent/duty", &[("csrf", &token), ("away", "1")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = agent.page("/agent").await;
    assert!(home.contains("<strong>暂离</strong>"), "{home}");
    let r = agent.post("/agent/logout", &[("csrf", &token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut other = Browser::new(&server.base);
    let r = other
        .post("/widget", &[("question", "转人工"), ("s", "")])
        .await;
    let page = other.page(&location(&r)).await;
    assert!(page.contains("没有人工客服在线"), "{page}");
    assert!(page.contains("请工作人员回电"), "{page}");

    // Elder mode applies to the handoff too.
    other.get("/widget?elder=1").await;
    let page = other.page(&location(&r)).await;
    assert!(
        page.contains(r#"class="elder""#) && page.contains("人工服务"),
        "{page}"
    );
    server.stop().await;
}

/// Every route of the console has a rule; signed out, a page sends to the sign-in form and a
/// form is refused with 401; a role the rule does not name gets 403.
#[tokio::test]
async fn every_console_route_answers_each_role_as_its_rule_says() {
    use xiaoban::web::agent::{PUBLIC, RULES};
    let (server, store) = start().await;
    let accounts = Accounts::new(store.clone());
    let id = "0123456789abcdef0123456789abcdef";
    for role in Role::ALL {
        let name = format!("console-{role}");
        accounts.add_user(&name, role, PASSWORD).await.unwrap();
        let (mut b, _) = signed_in(&server, &name).await;
        // A page of the console carries the session's CSRF token even when refused.
        let token = xiaoban::web::session::csrf_token(b.cookies.get("xiaoban_agent").unwrap());
        // Signing out last: it ends the session the other requests use.
        let mut rules: Vec<_> = RULES.iter().collect();
        rules.sort_by_key(|(_, p, _)| *p == "/agent/logout");
        for (method, path, allowed) in rules {
            let url = path
                .replace("{handoff_id}", id)
                .replace("{callback_id}", id);
            let r = if *method == "GET" {
                b.get(&url).await
            } else {
                b.post(
                    &url,
                    &[
                        ("csrf", &token),
                        ("resolution", "answered"),
                        ("status", "new"),
                    ],
                )
                .await
            };
            if allowed.contains(&role) {
                assert_ne!(
                    r.status(),
                    StatusCode::FORBIDDEN,
                    "{role} on {method} {path}"
                );
            } else {
                assert_eq!(
                    r.status(),
                    StatusCode::FORBIDDEN,
                    "{role} on {method} {path}"
                );
            }
        }
    }
    let mut anonymous = Browser::new(&server.base);
    for (method, path, _) in RULES {
        let url = path
            .replace("{handoff_id}", id)
            .replace("{callback_id}", id);
        let r = if *method == "GET" {
            anonymous.get(&url).await
        } else {
            anonymous.post(&url, &[("csrf", "x")]).await
        };
        let expected = if *method == "GET" {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(r.status(), expected, "signed out on {method} {path}");
    }
    assert_eq!(PUBLIC.len(), 2);
    server.stop().await;
}

/// Reads the stream until a `change` event arrives or `limit` passes; returns how long it took.
async fn next_change(
    resp: &mut reqwest::Response,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    let mut buf = String::new();
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(c))) => buf.push_str(&String::from_utf8_lossy(&c)),
            _ => return None,
        }
        if buf.contains("event: change") {
            return Some(started.elapsed());
        }
    }
}

/// The console live with JavaScript: the page names its event stream (with the fingerprint it
/// was rendered with) and carries its script allowed by hash; the stream says `change` when a
/// citizen joins the queue and when the citizen writes in a claimed conversation, within a
/// second; a page already out of date is told at once.
#[tokio::test]
async fn the_console_is_told_within_a_second_when_the_queue_or_a_conversation_changes() {
    let (server, store) = start().await;
    Accounts::new(store.clone())
        .add_user("live-agent", Role::Agent, PASSWORD)
        .await
        .unwrap();
    let (mut b, token) = signed_in(&server, "live-agent").await;
    let home = b.get("/agent").await;
    let csp = home
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let html = home.text().await.unwrap();
    let live = regex::Regex::new(r#"data-live="([^"]+)""#).unwrap();
    let queue_events =
        live.captures(&html).expect("the queue names its stream")[1].replace("&amp;", "&");
    assert!(
        queue_events.starts_with("/agent/events?since="),
        "{queue_events}"
    );
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
        xiaoban::web::agent::AGENT_JS.as_bytes(),
    ));
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    assert!(html.contains(&format!(
        "<script>{}</script>",
        xiaoban::web::agent::AGENT_JS
    )));

    let mut queue = b.get(&queue_events).await;
    assert_eq!(queue.status(), StatusCode::OK);
    let v = common::chat(
        &common::client(),
        &server.base,
        &serde_json::json!({"question": "转人工"}),
    )
    .await;
    assert_eq!(v["handoff"]["state"], "waiting", "{v}");
    let took = next_change(&mut queue, std::time::Duration::from_secs(3))
        .await
        .expect("the queue's stream says it changed");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    // The page rendered before the citizen came is out of date: its stream says so at once.
    let mut stale = b.get(&queue_events).await;
    assert!(
        next_change(&mut stale, std::time::Duration::from_secs(1))
            .await
            .is_some()
    );

    let id = v["handoff"]["id"].as_str().unwrap().to_string();
    let session = v["session_id"].as_str().unwrap().to_string();
    let r = b
        .post(&format!("/agent/handoffs/{id}/claim"), &[("csrf", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = b.page(&format!("/agent/handoffs/{id}")).await;
    let events = live
        .captures(&html)
        .expect("the conversation names its stream")[1]
        .replace("&amp;", "&");
    assert!(events.contains(&format!("handoff={id}")), "{events}");
    let mut conversation = b.get(&events).await;
    assert_eq!(conversation.status(), StatusCode::OK);
    common::chat(
        &common::client(),
        &server.base,
        &serde_json::json!({"question": "社保卡弄丢了想补一张", "session_id": session}),
    )
    .await;
    let took = next_change(&mut conversation, std::time::Duration::from_secs(3))
        .await
        .expect("the conversation's stream says it changed");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    // A handoff that does not exist has no stream.
    let r = b
        .get("/agent/events?handoff=0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    drop((queue, stale, conversation));
    server.stop().await;
}
