//! Server-rendered pages: the chat widget (works without JavaScript; streams with it), the
//! document pages citations link to, and the list of documents.

use super::AppState;
use super::api::{admit_question, ask_problem, record_feedback};
use super::limits::ClientAddress;
use crate::answer::Citation;
use crate::kb::{DocId, DocKind};
use crate::store::SessionId;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

pub(super) const CSS: &str = include_str!("../../templates/base.css");
pub(super) const JS: &str = include_str!("../../templates/widget.js");
pub(super) const ELDER_COOKIE: &str = "xiaoban_elder";

/// Quick questions: (label, question as a URL query value).
const CHIPS: &[&str] = &[
    "身份证有效期满了怎么换",
    "新生儿出生要办哪些事",
    "开餐馆需要办什么证照",
    "异地就医怎么备案",
    "退休金怎么领",
    "租房提公积金怎么办理",
    "二手房买卖怎么过户",
    "12345热线能办什么",
];

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct TurnView {
    reply_id: String,
    question: String,
    answer: String,
    /// The documents the answer was taken from.
    sources: Vec<Citation>,
    /// Related guides and a life event's items, shown as links under the answer.
    related: Vec<Citation>,
    thanked: bool,
    /// Lines exchanged with an agent after this turn.
    after: Vec<LineView>,
    created_at: i64,
}

/// A line to or from an agent: who (您 / 工作人员 NAME) and what.
struct LineView {
    who: String,
    agent: bool,
    text: String,
}

/// The conversation's handoff as the widget shows it.
struct HandoffView {
    /// What the citizen is told.
    text: String,
    waiting: bool,
    active: bool,
    /// A callback may be requested here (offered, and no ticket yet).
    offer_callback: bool,
}

#[derive(Template)]
#[template(path = "widget.html")]
struct WidgetPage {
    css: &'static str,
    js: &'static str,
    elder: bool,
    session: String,
    s_param: String,
    chips: Vec<(&'static str, String)>,
    turns: Vec<TurnView>,
    error: Option<String>,
    /// The heading above `error`.
    error_title: &'static str,
    handoff: Option<HandoffView>,
    /// Seconds after which a page without JavaScript reloads itself (while waiting).
    refresh: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct WidgetQuery {
    q: Option<String>,
    s: Option<String>,
    elder: Option<String>,
    thanks: Option<String>,
}

pub(super) fn elder_from_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == format!("{ELDER_COOKIE}=1"))
}

pub(super) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn widget_url(session: &SessionId, extra: &str) -> String {
    format!("/widget?s={}{extra}#latest", session.as_str())
}

async fn widget_page(
    state: &AppState,
    session: Option<SessionId>,
    elder: bool,
    thanks: Option<&str>,
    error: Option<String>,
) -> WidgetPage {
    let mut turns = Vec::new();
    if let Some(s) = &session {
        match state.assistant.store.transcript(s).await {
            Ok(ts) => {
                turns = ts
                    .into_iter()
                    .map(|t| {
                        let (related, sources) = t.citations.into_iter().partition(|c| c.related);
                        TurnView {
                            thanked: thanks == Some(t.reply_id.as_str()),
                            reply_id: t.reply_id,
                            question: t.question,
                            answer: t.answer,
                            sources,
                            related,
                            after: Vec::new(),
                            created_at: t.created_at,
                        }
                    })
                    .collect()
            }
            Err(e) => tracing::error!(error = %e, "transcript failed"),
        }
    }
    let mut handoff = None;
    if let Some(s) = &session {
        match state.handoffs.agent_lines(s.as_str()).await {
            Ok(lines) => {
                for (at, l) in lines {
                    // After the last turn asked before it.
                    if let Some(t) = turns.iter_mut().rev().find(|t| t.created_at * 1000 <= at) {
                        t.after.push(LineView {
                            who: match (&l.from, &l.agent) {
                                (crate::handoff::Sender::Agent, Some(a)) => format!("工作人员 {a}"),
                                (crate::handoff::Sender::Agent, None) => "工作人员".into(),
                                _ => "您".into(),
                            },
                            agent: l.from == crate::handoff::Sender::Agent,
                            text: l.text,
                        });
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "agent lines failed"),
        }
        match state.handoffs.latest(s.as_str()).await {
            Ok(Some(h)) => handoff = Some(handoff_view(&h)),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "handoff state failed"),
        }
    }
    let refresh = handoff.as_ref().filter(|h| h.waiting).map(|_| 10);
    let session = session.map(|s| s.as_str().to_string()).unwrap_or_default();
    WidgetPage {
        css: CSS,
        js: JS,
        elder,
        s_param: if session.is_empty() {
            String::new()
        } else {
            format!("&s={session}")
        },
        session,
        chips: CHIPS.iter().map(|c| (*c, url_encode(c))).collect(),
        turns,
        error,
        error_title: "提问未发送",
        handoff,
        refresh,
    }
}

fn handoff_view(h: &crate::handoff::HandoffStatus) -> HandoffView {
    use crate::handoff::{HandoffState, Resolution};
    let offer_callback = h.callback.is_none()
        && (h.state == HandoffState::Callback || h.resolution == Some(Resolution::CallbackNeeded));
    let text = match h.state {
        HandoffState::Waiting => crate::handoff::waiting_text(h),
        HandoffState::Active => format!(
            "工作人员{}正在为您服务，您发送的消息会直接交给工作人员。",
            h.agent
                .as_deref()
                .map(|a| format!(" {a} "))
                .unwrap_or_default()
        ),
        _ if h.callback.is_some() => {
            "已为您登记回电，工作人员会在工作时间给您回电。急事请拨打12345政务服务便民热线。"
                .to_string()
        }
        _ if offer_callback => {
            "可以留下电话号码和简短的问题，工作人员会在工作时间给您回电。".to_string()
        }
        _ => "人工服务已结束，您可以继续向小办提问。".to_string(),
    };
    HandoffView {
        text,
        waiting: h.state == HandoffState::Waiting,
        active: h.state == HandoffState::Active,
        offer_callback,
    }
}

/// `GET /widget`: the conversation; `?q=` asks (then redirects, so a reload does not ask
/// again); `?elder=1|0` switches elder mode and remembers it in a cookie.
pub async fn widget(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Query(query): Query<WidgetQuery>,
) -> Response {
    let session = query.s.as_deref().and_then(SessionId::parse);
    if let Some(q) = query.q.as_deref() {
        let elder = elder_from_cookie(&headers);
        return ask_and_redirect(&state, address, session, q, elder).await;
    }
    let (elder, cookie) = match query.elder.as_deref() {
        Some("1") => (
            true,
            Some(format!(
                "{ELDER_COOKIE}=1; Path=/; Max-Age=31536000; SameSite=Lax"
            )),
        ),
        Some("0") => (
            false,
            Some(format!(
                "{ELDER_COOKIE}=0; Path=/; Max-Age=31536000; SameSite=Lax"
            )),
        ),
        _ => (elder_from_cookie(&headers), None),
    };
    let page = widget_page(&state, session, elder, query.thanks.as_deref(), None).await;
    let mut resp = render(&page);
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

async fn ask_and_redirect(
    state: &AppState,
    address: std::net::IpAddr,
    session: Option<SessionId>,
    question: &str,
    elder: bool,
) -> Response {
    let session_str = session.as_ref().map(SessionId::as_str);
    let asked = match admit_question(state, address, session_str).await {
        Ok(()) => state
            .assistant
            .ask(session_str, question)
            .await
            .map_err(|e| ask_problem(state, e)),
        Err(p) => Err(p),
    };
    match asked {
        Ok(a) => Redirect::to(&widget_url(&a.session_id, "")).into_response(),
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            // An expired or full conversation starts afresh; the error is shown above the form.
            let session = session.filter(|_| {
                p.kind != "/problems/unknown-session" && p.kind != "/problems/conversation-full"
            });
            let retry_after = p.retry_after;
            let page = widget_page(state, session, elder, None, Some(p.detail)).await;
            let mut resp = (status, render(&page)).into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            resp
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AskForm {
    #[serde(default)]
    question: String,
    #[serde(default)]
    s: String,
}

/// `POST /widget`: the form without JavaScript.
pub async fn widget_post(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<AskForm>,
) -> Response {
    let session = SessionId::parse(&form.s);
    let elder = elder_from_cookie(&headers);
    ask_and_redirect(&state, address, session, &form.question, elder).await
}

#[derive(Debug, Deserialize)]
pub struct FeedbackForm {
    reply_id: String,
    helpful: String,
    #[serde(default)]
    s: String,
}

/// `POST /widget/feedback`: the buttons under each reply.
pub async fn widget_feedback(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    Form(form): Form<FeedbackForm>,
) -> Response {
    let helpful = form.helpful == "1";
    if let Err(p) = record_feedback(&state, address, &form.reply_id, helpful, None).await {
        return p.into_response();
    }
    match SessionId::parse(&form.s) {
        Some(s) => Redirect::to(&widget_url(
            &s,
            &format!("&thanks={}", url_encode(&form.reply_id)),
        ))
        .into_response(),
        None => Redirect::to("/widget").into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackForm {
    #[serde(default)]
    s: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    message: String,
}

/// `POST /widget/callback`: the callback form (phone number and a short message).
pub async fn widget_callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CallbackForm>,
) -> Response {
    let Some(session) = SessionId::parse(&form.s) else {
        return Redirect::to("/widget").into_response();
    };
    match state
        .handoffs
        .request_callback(session.as_str(), &form.phone, &form.message)
        .await
    {
        Ok(_) => Redirect::to(&widget_url(&session, "")).into_response(),
        Err(e) => {
            let super::auth_api::Denied(p) = super::handoff_api::handoff_problem(&state, e);
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut page = widget_page(
                &state,
                Some(session),
                elder_from_cookie(&headers),
                None,
                Some(p.detail),
            )
            .await;
            page.error_title = "回电没有登记";
            (status, render(&page)).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LeaveForm {
    #[serde(default)]
    s: String,
}

/// `POST /widget/leave`: stop waiting, or end the conversation with the agent.
pub async fn widget_leave(
    State(state): State<Arc<AppState>>,
    Form(form): Form<LeaveForm>,
) -> Response {
    let Some(session) = SessionId::parse(&form.s) else {
        return Redirect::to("/widget").into_response();
    };
    if let Err(e) = state.handoffs.leave(session.as_str()).await {
        tracing::error!(error = %e, "leaving the handoff failed");
    }
    Redirect::to(&widget_url(&session, "")).into_response()
}

pub async fn home() -> Redirect {
    Redirect::to("/widget")
}

#[derive(Template)]
#[template(path = "doc.html")]
struct DocPage {
    css: &'static str,
    elder: bool,
    title: String,
    status: String,
    successor: Option<(String, String)>,
    facts: Vec<(&'static str, String)>,
    body: String,
}

/// Link schemes a rendered document may point to; a link without a scheme is relative.
const LINK_SCHEMES: &[&str] = &["http", "https", "mailto", "tel"];

/// Whether a link target is relative or uses an allowed scheme. Browsers ignore tabs,
/// newlines and leading control characters and spaces in a URL, so they are ignored here too.
fn allowed_link(url: &str) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect();
    let end = cleaned.find(['/', '?', '#']).unwrap_or(cleaned.len());
    match cleaned[..end].split_once(':') {
        None => true,
        Some((scheme, _)) => LINK_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)),
    }
}

/// Markdown to HTML with any raw HTML in the source shown as text, and links and images
/// whose scheme is not in [`LINK_SCHEMES`] (`javascript:`, `data:`, `vbscript:`…) reduced to
/// their text.
fn markdown(md: &str) -> String {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd, html};
    // One entry per link or image open: whether it was kept.
    let mut kept: Vec<bool> = Vec::new();
    let events = Parser::new(md).filter_map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Some(Event::Text(t)),
        Event::Start(Tag::Link { ref dest_url, .. })
        | Event::Start(Tag::Image { ref dest_url, .. }) => {
            let keep = allowed_link(dest_url);
            kept.push(keep);
            keep.then_some(e)
        }
        Event::End(TagEnd::Link | TagEnd::Image) => kept.pop().unwrap_or(true).then_some(e),
        e => Some(e),
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// `GET /kb/{doc_id}`: a readable page of one document, with its status.
pub async fn kb_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(doc_id): Path<String>,
) -> Response {
    let index = state.assistant.index.get();
    let Some(doc) = DocId::parse(&doc_id)
        .ok()
        .and_then(|id| index.document(&id).cloned())
    else {
        let p = super::problem::Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-document",
            "Unknown document",
            "没有这份文档，可能已被删除。",
        );
        state.note_problem(&p);
        return p.into_response();
    };
    let m = &doc.meta;
    let today = chrono::Local::now().date_naive();
    let successor = m.superseded_by.as_ref().map(|s| {
        let title = index
            .document(s)
            .map(|d| d.meta.title.clone())
            .unwrap_or_else(|| s.to_string());
        (s.to_string(), title)
    });
    let status = if m.superseded_by.is_some() {
        "已被替代，仅供查阅。".to_string()
    } else if m.effective_from > today {
        format!("尚未施行（{} 起施行）。", m.effective_from)
    } else if m.effective_to.is_some_and(|e| e < today) {
        "已失效，仅供查阅。".to_string()
    } else {
        "现行有效。".to_string()
    };
    let mut facts = vec![
        ("类别", m.kind.label().to_string()),
        ("发布机关", m.issuing_body.clone()),
        ("适用范围", m.region.clone()),
        ("施行日期", m.effective_from.to_string()),
    ];
    if let Some(n) = &m.doc_no {
        facts.insert(1, ("文号", n.clone()));
    }
    if let Some(d) = m.issued_on {
        facts.push(("成文日期", d.to_string()));
    }
    if let Some(t) = &m.item_type {
        facts.push(("事项类型", t.clone()));
    }
    if let Some(e) = m.effective_to {
        facts.push(("失效日期", e.to_string()));
    }
    let page = DocPage {
        css: CSS,
        elder: elder_from_cookie(&headers),
        title: m.title.clone(),
        status,
        successor,
        facts,
        body: markdown(&doc.body),
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "kb.html")]
struct KbList {
    css: &'static str,
    elder: bool,
    groups: Vec<(&'static str, Vec<KbEntry>)>,
}

/// A document in the list: id, title, issuing body.
type KbEntry = (String, String, String);

/// `GET /kb`: every document in force, by kind.
pub async fn kb_list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let index = state.assistant.index.get();
    let today = chrono::Local::now().date_naive();
    let groups = [
        DocKind::LifeEvent,
        DocKind::Guide,
        DocKind::Policy,
        DocKind::Faq,
    ]
    .into_iter()
    .map(|k| {
        let docs = index
            .catalog
            .documents
            .iter()
            .filter(|d| d.meta.kind == k && d.meta.in_force_on(today))
            .map(|d| {
                (
                    d.meta.id.to_string(),
                    d.meta.title.clone(),
                    d.meta.doc_no.clone().unwrap_or_default(),
                )
            })
            .collect();
        (k.label(), docs)
    })
    .collect();
    render(&KbList {
        css: CSS,
        elder: elder_from_cookie(&headers),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_in_documents_is_shown_as_text() {
        let html = markdown("## 标题\n<script>alert(1)</script>\n\n文字<b>粗</b>");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<h2>标题</h2>"));
    }

    #[test]
    fn only_allowed_link_schemes_survive() {
        let html = markdown(
            "[办事指南](https://zwfw.example.gov.cn/a) [同目录](other-guide) [来信](mailto:a@b.cn) \
             [热线](tel:12345) [坏](javascript:alert(1)) [也坏](JaVaScRiPt:alert(2)) \
             [藏](java%0Ascript:x) [数据](data:text/html;base64,PHNjcmlwdD4=) \
             <javascript:alert(3)> ![图](vbscript:msgbox) [空白]( \tjavascript:alert(4))",
        );
        for good in [
            "href=\"https://zwfw.example.gov.cn/a\"",
            "href=\"other-guide\"",
            "href=\"mailto:a@b.cn\"",
            "href=\"tel:12345\"",
        ] {
            assert!(html.contains(good), "{good} kept: {html}");
        }
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(!html.contains("href=\"JaVaScRiPt"), "{html}");
        assert!(!html.contains("href=\"data:"), "{html}");
        assert!(!html.contains("src=\"vbscript"), "{html}");
        assert_eq!(html.matches("<a ").count(), 4, "{html}");
        assert!(!html.contains("<img"), "{html}");
        // The text of a dropped link stays readable.
        assert!(
            html.contains("坏") && html.contains("数据") && html.contains("图"),
            "{html}"
        );
        assert!(allowed_link("/kb/id-card-renewal#材料"));
        assert!(allowed_link("?s=1"));
        assert!(!allowed_link(" \u{1}javascript:alert(1)"));
        assert!(!allowed_link("java\tscript:alert(1)"));
    }

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(
            url_encode("身份证 a&b"),
            "%E8%BA%AB%E4%BB%BD%E8%AF%81%20a%26b"
        );
    }
}
