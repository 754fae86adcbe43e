//! End-to-end tests of the JSON API against the real server on a random port, on SQLite and
//! (when configured) PostgreSQL.

use crate::common;

use common::{client, databases, start};
use serde_json::{Value, json};

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, String, Value) {
    let r = c.post(url).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, ctype, v)
}

#[tokio::test]
async fn chat_answers_with_citations_and_follow_ups_stay_on_topic() {
    for db in databases() {
        let s = start(db).await;
        let c = client();
        let (status, _, v) = post(
            &c,
            s.url("/api/v1/chat"),
            json!({"question": "身份证到期换领怎么办理"}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["outcome"], "answered");
        assert_eq!(v["mode"], "extractive");
        assert_eq!(v["citations"][0]["doc_id"], "id-card-renewal");
        assert_eq!(v["citations"][0]["url"], "/kb/id-card-renewal");
        assert_eq!(v["citations"][0]["effective_from"], "2024-01-01");
        assert!(
            v["answer"].as_str().unwrap().contains("居民户口簿"),
            "materials listed: {v}"
        );
        let sid = v["session_id"].as_str().unwrap().to_string();
        assert_eq!(sid.len(), 32);

        // A follow-up is about the item under discussion.
        let (status, _, v) = post(
            &c,
            s.url("/api/v1/chat"),
            json!({"question": "这个收多少钱？", "session_id": sid}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(v["outcome"], "answered");
        assert_eq!(v["citations"][0]["doc_id"], "id-card-renewal");
        assert!(v["answer"].as_str().unwrap().contains("20元"), "{v}");
        assert_eq!(v["session_id"], sid);
        s.stop().await;
    }
}

#[tokio::test]
async fn clarify_handoff_and_out_of_scope() {
    let s = start(None).await;
    let c = client();
    // The materials depend on the situation: what every situation needs, with the situations
    // as choices (issue 10: ask back only when nothing is shared).
    let (_, _, v) = post(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "申请护照需带哪些证件"}),
    )
    .await;
    assert_eq!(v["outcome"], "answered", "{v}");
    assert!(
        v["answer"]
            .as_str()
            .unwrap()
            .contains("各种情形都需要的材料"),
        "{v}"
    );
    assert!(v["choices"].as_array().unwrap().len() >= 2);
    let sid = v["session_id"].as_str().unwrap().to_string();
    let (_, _, v) = post(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "第一种", "session_id": sid}),
    )
    .await;
    assert_eq!(v["outcome"], "answered", "{v}");
    assert_eq!(v["citations"][0]["doc_id"], "passport");

    let (_, _, v) = post(&c, s.url("/api/v1/chat"), json!({"question": "我要转人工"})).await;
    assert_eq!(v["outcome"], "handoff");
    let (_, _, v) = post(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "我的申请进度怎么样"}),
    )
    .await;
    assert_eq!(v["outcome"], "handoff");
    for q in [
        "今天天气如何",
        "孩子发烧吃什么药",
        "推荐一只股票",
        "量子计算机的原理",
    ] {
        let (_, _, v) = post(&c, s.url("/api/v1/chat"), json!({"question": q})).await;
        assert_eq!(v["outcome"], "out_of_scope", "{q}: {v}");
        assert!(v["citations"].as_array().unwrap().is_empty());
        assert!(v["answer"].as_str().unwrap().contains("12345"));
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_are_problem_reports_in_chinese() {
    let s = start(None).await;
    let c = client();
    let (status, ctype, v) = post(&c, s.url("/api/v1/chat"), json!({"question": "   "})).await;
    assert_eq!((status, ctype.as_str()), (422, "application/problem+json"));
    assert_eq!(v["type"], "/problems/empty-question");
    assert_eq!(v["status"], 422);
    assert!(v["detail"].as_str().unwrap().contains("不能为空"));

    let long = "问".repeat(501);
    let (status, _, v) = post(&c, s.url("/api/v1/chat"), json!({"question": long})).await;
    assert_eq!(status, 422);
    assert_eq!(v["type"], "/problems/question-too-long");
    assert!(v["detail"].as_str().unwrap().contains("500"));
    // Counted as sent, as the OpenAPI document's maxLength says: a line break after 500
    // characters makes 501.
    let padded = format!("{}\n", "问".repeat(500));
    let (status, _, v) = post(&c, s.url("/api/v1/chat"), json!({"question": padded})).await;
    assert_eq!(status, 422);
    assert_eq!(v["type"], "/problems/question-too-long");

    let (status, _, v) = post(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "社保卡", "session_id": "0123456789abcdef0123456789abcdef"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["type"], "/problems/unknown-session");
    let (status, _, _) = post(
        &c,
        s.url("/api/v1/chat"),
        json!({"question": "社保卡", "session_id": "../../etc"}),
    )
    .await;
    assert_eq!(status, 404);

    let r = c
        .post(s.url("/api/v1/chat"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = c
        .post(s.url("/api/v1/chat"))
        .body("question=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .post(s.url("/api/v1/chat"))
        .json(&json!({"q": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let big = "x".repeat(100 * 1024);
    let r = c
        .post(s.url("/api/v1/chat"))
        .json(&json!({"question": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = c.get(s.url("/api/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    let m = common::metrics(&c, &s.url("/metrics")).await;
    assert!(
        m.contains("xiaoban_http_problems_total{status=\"422\",kind=\"empty-question\"} 1"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test]
async fn streamed_chat_sends_deltas_then_the_whole_reply() {
    let s = start(None).await;
    let r = client()
        .post(s.url("/api/v1/chat/stream"))
        .json(&json!({"question": "去外省看病备案几天办好"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = r.text().await.unwrap();
    let mut text = String::new();
    let mut done = None;
    for event in body.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let name = event
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap();
        let data: Value = serde_json::from_str(
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap(),
        )
        .unwrap();
        match name {
            "delta" => text.push_str(data["text"].as_str().unwrap()),
            "done" => done = Some(data),
            other => panic!("unexpected event {other}"),
        }
    }
    let done = done.expect("a done event");
    assert_eq!(done["answer"].as_str().unwrap(), text);
    assert_eq!(done["outcome"], "answered");
    assert_eq!(done["citations"][0]["doc_id"], "medical-care-elsewhere");
    // Errors before the stream starts are problem reports, as for /chat.
    let r = client()
        .post(s.url("/api/v1/chat/stream"))
        .json(&json!({"question": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    s.stop().await;
}

#[tokio::test]
async fn feedback_is_recorded_per_reply() {
    for db in databases() {
        let s = start(db).await;
        let c = client();
        let (_, _, v) = post(
            &c,
            s.url("/api/v1/chat"),
            json!({"question": "身份证到期换领怎么办理"}),
        )
        .await;
        let reply = v["reply_id"].as_str().unwrap().to_string();
        let (status, _, v) = post(
            &c,
            s.url("/api/v1/feedback"),
            json!({"reply_id": reply, "helpful": false, "comment": "没说清楚能不能在外地换"}),
        )
        .await;
        assert_eq!((status, &v["recorded"]), (200, &json!(true)));
        let (status, _, v) = post(
            &c,
            s.url("/api/v1/feedback"),
            json!({"reply_id": "nope", "helpful": true}),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(v["type"], "/problems/unknown-reply");
        let (status, _, _) = post(
            &c,
            s.url("/api/v1/feedback"),
            json!({"reply_id": reply, "helpful": true, "comment": "长".repeat(1001)}),
        )
        .await;
        assert_eq!(status, 422);
        // As sent, white space included (the document's maxLength 1000).
        let (status, _, _) = post(
            &c,
            s.url("/api/v1/feedback"),
            json!({"reply_id": reply, "helpful": true, "comment": format!("{} ", "长".repeat(1000))}),
        )
        .await;
        assert_eq!(status, 422);
        let m = common::metrics(&c, &s.url("/metrics")).await;
        assert!(
            m.contains("xiaoban_feedback_total{helpful=\"false\"} 1"),
            "{m}"
        );
        assert!(
            m.contains("xiaoban_chat_replies_total{outcome=\"answered\",mode=\"extractive\"} 1"),
            "{m}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let s = start(None).await;
    let c = client();
    let h: Value = c
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["database"], "ok");
    assert!(h["documents"].as_u64().unwrap() >= 45);
    assert!(h["passages"].as_u64().unwrap() > h["documents"].as_u64().unwrap());
    assert_eq!(h["answer_mode"], "extractive");
    let m = common::metrics(&c, &s.url("/metrics")).await;
    assert!(m.contains("xiaoban_index_documents"));
    let doc: Value = c
        .get(s.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/chat",
        "/api/v1/chat/stream",
        "/api/v1/feedback",
        "/healthz",
        "/metrics",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} documented");
    }
    assert!(doc["components"]["schemas"]["ChatResponse"]["properties"]["citations"].is_object());
    s.stop().await;
}
